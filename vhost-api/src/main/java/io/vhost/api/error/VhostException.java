package io.vhost.api.error;

import java.io.IOException;
import java.util.Objects;

/**
 * Base of every checked failure raised by vhost-java. The message names the request or system call, the values
 * involved, the limit that was broken and the consequence.
 */
public abstract sealed class VhostException extends IOException
        permits ProtocolViolationException, FeatureNotNegotiatedException, PeerDisconnectedException,
                RequestRejectedException, GuestMemoryException, NativeCallException {

    private static final long serialVersionUID = 1L;

    private final Recovery recovery;

    /**
     * Creates an exception.
     *
     * @param message what happened and what to do
     * @param cause the underlying cause, or {@code null}
     * @param recovery what the caller can do about it
     */
    protected VhostException(String message, Throwable cause, Recovery recovery) {
        super(message, cause);
        this.recovery = Objects.requireNonNull(recovery, "recovery");
    }

    /**
     * Tells the caller whether to retry, reconnect or give up.
     *
     * @return the recovery policy for this failure
     */
    public Recovery recovery() {
        return recovery;
    }
}
