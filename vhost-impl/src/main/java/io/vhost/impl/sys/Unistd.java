package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import io.vhost.api.error.NativeCallException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Plain descriptor calls: {@code close}, {@code read}, {@code write}, {@code pipe2}, {@code fcntl},
 * {@code ftruncate}, {@code lseek} and {@code poll}.
 *
 * <p>{@code read}, {@code write} and {@code poll} block on blocking descriptors: call them from platform threads, or
 * on non-blocking descriptors only.
 */
public final class Unistd {

    /** {@code O_NONBLOCK}. */
    public static final int O_NONBLOCK = 0x800;
    /** {@code O_CLOEXEC}. */
    public static final int O_CLOEXEC = 0x80000;
    /** {@code F_GETFD}. */
    public static final int F_GETFD = 1;
    /** {@code F_SETFD}. */
    public static final int F_SETFD = 2;
    /** {@code F_DUPFD_CLOEXEC}. */
    public static final int F_DUPFD_CLOEXEC = 1030;
    /** {@code F_GETFL}. */
    public static final int F_GETFL = 3;
    /** {@code F_SETFL}. */
    public static final int F_SETFL = 4;
    /** {@code FD_CLOEXEC}. */
    public static final int FD_CLOEXEC = 1;
    /** {@code F_ADD_SEALS}. */
    public static final int F_ADD_SEALS = 1033;
    /** {@code F_GET_SEALS}. */
    public static final int F_GET_SEALS = 1034;
    /** {@code POLLIN}. */
    public static final short POLLIN = 0x1;
    /** {@code POLLOUT}. */
    public static final short POLLOUT = 0x4;
    /** {@code POLLERR}. */
    public static final short POLLERR = 0x8;
    /** {@code POLLHUP}. */
    public static final short POLLHUP = 0x10;
    /** {@code SEEK_END}. */
    public static final int SEEK_END = 2;

