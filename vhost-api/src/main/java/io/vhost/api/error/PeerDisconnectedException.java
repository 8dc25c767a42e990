package io.vhost.api.error;

/**
 * The peer closed the connection, possibly in the middle of a message. Reconnect and replay the set-up to continue.
 */
public final class PeerDisconnectedException extends VhostException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception with the default recovery, {@link Recovery#RECONNECT}.
     *
     * @param message what happened and what to do
     */
    public PeerDisconnectedException(String message) {
        super(message, null, Recovery.RECONNECT);
    }

    /**
     * Creates the exception with a cause and the default recovery, {@link Recovery#RECONNECT}.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause
     */
    public PeerDisconnectedException(String message, Throwable cause) {
        super(message, cause, Recovery.RECONNECT);
    }

    /**
     * Creates the exception with an explicit recovery policy.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause, or {@code null}
     * @param recovery what the caller can do about it
     */
    public PeerDisconnectedException(String message, Throwable cause, Recovery recovery) {
        super(message, cause, recovery);
    }
}
