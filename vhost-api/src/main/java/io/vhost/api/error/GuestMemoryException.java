package io.vhost.api.error;

/**
 * A guest-physical or front-end address, a descriptor or a length does not fit in the mapped guest memory, or a descriptor chain is malformed (a loop, an index out of range). The affected ring is marked broken; other rings keep running.
 */
public final class GuestMemoryException extends VhostException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception with the default recovery, {@link Recovery#FAIL}.
     *
     * @param message what happened and what to do
     */
    public GuestMemoryException(String message) {
        super(message, null, Recovery.FAIL);
    }

    /**
     * Creates the exception with a cause and the default recovery, {@link Recovery#FAIL}.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause
     */
    public GuestMemoryException(String message, Throwable cause) {
        super(message, cause, Recovery.FAIL);
    }

    /**
     * Creates the exception with an explicit recovery policy.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause, or {@code null}
     * @param recovery what the caller can do about it
     */
    public GuestMemoryException(String message, Throwable cause, Recovery recovery) {
        super(message, cause, recovery);
    }
}
