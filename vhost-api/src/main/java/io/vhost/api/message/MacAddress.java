package io.vhost.api.message;

/**
 * The MAC of {@code SEND_RARP}: bytes 0-5 of the u64 payload, in wire (transmission) order; bytes 6-7 are zero.
 *
 * @param bits the 48-bit MAC, byte 0 of the wire in bits 0-7
 */
public record MacAddress(long bits) {
    /** Checks only the low 48 bits are set. */
    public MacAddress {
        if ((bits & ~0xFFFF_FFFF_FFFFL) != 0) {
            throw new IllegalArgumentException("SEND_RARP u64 " + Check.hex(bits) + " has non-zero bytes 6-7");
        }
    }

    /**
     * Returns the MAC byte at a position.
     *
     * @param i 0..5
     * @return the byte
     */
    public int octet(int i) {
        java.util.Objects.checkIndex(i, 6);
        return (int) (bits >>> (8 * i)) & 0xFF;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            sb.append(i == 0 ? "" : ":").append(String.format("%02x", octet(i)));
        }
        return sb.toString();
    }
}
