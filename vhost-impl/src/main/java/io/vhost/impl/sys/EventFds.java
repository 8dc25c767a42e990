package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.vhost.api.error.NativeCallException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * {@code eventfd(2)} and its 8-byte counter. On a blocking eventfd, {@link #read} blocks while the counter is zero:
 * create with {@link #EFD_NONBLOCK} for use from virtual threads and wait through the poller.
 */
public final class EventFds {

    /** {@code EFD_SEMAPHORE}. */
    public static final int EFD_SEMAPHORE = 1;
    /** {@code EFD_NONBLOCK}. */
    public static final int EFD_NONBLOCK = 0x800;
    /** {@code EFD_CLOEXEC}. */
    public static final int EFD_CLOEXEC = 0x80000;

    private static final MethodHandle EVENTFD =
            Libc.downcall("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));

    private EventFds() {
    }

    /**
     * Creates an eventfd with {@code EFD_CLOEXEC} plus {@code flags}.
     *
     * @param flags extra flags ({@link #EFD_NONBLOCK}, {@link #EFD_SEMAPHORE})
     * @param role what it is for
     * @return the owned descriptor
     * @throws NativeCallException if eventfd fails
     */
    public static OwnedFd create(int flags, String role) throws NativeCallException {
        CallState cs = CallState.current();
        int fd;
        try {
            fd = (int) EVENTFD.invokeExact(cs.errnoSegment, 0, flags | EFD_CLOEXEC);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (fd < 0) {
            throw Errno.failure("eventfd", "for " + role, cs.errno());
        }
        return OwnedFd.of(fd, role);
    }

    /**
     * Adds {@code value} to the counter.
     *
     * @param fd the eventfd
     * @param value a positive amount, usually 1
     * @return {@code false} if the eventfd is non-blocking and the counter would overflow
     * @throws NativeCallException if write fails
     */
    public static boolean signal(int fd, long value) throws NativeCallException {
        MemorySegment buf = CallState.current().word;
        buf.set(JAVA_LONG, 0, value);
        return Unistd.write(fd, buf) == 8;
    }

    /**
     * Reads and resets the counter (or decrements it by one with {@link #EFD_SEMAPHORE}).
     *
     * @param fd the eventfd
     * @return the counter value, or 0 if non-blocking and the counter was zero
     * @throws NativeCallException if read fails
     */
    public static long drain(int fd) throws NativeCallException {
        MemorySegment buf = CallState.current().word;
        long n = Unistd.read(fd, buf);
        return n == 8 ? buf.get(JAVA_LONG, 0) : 0L;
    }

    /**
     * Same as {@link #drain}: the C name of the operation.
     *
     * @param fd the eventfd
     * @return the counter value, or 0 if non-blocking and nothing was pending
     * @throws NativeCallException if read fails
     */
    public static long read(int fd) throws NativeCallException {
        return drain(fd);
    }

}
