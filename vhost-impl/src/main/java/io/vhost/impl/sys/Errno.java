package io.vhost.impl.sys;

import io.vhost.api.error.NativeCallException;
import io.vhost.api.error.Recovery;

/**
 * Linux errno values (x86-64 and aarch64 share them): names, meanings and the exception for a failed call.
 */
public final class Errno {

    /** Operation not permitted. */
    public static final int EPERM = 1;
    /** No such file or directory. */
    public static final int ENOENT = 2;
    /** Interrupted system call. */
    public static final int EINTR = 4;
    /** Bad file descriptor. */
    public static final int EBADF = 9;
    /** Resource temporarily unavailable (EWOULDBLOCK). */
    public static final int EAGAIN = 11;
    /** File exists. */
    public static final int EEXIST = 17;
    /** Invalid argument. */
    public static final int EINVAL = 22;
    /** Broken pipe. */
    public static final int EPIPE = 32;
    /** Function not implemented (a system call this kernel does not have). */
    public static final int ENOSYS = 38;
    /** Socket operation on non-socket. */
    public static final int ENOTSOCK = 88;
    /** Address already in use. */
    public static final int EADDRINUSE = 98;
    /** Software caused connection abort (a connection aborted before accept returned it). */
    public static final int ECONNABORTED = 103;
    /** Connection reset by peer. */
    public static final int ECONNRESET = 104;
    /** Transport endpoint is not connected. */
    public static final int ENOTCONN = 107;
    /** Connection refused. */
    public static final int ECONNREFUSED = 111;
    /** Operation now in progress. */
    public static final int EINPROGRESS = 115;

    private static final String[][] TABLE = new String[134][];

    static {
        define(1, "EPERM", "operation not permitted");
        define(2, "ENOENT", "no such file or directory");
        define(3, "ESRCH", "no such process");
        define(4, "EINTR", "interrupted system call");
        define(5, "EIO", "input/output error");
        define(6, "ENXIO", "no such device or address");
        define(7, "E2BIG", "argument list too long");
        define(8, "ENOEXEC", "exec format error");
        define(9, "EBADF", "bad file descriptor");
        define(10, "ECHILD", "no child processes");
        define(11, "EAGAIN", "resource temporarily unavailable");
        define(12, "ENOMEM", "cannot allocate memory");
        define(13, "EACCES", "permission denied");
        define(14, "EFAULT", "bad address");
        define(16, "EBUSY", "device or resource busy");
        define(17, "EEXIST", "file exists");
        define(18, "EXDEV", "invalid cross-device link");
        define(19, "ENODEV", "no such device");
        define(20, "ENOTDIR", "not a directory");
        define(21, "EISDIR", "is a directory");
        define(22, "EINVAL", "invalid argument");
        define(23, "ENFILE", "too many open files in system");
        define(24, "EMFILE", "too many open files in this process");
        define(25, "ENOTTY", "inappropriate ioctl for device");
        define(26, "ETXTBSY", "text file busy");
        define(27, "EFBIG", "file too large");
        define(28, "ENOSPC", "no space left on device");
        define(29, "ESPIPE", "illegal seek");
        define(30, "EROFS", "read-only file system");
        define(31, "EMLINK", "too many links");
        define(32, "EPIPE", "the peer closed the connection");
        define(34, "ERANGE", "result out of range");
        define(36, "ENAMETOOLONG", "file name too long");
        define(38, "ENOSYS", "function not implemented");
        define(39, "ENOTEMPTY", "directory not empty");
        define(40, "ELOOP", "too many levels of symbolic links");
        define(61, "ENODATA", "no data available");
        define(62, "ETIME", "timer expired");
        define(75, "EOVERFLOW", "value too large for defined data type");
        define(88, "ENOTSOCK", "not a socket");
        define(90, "EMSGSIZE", "message too long");
        define(91, "EPROTOTYPE", "protocol wrong type for socket");
        define(92, "ENOPROTOOPT", "protocol not available");
        define(93, "EPROTONOSUPPORT", "protocol not supported");
        define(95, "EOPNOTSUPP", "operation not supported");
        define(97, "EAFNOSUPPORT", "address family not supported by protocol");
        define(98, "EADDRINUSE", "address already in use");
        define(99, "EADDRNOTAVAIL", "cannot assign requested address");
        define(103, "ECONNABORTED", "software caused connection abort");
        define(104, "ECONNRESET", "connection reset by peer");
        define(105, "ENOBUFS", "no buffer space available");
        define(106, "EISCONN", "socket is already connected");
        define(107, "ENOTCONN", "socket is not connected");
        define(108, "ESHUTDOWN", "cannot send after socket shutdown");
        define(110, "ETIMEDOUT", "connection timed out");
        define(111, "ECONNREFUSED", "connection refused (nobody listens)");
        define(113, "EHOSTUNREACH", "no route to host");
        define(114, "EALREADY", "operation already in progress");
        define(115, "EINPROGRESS", "operation now in progress");
        define(122, "EDQUOT", "disk quota exceeded");
        define(125, "ECANCELED", "operation canceled");
    }

    private Errno() {
    }

    private static void define(int errno, String name, String meaning) {
        TABLE[errno] = new String[] {name, meaning};
    }

    /**
     * Returns the symbolic name of an errno value.
     *
     * @param errno the value
     * @return for example {@code "EPIPE"}, or {@code "errno 200"} for a value outside the table
     */
    public static String name(int errno) {
        return errno > 0 && errno < TABLE.length && TABLE[errno] != null ? TABLE[errno][0] : "errno " + errno;
    }

    /**
     * Returns a short explanation of an errno value.
     *
     * @param errno the value
     * @return for example {@code "the peer closed the connection"}
     */
    public static String meaning(int errno) {
        return errno > 0 && errno < TABLE.length && TABLE[errno] != null ? TABLE[errno][1] : "unknown error";
    }

    /**
     * Builds the exception for a failed call on one descriptor.
     *
     * @param call the C function, for example {@code "sendmsg"}
     * @param fd the descriptor it was called on
     * @param errno the error
     * @return an exception whose message reads {@code "sendmsg on fd 17 failed: EPIPE (32, the peer closed the connection)"}
     */
    public static NativeCallException failure(String call, int fd, int errno) {
        return failure(call, "on fd " + fd, errno);
    }

    /**
     * Builds the exception for a failed call described by free text.
     *
     * @param call the C function
     * @param detail what it was called on, for example {@code "(ADD, epfd=7, fd=12)"} or {@code "on /run/x.sock"}
     * @param errno the error
     * @return the exception, with recovery RETRY for EAGAIN/EINTR, RECONNECT for connection errors, else FAIL
     */
    public static NativeCallException failure(String call, String detail, int errno) {
        String sep = detail.startsWith("(") ? "" : " ";
        String message = call + sep + detail + " failed: " + name(errno) + " (" + errno + ", " + meaning(errno) + ")";
        return new NativeCallException(message, call, errno, name(errno), recovery(errno));
    }

    private static Recovery recovery(int errno) {
        return switch (errno) {
            case EAGAIN, EINTR -> Recovery.RETRY;
            case EPIPE, ECONNRESET, ENOTCONN, ECONNREFUSED, ECONNABORTED, 108, 110 -> Recovery.RECONNECT;
            default -> Recovery.FAIL;
        };
    }
}
