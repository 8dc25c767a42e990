package io.vhost.impl.transport;

import java.util.Locale;

/** Which implementation a {@link Connection} uses. */
public enum TransportKind {
    /** Raw FFM sockets (the default): non-blocking, safe on virtual threads through the poller. */
    FFM,
    /** junixsocket 2.11 blocking streams: receive only on platform threads. */
    JUNIXSOCKET;

    /** The system property that selects the default kind: {@code -Dvhost.transport=junixsocket}. */
    public static final String PROPERTY = "vhost.transport";

    /**
     * Returns the kind named by {@link #PROPERTY}, or {@link #FFM} when unset.
     *
     * @return the configured default
     * @throws IllegalArgumentException if the property names no kind
     */
    public static TransportKind configured() {
        String value = System.getProperty(PROPERTY);
        if (value == null || value.isBlank()) {
            return FFM;
        }
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + value + " is not one of ffm, junixsocket", e);
        }
    }
}
