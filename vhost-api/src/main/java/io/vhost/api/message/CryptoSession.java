package io.vhost.api.message;

import java.util.Arrays;
import java.util.Objects;

/**
 * The crypto session description of {@code CREATE_CRYPTO_SESSION} (request and reply). The specification does not
 * define its layout beyond QEMU's {@code VhostUserCryptoSession}: an i64 session id (set by the back-end in the reply,
 * negative on error) followed by device-defined setup data (algorithm parameters and keys). This library keeps the
 * setup data opaque and bounded.
 *
 * @param sessionId the session id
 * @param setup the opaque setup data, at most {@link #MAX_SETUP_BYTES}
 */
public record CryptoSession(long sessionId, byte[] setup) {

    /** The most setup bytes accepted (the body is bounded to 4096 bytes). */
    public static final int MAX_SETUP_BYTES = 4096 - 8;

    /** Checks the bound and copies the data. */
    public CryptoSession {
        Objects.requireNonNull(setup, "setup");
        if (setup.length > MAX_SETUP_BYTES) {
            throw new IllegalArgumentException("crypto session setup " + setup.length + " bytes exceeds "
                    + MAX_SETUP_BYTES);
        }
        setup = setup.clone();
    }

    /**
     * Returns a copy of the setup data.
     *
     * @return the opaque bytes
     */
    @Override
    public byte[] setup() {
        return setup.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CryptoSession c && c.sessionId == sessionId && Arrays.equals(c.setup, setup);
    }

    @Override
    public int hashCode() {
        return Objects.hash(sessionId, Arrays.hashCode(setup));
    }

    @Override
    public String toString() {
        return "CryptoSession[id=" + sessionId + ", setup=" + setup.length + " bytes]";
    }
}
