package io.vhost.api.error;

/**
 * The peer (or the device) answered a request with a failure: a non-zero REPLY_ACK, an error reply, or a value it does not support.
 */
public final class RequestRejectedException extends VhostException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception with the default recovery, {@link Recovery#FAIL}.
     *
     * @param message what happened and what to do
     */
    public RequestRejectedException(String message) {
        super(message, null, Recovery.FAIL);
    }

    /**
     * Creates the exception with a cause and the default recovery, {@link Recovery#FAIL}.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause
     */
    public RequestRejectedException(String message, Throwable cause) {
        super(message, cause, Recovery.FAIL);
    }

    /**
     * Creates the exception with an explicit recovery policy.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause, or {@code null}
     * @param recovery what the caller can do about it
     */
    public RequestRejectedException(String message, Throwable cause, Recovery recovery) {
        super(message, cause, recovery);
    }
}
