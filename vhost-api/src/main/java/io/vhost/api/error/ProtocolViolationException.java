package io.vhost.api.error;

/**
 * The peer broke the vhost-user protocol: a malformed header, a bad payload size, a wrong fd count, a reply that does not match its request. The connection is closed or the request refused, as the message says.
 */
public final class ProtocolViolationException extends VhostException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception with the default recovery, {@link Recovery#RECONNECT}.
     *
     * @param message what happened and what to do
     */
    public ProtocolViolationException(String message) {
        super(message, null, Recovery.RECONNECT);
    }

    /**
     * Creates the exception with a cause and the default recovery, {@link Recovery#RECONNECT}.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause
     */
    public ProtocolViolationException(String message, Throwable cause) {
        super(message, cause, Recovery.RECONNECT);
    }

    /**
     * Creates the exception with an explicit recovery policy.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause, or {@code null}
     * @param recovery what the caller can do about it
     */
    public ProtocolViolationException(String message, Throwable cause, Recovery recovery) {
        super(message, cause, recovery);
    }
}
