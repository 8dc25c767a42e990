package io.vhost.api;

/**
 * An owned file descriptor: exactly one {@code Fd} owns a descriptor number at a time and closes it once.
 *
 * <p>Ownership moves only by {@link #take()}, which returns a new owner and leaves this one empty (closing an
 * empty owner does nothing). Never copy the number out and close it elsewhere. {@link #close()} is idempotent and
 * thread-safe; after it, {@link #number()} throws {@link IllegalStateException} naming the descriptor's role.
 *
 * <p>Received descriptors (for example the kick eventfd of {@code SET_VRING_KICK}) reach a handler as {@code Fd}s;
 * a handler that keeps one must {@link #take()} it, otherwise the library closes it when the request is done.
 */
public interface Fd extends AutoCloseable {

    /**
     * Returns the descriptor number, for passing to a system call while this owner stays open.
     *
     * @return the descriptor number, {@code >= 0}
     * @throws IllegalStateException if this owner was closed or its descriptor was taken
     */
    int number();

    /**
     * Tells whether this owner still owns an open descriptor.
     *
     * @return {@code true} until {@link #close()} or {@link #take()}
     */
    boolean isOpen();

    /**
     * Describes what the descriptor is for, as used in error messages ("kick eventfd of queue 2").
     *
     * @return a short human-readable role, never {@code null}
     */
    String role();

    /**
     * Moves ownership to a new {@code Fd}; this owner becomes empty without closing the descriptor.
     *
     * @return the new owner of the same descriptor
     * @throws IllegalStateException if this owner was already closed or taken
     */
    Fd take();

    /**
     * Moves ownership to a new {@code Fd} with another role.
     *
     * @param newRole the role of the new owner
     * @return the new owner of the same descriptor
     * @throws IllegalStateException if this owner was already closed or taken
     */
    Fd take(String newRole);

    /** Closes the descriptor once; later calls do nothing. Errors from {@code close(2)} are logged, not thrown. */
    @Override
    void close();
}