    private static final MethodHandle CLOSE = Libc.syscall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle READ =
            Libc.syscall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE =
            Libc.syscall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle PIPE2 =
            Libc.downcall("pipe2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FCNTL = Libc.downcall("fcntl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle FTRUNCATE =
            Libc.downcall("ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle LSEEK =
            Libc.downcall("lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle POLL =
            Libc.syscall("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle CLOSE_RANGE = optional("close_range",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static volatile boolean closeRangeWorks = CLOSE_RANGE != null;

    private Unistd() {
    }

    /**
     * Closes a descriptor once; {@code EINTR} is not retried (Linux has released the number already).
     * Prefer {@link OwnedFd#close()}.
     *
     * @param fd the descriptor
     * @throws NativeCallException if {@code close(2)} fails (for example EBADF)
     */
    public static void close(int fd) throws NativeCallException {
        CallState cs = CallState.current();
        int r;
        try {
            r = (int) CLOSE.invokeExact(cs.errnoSegment, fd);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0 && cs.errno() != Errno.EINTR) {
            throw Errno.failure("close", fd, cs.errno());
        }
    }

    /**
     * Closes every open descriptor from {@code first} to {@code last} in one {@code close_range(2)} (Linux 5.9; one
     * system call instead of one per descriptor). Numbers in the range that are not open are skipped without an error,
     * so the caller must own every number of the range. Prefer {@link OwnedFd#closeAll}.
     *
     * @param first the lowest descriptor
     * @param last the highest, {@code >= first}
     * @return {@code true} if they are closed; {@code false}, with nothing closed, where the call is not available (an
     *     older kernel or C library, or a seccomp filter that refuses it), and from then on without trying again
     * @throws NativeCallException on another failure
     */
    public static boolean closeRange(int first, int last) throws NativeCallException {
        if (!closeRangeWorks) {
            return false;
        }
        if (first < 0 || last < first) {
            throw new IllegalArgumentException("not a descriptor range: " + first + " to " + last);
        }
        CallState cs = CallState.current();
        int r;
        try {
            r = (int) CLOSE_RANGE.invokeExact(cs.errnoSegment, first, last, 0);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            int errno = cs.errno();
            if (errno == Errno.ENOSYS || errno == Errno.EPERM) {
                closeRangeWorks = false; // EPERM is what seccomp profiles older than the call answer
                return false;
            }
            throw Errno.failure("close_range", "(" + first + ", " + last + ")", errno);
        }
        return true;
    }

    /** Resolves a system call that an older C library may lack, or returns {@code null}. */
    private static MethodHandle optional(String name, FunctionDescriptor descriptor) {
        try {
            return Libc.syscall(name, descriptor);
        } catch (UnsatisfiedLinkError e) {
            return null;
        }
    }

    /**
     * Reads up to {@code buffer.byteSize()} bytes, retrying {@code EINTR}.
     *
     * @param fd the descriptor
     * @param buffer native memory to fill
     * @return bytes read, 0 at end of file, or -1 if the descriptor is non-blocking and has nothing ({@code EAGAIN})
     * @throws NativeCallException on any other error
     */
    public static long read(int fd, MemorySegment buffer) throws NativeCallException {
        return transfer(READ, "read", fd, buffer);
    }

    /**
     * Writes up to {@code buffer.byteSize()} bytes, retrying {@code EINTR}.
     *
     * @param fd the descriptor
     * @param buffer native memory to write
     * @return bytes written, or -1 on {@code EAGAIN}
     * @throws NativeCallException on any other error
     */
    public static long write(int fd, MemorySegment buffer) throws NativeCallException {
        return transfer(WRITE, "write", fd, buffer);
    }

    /** {@code read} or {@code write} (the same C signature) of the whole buffer once, retrying {@code EINTR}. */
    private static long transfer(MethodHandle call, String name, int fd, MemorySegment buffer)
            throws NativeCallException {
        CallState cs = CallState.current();
        try {
            while (true) {
                long result = (long) call.invokeExact(cs.errnoSegment, fd, buffer, buffer.byteSize());
                long n = cs.countOrEagain(result, name, fd);
                if (n != CallState.RETRY) {
                    return n;
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
    }

    /**
     * Creates a pipe with {@code O_CLOEXEC} plus {@code flags}.
     *
     * @param flags extra flags, for example {@link #O_NONBLOCK}
     * @return the read end at index 0 and the write end at index 1, both owned by the caller
     * @throws NativeCallException if {@code pipe2(2)} fails
     */
    public static OwnedFd[] pipe(int flags) throws NativeCallException {
        CallState cs = CallState.current();
        MemorySegment fds = cs.scratch();
        int r;
        try {
            r = (int) PIPE2.invokeExact(cs.errnoSegment, fds, flags | O_CLOEXEC);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            throw Errno.failure("pipe2", "(flags=0x" + Integer.toHexString(flags) + ")", cs.errno());
        }
        return new OwnedFd[] {
            OwnedFd.of(fds.get(JAVA_INT, 0), "pipe read end"), OwnedFd.of(fds.get(JAVA_INT, 4), "pipe write end")
        };
    }

    /**
     * Calls {@code fcntl(fd, cmd, arg)} with an int argument (F_GETFD, F_GETFL, F_SETFL, F_ADD_SEALS, F_GET_SEALS).
     *
     * @param fd the descriptor
     * @param cmd the command
     * @param arg the argument, 0 when unused
     * @return the result
     * @throws NativeCallException if it fails
     */
    public static int fcntl(int fd, int cmd, int arg) throws NativeCallException {
        CallState cs = CallState.current();
        try {
            while (true) {
                int r = (int) FCNTL.invokeExact(cs.errnoSegment, fd, cmd, arg);
                if (r >= 0) {
                    return r;
                }
                if (cs.errno() != Errno.EINTR) {
                    throw Errno.failure("fcntl", "(fd=" + fd + ", cmd=" + cmd + ", arg=" + arg + ")", cs.errno());
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
    }

    /**
     * Switches {@code O_NONBLOCK} on or off.
     *
     * @param fd the descriptor
     * @param nonBlocking the wanted mode
     * @throws NativeCallException if fcntl fails
     */
    public static void setNonBlocking(int fd, boolean nonBlocking) throws NativeCallException {
        int flags = fcntl(fd, F_GETFL, 0);
        int wanted = nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        if (wanted != flags) {
            fcntl(fd, F_SETFL, wanted);
        }
    }

    /**
     * Duplicates a descriptor ({@code fcntl(F_DUPFD_CLOEXEC)}): the copy refers to the same open file.
     *
     * @param fd the descriptor
     * @param role what the copy is for, used in messages ("hang-up watch of ffm blk0.sock")
     * @return the copy, owned by the caller
     * @throws NativeCallException if fcntl fails (for example EMFILE)
     */
    public static OwnedFd dup(int fd, String role) throws NativeCallException {
        return OwnedFd.of(fcntl(fd, F_DUPFD_CLOEXEC, 0), role);
    }

    /**
     * Tells whether {@code O_NONBLOCK} is set.
     *
     * @param fd the descriptor
     * @return the mode
     * @throws NativeCallException if fcntl fails
     */
    public static boolean isNonBlocking(int fd) throws NativeCallException {
        return (fcntl(fd, F_GETFL, 0) & O_NONBLOCK) != 0;
    }

    /**
     * Tells whether a descriptor number is open in this process ({@code fcntl(F_GETFD)} succeeds).
     *
     * @param fd the number
     * @return {@code false} on EBADF
     */
    public static boolean isOpen(int fd) {
        try {
            fcntl(fd, F_GETFD, 0);
            return true;
        } catch (NativeCallException e) {
            return false;
        }
    }

    /**
     * Sets a file's size.
     *
     * @param fd the descriptor
     * @param sizeBytes the new size
     * @throws NativeCallException if it fails
     */
    public static void ftruncate(int fd, long sizeBytes) throws NativeCallException {
        CallState cs = CallState.current();
        try {
            while (true) {
                int r = (int) FTRUNCATE.invokeExact(cs.errnoSegment, fd, sizeBytes);
                if (r == 0) {
                    return;
                }
                if (cs.errno() != Errno.EINTR) {
                    throw Errno.failure("ftruncate", "(fd=" + fd + ", size=" + sizeBytes + ")", cs.errno());
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
    }

    /**
     * Returns a file's size via {@code lseek(fd, 0, SEEK_END)} (moves the file offset to the end).
     *
     * @param fd the descriptor
     * @return the size in bytes
     * @throws NativeCallException if it fails (for example ESPIPE on a socket)
     */
    public static long size(int fd) throws NativeCallException {
        CallState cs = CallState.current();
        long r;
        try {
            r = (long) LSEEK.invokeExact(cs.errnoSegment, fd, 0L, SEEK_END);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            throw Errno.failure("lseek", fd, cs.errno());
        }
        return r;
    }

    /**
     * Waits with {@code poll(2)} for one descriptor. Blocks the calling thread: platform threads only.
     *
     * @param fd the descriptor
     * @param events {@link #POLLIN} and/or {@link #POLLOUT}
     * @param timeoutMillis -1 for no limit
     * @return the {@code revents} (0 on timeout)
     * @throws NativeCallException if poll fails
     */
    public static int poll(int fd, short events, int timeoutMillis) throws NativeCallException {
        CallState cs = CallState.current();
        MemorySegment pfd = cs.scratch();
        pfd.set(JAVA_INT, Structs.POLLFD_FD, fd);
        pfd.set(JAVA_SHORT, Structs.POLLFD_EVENTS, events);
        try {
            while (true) {
                int r = (int) POLL.invokeExact(cs.errnoSegment, pfd, 1L, timeoutMillis);
                if (r >= 0) {
                    return r == 0 ? 0 : pfd.get(JAVA_SHORT, Structs.POLLFD_REVENTS) & 0xffff;
                }
                if (cs.errno() != Errno.EINTR) {
                    throw Errno.failure("poll", fd, cs.errno());
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
    }
}
