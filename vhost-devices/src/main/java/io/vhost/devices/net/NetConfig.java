package io.vhost.devices.net;

import java.util.HexFormat;
import java.util.Objects;

/**
 * The part of {@code struct virtio_net_config} the device offers: {@code mac[6]}, {@code status} (le16) and
 * {@code max_virtqueue_pairs} (le16); 10 bytes.
 *
 * @param mac the six MAC address bytes
 * @param status {@link #S_LINK_UP} or 0
 * @param maxQueuePairs the number of queue pairs, 1 to 128
 */
public record NetConfig(byte[] mac, int status, int maxQueuePairs) {

    /** {@code VIRTIO_NET_S_LINK_UP}. */
    public static final int S_LINK_UP = 1;
    /** The encoded size. */
    public static final int SIZE = 10;

    /**
     * Validates the fields.
     *
     * @throws IllegalArgumentException if the MAC is not 6 bytes or a field is out of range
     */
    public NetConfig {
        Objects.requireNonNull(mac, "mac");
        if (mac.length != 6) {
            throw new IllegalArgumentException("MAC address has " + mac.length + " bytes; it must have 6");
        }
        mac = mac.clone();
        if (status < 0 || status > 0xffff) {
            throw new IllegalArgumentException("status " + status + " is not a u16");
        }
        if (maxQueuePairs < 1 || maxQueuePairs > 128) {
            throw new IllegalArgumentException("max_virtqueue_pairs " + maxQueuePairs + " is outside 1..128");
        }
    }

    @Override
    public byte[] mac() {
        return mac.clone();
    }

    /**
     * Parses a MAC address written as six colon-separated hex bytes ({@code 52:54:00:12:34:56}).
     *
     * @param text the address
     * @return the six bytes
     * @throws IllegalArgumentException if malformed
     */
    public static byte[] parseMac(String text) {
        String[] parts = text.split(":", -1);
        if (parts.length != 6) {
            throw new IllegalArgumentException("MAC address " + text + " is not six hex bytes like 52:54:00:12:34:56");
        }
        byte[] mac = new byte[6];
        for (int i = 0; i < 6; i++) {
            if (parts[i].length() != 2) {
                throw new IllegalArgumentException("MAC address " + text + ": byte " + (i + 1) + " is not two hex digits");
            }
            try {
                mac[i] = (byte) HexFormat.fromHexDigits(parts[i]);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("MAC address " + text + ": byte " + (i + 1) + " is not hex", e);
            }
        }
        return mac;
    }

    /**
     * Encodes the fields little-endian as the guest reads them.
     *
     * @return 10 bytes
     */
    public byte[] encode() {
        byte[] b = new byte[SIZE];
        System.arraycopy(mac, 0, b, 0, 6);
        b[6] = (byte) status;
        b[7] = (byte) (status >>> 8);
        b[8] = (byte) maxQueuePairs;
        b[9] = (byte) (maxQueuePairs >>> 8);
        return b;
    }

    @Override
    public String toString() {
        return "NetConfig[mac=" + HexFormat.ofDelimiter(":").formatHex(mac) + ", status=" + status
                + ", maxQueuePairs=" + maxQueuePairs + "]";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NetConfig c && java.util.Arrays.equals(mac, c.mac) && status == c.status
                && maxQueuePairs == c.maxQueuePairs;
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(mac) * 31 + status * 7 + maxQueuePairs;
    }
}
