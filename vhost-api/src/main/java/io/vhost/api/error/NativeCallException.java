package io.vhost.api.error;

/**
 * A system call failed. The message names the call, the errno name and number and the descriptor involved, e.g.
 * {@code sendmsg on fd 17 failed: EPIPE (32, the peer closed the connection)}.
 */
public final class NativeCallException extends VhostException {

    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;
    private final String errnoName;

    /**
     * Creates the exception.
     *
     * @param message the full message: call, errno name and number, descriptor, consequence
     * @param call the system call that failed, e.g. {@code "sendmsg"}
     * @param errno the errno value the call left
     * @param errnoName the symbolic errno name, e.g. {@code "EPIPE"}
     * @param recovery what the caller can do about it
     */
    public NativeCallException(String message, String call, int errno, String errnoName, Recovery recovery) {
        super(message, null, recovery);
        this.call = call;
        this.errno = errno;
        this.errnoName = errnoName;
    }

    /**
     * Returns the system call that failed.
     *
     * @return the call name, e.g. {@code "epoll_ctl"}
     */
    public String call() {
        return call;
    }

    /**
     * Returns the errno value.
     *
     * @return the errno the call left
     */
    public int errno() {
        return errno;
    }

    /**
     * Returns the symbolic errno name.
     *
     * @return the errno name, e.g. {@code "EBADF"}
     */
    public String errnoName() {
        return errnoName;
    }
}
