package io.vhost.api.error;

/**
 * A request needs a virtio or protocol feature that was not negotiated on this connection (for example GET_QUEUE_NUM without MQ).
 */
public final class FeatureNotNegotiatedException extends VhostException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception with the default recovery, {@link Recovery#FAIL}.
     *
     * @param message what happened and what to do
     */
    public FeatureNotNegotiatedException(String message) {
        super(message, null, Recovery.FAIL);
    }

    /**
     * Creates the exception with a cause and the default recovery, {@link Recovery#FAIL}.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause
     */
    public FeatureNotNegotiatedException(String message, Throwable cause) {
        super(message, cause, Recovery.FAIL);
    }

    /**
     * Creates the exception with an explicit recovery policy.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause, or {@code null}
     * @param recovery what the caller can do about it
     */
    public FeatureNotNegotiatedException(String message, Throwable cause, Recovery recovery) {
        super(message, cause, recovery);
    }
}
