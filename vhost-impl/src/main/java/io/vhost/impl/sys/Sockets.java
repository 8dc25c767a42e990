package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import io.vhost.api.error.NativeCallException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * Unix stream sockets: {@code socket}, {@code socketpair}, {@code bind}, {@code listen}, {@code accept4},
 * {@code connect}, {@code shutdown}, {@code getsockopt}, {@code sendmsg}/{@code recvmsg}.
 *
 * <p>Every socket is created {@code SOCK_CLOEXEC}. {@link #sendmsg} and {@link #recvmsg} return -1 on
 * {@code EAGAIN} so callers on non-blocking sockets can wait through the poller; on blocking sockets they block and
 * must only run on platform threads. For framed messages with descriptors use {@link MessageBuffers}.
 */
public final class Sockets {

    /** {@code AF_UNIX}. */
    public static final int AF_UNIX = 1;
    /** {@code SOCK_STREAM}. */
    public static final int SOCK_STREAM = 1;
    /** {@code SOCK_NONBLOCK}. */
    public static final int SOCK_NONBLOCK = 0x800;
    /** {@code SOCK_CLOEXEC}. */
    public static final int SOCK_CLOEXEC = 0x80000;
    /** {@code SOL_SOCKET}. */
    public static final int SOL_SOCKET = 1;
    /** {@code SCM_RIGHTS}. */
    public static final int SCM_RIGHTS = 1;
    /** {@code SO_TYPE}. */
    public static final int SO_TYPE = 3;
    /** {@code FIONREAD} (also {@code SIOCINQ}): bytes queued for reading. */
    public static final long FIONREAD = 0x541B;
    /** {@code SO_PEERCRED}. */
    public static final int SO_PEERCRED = 17;
    /** {@code SO_RCVTIMEO} (the {@code struct timeval} form of x86-64, {@code SO_RCVTIMEO_OLD}). */
    public static final int SO_RCVTIMEO = 20;
    /** {@code SO_ACCEPTCONN}. */
    public static final int SO_ACCEPTCONN = 30;
    /** {@code SO_DOMAIN}. */
    public static final int SO_DOMAIN = 39;
    /** {@code MSG_CTRUNC}. */
    public static final int MSG_CTRUNC = 0x8;
    /** {@code MSG_DONTWAIT}. */
    public static final int MSG_DONTWAIT = 0x40;
    /** {@code MSG_NOSIGNAL}. */
    public static final int MSG_NOSIGNAL = 0x4000;
    /** {@code MSG_CMSG_CLOEXEC}. */
    public static final int MSG_CMSG_CLOEXEC = 0x40000000;
    /** {@code SHUT_RD}. */
    public static final int SHUT_RD = 0;
    /** {@code SHUT_WR}. */
    public static final int SHUT_WR = 1;
    /** {@code SHUT_RDWR}. */
    public static final int SHUT_RDWR = 2;
    /** The longest path {@code sun_path} holds, without its terminating NUL. */
    public static final int MAX_PATH_BYTES = 107;

    private static final MethodHandle SOCKET =
            Libc.downcall("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SOCKETPAIR =
            Libc.downcall("socketpair", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle BIND =
            Libc.downcall("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT =
            Libc.downcall("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN =
            Libc.downcall("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 =
            Libc.downcall("accept4", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle SHUTDOWN =
            Libc.downcall("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle GETSOCKOPT = Libc.downcall("getsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SETSOCKOPT = Libc.downcall("setsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    // The msghdr and the buffers go to the kernel by address (a long), not as segments: a segment of a shared arena
    // would be acquired and released around every call, two atomic operations (see send).
    private static final MethodHandle SENDMSG =
            Libc.syscall("sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    // sendto(fd, buf, len, flags, NULL, 0)
    private static final MethodHandle SENDTO = Libc.syscall("sendto",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle RECVMSG =
            Libc.syscall("recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));

    private Sockets() {
    }

    /**
     * Creates a unix stream socket.
     *
     * @param flags {@link #SOCK_NONBLOCK} or 0 ({@code SOCK_CLOEXEC} is always added)
     * @param role what it is for
     * @return the owned socket
     * @throws NativeCallException if it fails
     */
    public static OwnedFd socket(int flags, String role) throws NativeCallException {
        CallState cs = CallState.current();
        int fd;
        try {
            fd = (int) SOCKET.invokeExact(cs.errnoSegment, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (fd < 0) {
            throw Errno.failure("socket", "(AF_UNIX, SOCK_STREAM) for " + role, cs.errno());
        }
        return OwnedFd.of(fd, role);
    }

    /**
     * Creates a connected pair of unix stream sockets.
     *
     * @param flags {@link #SOCK_NONBLOCK} or 0
     * @param role what the pair is for; the ends are named "... end 0" and "... end 1"
     * @return both ends, owned by the caller
     * @throws NativeCallException if it fails
     */
    public static OwnedFd[] socketPair(int flags, String role) throws NativeCallException {
        CallState cs = CallState.current();
        MemorySegment fds = cs.scratch();
        int r;
        try {
            r = (int) SOCKETPAIR.invokeExact(cs.errnoSegment, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0, fds);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            throw Errno.failure("socketpair", "(AF_UNIX, SOCK_STREAM) for " + role, cs.errno());
        }
        return new OwnedFd[] {
            OwnedFd.of(fds.get(JAVA_INT, 0), role + " end 0"), OwnedFd.of(fds.get(JAVA_INT, 4), role + " end 1")
        };
    }

    /**
     * Binds a socket to a filesystem path.
     *
     * @param fd the socket
     * @param path the path (at most {@link #MAX_PATH_BYTES} bytes in UTF-8)
     * @throws NativeCallException if bind fails (EADDRINUSE when the path exists)
     */
    public static void bind(int fd, String path) throws NativeCallException {
        CallState cs = CallState.current();
        MemorySegment address = sockaddr(cs, path);
        int r;
        try {
            r = (int) BIND.invokeExact(cs.errnoSegment, fd, address, addressLength(path));
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            throw Errno.failure("bind", "on fd " + fd + " to " + path, cs.errno());
        }
    }

    /**
     * Connects a socket to a path. A non-blocking socket whose listener's backlog is full gets {@code EAGAIN},
     * reported here as an exception with recovery RETRY.
     *
     * @param fd the socket
     * @param path the listener's path
     * @throws NativeCallException if connect fails (ENOENT: no such path; ECONNREFUSED: nobody listens)
     */
    public static void connect(int fd, String path) throws NativeCallException {
        CallState cs = CallState.current();
        MemorySegment address = sockaddr(cs, path);
        try {
            while (true) {
                int r = (int) CONNECT.invokeExact(cs.errnoSegment, fd, address, addressLength(path));
                if (r == 0) {
                    return;
                }
                if (cs.errno() != Errno.EINTR) {
                    throw Errno.failure("connect", "on fd " + fd + " to " + path, cs.errno());
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
    }

    /**
     * Marks a bound socket as listening.
     *
     * @param fd the socket
     * @param backlog the queue length
     * @throws NativeCallException if it fails
     */
    public static void listen(int fd, int backlog) throws NativeCallException {
        CallState cs = CallState.current();
        int r;
        try {
            r = (int) LISTEN.invokeExact(cs.errnoSegment, fd, backlog);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            throw Errno.failure("listen", fd, cs.errno());
        }
    }

    /**
     * Accepts one connection ({@code SOCK_CLOEXEC} plus {@code flags}).
     *
     * @param fd the listening socket
     * @param flags {@link #SOCK_NONBLOCK} or 0
     * @param role the role of the accepted socket
     * @return the accepted socket, or {@code null} if the listener is non-blocking and nothing is pending
     * @throws NativeCallException if accept fails
     */
    public static OwnedFd accept(int fd, int flags, String role) throws NativeCallException {
        CallState cs = CallState.current();
        try {
            while (true) {
                int r = (int) ACCEPT4.invokeExact(cs.errnoSegment, fd, MemorySegment.NULL, MemorySegment.NULL,
                        SOCK_CLOEXEC | flags);
                if (r >= 0) {
                    return OwnedFd.of(r, role);
                }
                int errno = cs.errno();
                if (errno == Errno.EAGAIN) {
                    return null;
                }
                if (errno != Errno.EINTR && errno != Errno.ECONNABORTED /* retry */) {
                    throw Errno.failure("accept4", fd, errno);
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
    }

    /**
     * Shuts a socket down; {@code ENOTCONN} (peer already gone) is ignored.
     *
     * @param fd the socket
     * @param how {@link #SHUT_RD}, {@link #SHUT_WR} or {@link #SHUT_RDWR}
     * @throws NativeCallException on other errors
     */
    public static void shutdown(int fd, int how) throws NativeCallException {
        CallState cs = CallState.current();
        int r;
        try {
            r = (int) SHUTDOWN.invokeExact(cs.errnoSegment, fd, how);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0 && cs.errno() != Errno.ENOTCONN) {
            throw Errno.failure("shutdown", fd, cs.errno());
        }
    }

    /**
     * Reads an int socket option.
     *
     * @param fd the socket
     * @param level the level, usually {@link #SOL_SOCKET}
     * @param option the option, for example {@link #SO_ACCEPTCONN}
     * @return the value
     * @throws NativeCallException if it fails (ENOTSOCK for a non-socket)
     */
    public static int getIntOption(int fd, int level, int option) throws NativeCallException {
        CallState cs = CallState.current();
        MemorySegment buf = cs.scratch();
        buf.set(JAVA_INT, 8, 4);
        int r;
        try {
            r = (int) GETSOCKOPT.invokeExact(cs.errnoSegment, fd, level, option, buf, buf.asSlice(8, 4));
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            throw Errno.failure("getsockopt", "(fd=" + fd + ", option=" + option + ")", cs.errno());
        }
        return buf.get(JAVA_INT, 0);
    }

    /**
     * Sets {@code SO_RCVTIMEO}: a receive that blocks (no {@link #MSG_DONTWAIT}, blocking socket) returns
     * {@code EAGAIN} after about this long. The kernel rounds the time up to whole scheduler ticks.
     *
     * @param fd the socket
     * @param timeoutNanos the timeout, at least 1 µs; 0 means none (block for ever)
     * @throws NativeCallException if it fails
     */
    public static void setReceiveTimeout(int fd, long timeoutNanos) throws NativeCallException {
        if (timeoutNanos < 0 || (timeoutNanos > 0 && timeoutNanos < 1_000)) {
            throw new IllegalArgumentException("receive timeout " + timeoutNanos + " ns must be 0 or at least 1 µs");
        }
        CallState cs = CallState.current();
        MemorySegment tv = cs.scratch();
        long micros = timeoutNanos / 1_000;
        tv.set(JAVA_LONG, Structs.TIMEVAL_SEC, micros / 1_000_000);
        tv.set(JAVA_LONG, Structs.TIMEVAL_USEC, micros % 1_000_000);
        int r;
        try {
            r = (int) SETSOCKOPT.invokeExact(cs.errnoSegment, fd, SOL_SOCKET, SO_RCVTIMEO, tv,
                    (int) Structs.TIMEVAL.byteSize());
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            throw Errno.failure("setsockopt", "(fd=" + fd + ", SO_RCVTIMEO)", cs.errno());
        }
    }

    /**
     * Reads {@code SO_PEERCRED}.
     *
     * @param fd a connected unix socket
     * @return the peer's pid, uid and gid
     * @throws NativeCallException if it fails
     */
    public static PeerCredentials peerCredentials(int fd) throws NativeCallException {
        CallState cs = CallState.current();
        MemorySegment buf = cs.scratch();
        long size = Structs.UCRED.byteSize();
        buf.set(JAVA_INT, 16, (int) size);
        int r;
        try {
            r = (int) GETSOCKOPT.invokeExact(cs.errnoSegment, fd, SOL_SOCKET, SO_PEERCRED, buf, buf.asSlice(16, 4));
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            throw Errno.failure("getsockopt", "(fd=" + fd + ", SO_PEERCRED)", cs.errno());
        }
        return new PeerCredentials(buf.get(JAVA_INT, Structs.UCRED_PID), buf.get(JAVA_INT, Structs.UCRED_UID),
                buf.get(JAVA_INT, Structs.UCRED_GID));
    }

    /**
     * Calls {@code sendmsg} once, retrying {@code EINTR}; {@code MSG_NOSIGNAL} is always added. The {@code msghdr} goes
     * to the kernel by address, as the buffers it points to do: its arena, and theirs, must stay open during the call.
     *
     * @param fd the socket
     * @param msghdr a filled {@code struct msghdr} in native memory
     * @param flags extra flags
     * @return bytes sent, or -1 on {@code EAGAIN}
     * @throws NativeCallException on other errors (EPIPE when the peer closed)
     * @throws IllegalArgumentException if {@code msghdr} is not a native {@code msghdr}
     */
    public static long sendmsg(int fd, MemorySegment msghdr, int flags) throws NativeCallException {
        return msghdrCall(SENDMSG, "sendmsg", fd, msghdr, flags | MSG_NOSIGNAL);
    }

    /**
     * Sends bytes {@code [offset, offset + length)} of a native segment with one {@code sendto} (no address), retrying
     * {@code EINTR}; {@code MSG_NOSIGNAL} is always added. For a message without descriptors this is cheaper than
     * {@link #sendmsg}: the kernel has no {@code msghdr} and {@code iovec} to copy in (about 45 ns less per call,
     * measured on a unix socket pair).
     *
     * <p>The segment is passed to the kernel by address: its arena must stay open during the call (an explicitly
     * closed arena is the caller's to order after it; a segment argument would make every call acquire and release a
     * shared arena's session, two atomic operations, which the round-trip benchmarks measured).
     *
     * @param fd the socket
     * @param data native bytes
     * @param offset where the bytes start in {@code data}
     * @param length how many to send
     * @param flags extra flags ({@link #MSG_DONTWAIT})
     * @return bytes sent, or -1 on {@code EAGAIN}
     * @throws NativeCallException on other errors (EPIPE when the peer closed)
     * @throws IllegalArgumentException if {@code data} is not native memory
     * @throws IndexOutOfBoundsException if the range is not inside {@code data}
     */
    public static long send(int fd, MemorySegment data, long offset, long length, int flags)
            throws NativeCallException {
        long address = bufferAddress(data, offset, length);
        CallState cs = CallState.current();
        try {
            while (true) {
                long result = (long) SENDTO.invokeExact(cs.errnoSegment, fd, address, length, flags | MSG_NOSIGNAL,
                        0L, 0);
                long n = cs.countOrEagain(result, "sendto", fd);
                if (n != CallState.RETRY) {
                    return n;
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        } finally {
            Reference.reachabilityFence(data);
        }
    }

    /**
     * Calls {@code recvmsg} once, retrying {@code EINTR}. The {@code msghdr} goes to the kernel by address, as the
     * buffers it points to do: its arena, and theirs, must stay open during the call.
     *
     * @param fd the socket
     * @param msghdr a filled {@code struct msghdr} in native memory; the kernel updates its {@code msg_controllen} and
     *     {@code msg_flags}
     * @param flags flags, for example {@link #MSG_CMSG_CLOEXEC}
     * @return bytes received, 0 at end of stream, or -1 on {@code EAGAIN}
     * @throws NativeCallException on other errors
     * @throws IllegalArgumentException if {@code msghdr} is not a native {@code msghdr}
     */
    public static long recvmsg(int fd, MemorySegment msghdr, int flags) throws NativeCallException {
        return msghdrCall(RECVMSG, "recvmsg", fd, msghdr, flags);
    }

    /**
     * {@code sendmsg} or {@code recvmsg} (the same C signature) once, retrying {@code EINTR}, with the {@code msghdr}
     * by address.
     */
    private static long msghdrCall(MethodHandle call, String name, int fd, MemorySegment msghdr, int flags)
            throws NativeCallException {
        long address = msghdrAddress(msghdr);
        CallState cs = CallState.current();
        try {
            while (true) {
                long result = (long) call.invokeExact(cs.errnoSegment, fd, address, flags);
                long n = cs.countOrEagain(result, name, fd);
                if (n != CallState.RETRY) {
                    return n;
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        } finally {
            Reference.reachabilityFence(msghdr);
        }
    }

    /**
     * The address of bytes {@code [offset, offset + length)} of a socket buffer, checked: native memory, range inside.
     *
     * @param data the buffer
     * @param offset where the bytes start
     * @param length how many
     * @return {@code data.address() + offset}
     * @throws IllegalArgumentException if {@code data} is not native memory
     * @throws IndexOutOfBoundsException if the range is not inside {@code data}
     */
    static long bufferAddress(MemorySegment data, long offset, long length) {
        if (!data.isNative()) {
            throw new IllegalArgumentException("socket buffers must be native memory, got " + data);
        }
        Objects.checkFromIndexSize(offset, length, data.byteSize());
        return data.address() + offset;
    }

    private static long msghdrAddress(MemorySegment msghdr) {
        if (!msghdr.isNative() || msghdr.byteSize() < Structs.MSGHDR.byteSize()) {
            throw new IllegalArgumentException("not a native msghdr (" + Structs.MSGHDR.byteSize() + " bytes): "
                    + msghdr);
        }
        return msghdr.address();
    }

    private static MemorySegment sockaddr(CallState cs, String path) {
        byte[] bytes = path.getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > MAX_PATH_BYTES) {
            throw new IllegalArgumentException("unix socket path must be 1 to " + MAX_PATH_BYTES + " bytes, got "
                    + bytes.length + ": " + path);
        }
        MemorySegment address = cs.scratch().asSlice(0, Structs.SOCKADDR_UN.byteSize());
        address.set(JAVA_SHORT, Structs.SOCKADDR_UN_FAMILY, (short) AF_UNIX);
        MemorySegment.copy(bytes, 0, address, JAVA_BYTE, Structs.SOCKADDR_UN_PATH, bytes.length);
        return address;
    }

    private static int addressLength(String path) {
        return (int) Structs.SOCKADDR_UN_PATH + path.getBytes(StandardCharsets.UTF_8).length + 1;
    }

    /**
     * Returns how many bytes can be read from a stream socket now ({@code ioctl(FIONREAD)}).
     *
     * @param fd the socket
     * @return the byte count
     * @throws NativeCallException if the ioctl fails
     */
    public static int bytesAvailable(int fd) throws NativeCallException {
        MemorySegment count = CallState.current().scratch();
        Ioctl.ioctl(fd, FIONREAD, count, "FIONREAD");
        return count.get(JAVA_INT, 0);
    }
}
