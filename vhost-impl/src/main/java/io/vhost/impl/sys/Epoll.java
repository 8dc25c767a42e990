package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import io.vhost.api.error.NativeCallException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.ref.Reference;

/**
 * {@code epoll(7)}: create, control, wait, and accessors for the packed {@code epoll_event} array.
 * {@link #waitFor} with a non-zero timeout blocks: platform threads only.
 */
public final class Epoll {

    /** {@code EPOLLIN}. */
    public static final int EPOLLIN = 0x1;
    /** {@code EPOLLOUT}. */
    public static final int EPOLLOUT = 0x4;
    /** {@code EPOLLERR}. */
    public static final int EPOLLERR = 0x8;
    /** {@code EPOLLHUP}. */
    public static final int EPOLLHUP = 0x10;
    /** {@code EPOLLRDHUP}. */
    public static final int EPOLLRDHUP = 0x2000;
    /** {@code EPOLLONESHOT}. */
    public static final int EPOLLONESHOT = 1 << 30;
    /** {@code EPOLL_CLOEXEC}. */
    public static final int EPOLL_CLOEXEC = 0x80000;
    /** {@code EPOLL_CTL_ADD}. */
    public static final int EPOLL_CTL_ADD = 1;
    /** {@code EPOLL_CTL_DEL}. */
    public static final int EPOLL_CTL_DEL = 2;
    /** {@code EPOLL_CTL_MOD}. */
    public static final int EPOLL_CTL_MOD = 3;

    private static final long EVENT_SIZE = Structs.EPOLL_EVENT.byteSize();
    private static final MethodHandle CREATE1 =
            Libc.downcall("epoll_create1", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle CTL =
            Libc.downcall("epoll_ctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    // The event array goes by address (a long): a segment of a shared arena would be acquired and released around
    // every call, two atomic operations on each wake-up of a queue worker.
    private static final MethodHandle WAIT =
            Libc.syscall("epoll_wait", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT));

    private Epoll() {
    }

    /**
     * Creates an epoll instance with {@code EPOLL_CLOEXEC}.
     *
     * @param role what it is for
     * @return the owned epoll descriptor
     * @throws NativeCallException if it fails
     */
    public static OwnedFd create(String role) throws NativeCallException {
        CallState cs = CallState.current();
        int fd;
        try {
            fd = (int) CREATE1.invokeExact(cs.errnoSegment, EPOLL_CLOEXEC);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (fd < 0) {
            throw Errno.failure("epoll_create1", "for " + role, cs.errno());
        }
        return OwnedFd.of(fd, role);
    }

    /**
     * Calls {@code epoll_ctl} and reports errno instead of throwing (for MOD-then-ADD fallbacks).
     *
     * @param epfd the epoll descriptor
     * @param op {@link #EPOLL_CTL_ADD}, {@link #EPOLL_CTL_MOD} or {@link #EPOLL_CTL_DEL}
     * @param fd the watched descriptor
     * @param events the event mask
     * @param data the 64-bit cookie returned by {@link #data}
     * @return 0 on success, else the errno
     */
    public static int tryCtl(int epfd, int op, int fd, int events, long data) {
        CallState cs = CallState.current();
        MemorySegment event = cs.scratch();
        event.set(JAVA_INT, Structs.EPOLL_EVENT_EVENTS, events);
        event.set(JAVA_LONG_UNALIGNED, Structs.EPOLL_EVENT_DATA, data);
        try {
            int r = (int) CTL.invokeExact(cs.errnoSegment, epfd, op, fd, event);
            return r == 0 ? 0 : cs.errno();
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
    }

    /**
     * Calls {@code epoll_ctl}.
     *
     * @param epfd the epoll descriptor
     * @param op the operation
     * @param fd the watched descriptor
     * @param events the event mask
     * @param data the cookie
     * @throws NativeCallException naming the operation, epfd and fd on failure
     */
    public static void ctl(int epfd, int op, int fd, int events, long data) throws NativeCallException {
        int errno = tryCtl(epfd, op, fd, events, data);
        if (errno != 0) {
            throw Errno.failure("epoll_ctl", "(" + opName(op) + ", epfd=" + epfd + ", fd=" + fd + ")", errno);
        }
    }

    /**
     * Allocates an event array.
     *
     * @param arena the owner's arena
     * @param capacity the number of events
     * @return a segment of {@code capacity * 12} bytes
     */
    public static MemorySegment allocateEvents(Arena arena, int capacity) {
        return arena.allocate(EVENT_SIZE * capacity, 8);
    }

    /**
     * Waits for events, retrying {@code EINTR} (with the same timeout). The array goes to the kernel by address: its
     * arena must stay open during the call.
     *
     * @param epfd the epoll descriptor
     * @param events an array from {@link #allocateEvents}
     * @param timeoutMillis -1 to block, 0 to poll
     * @return the number of ready events
     * @throws NativeCallException if epoll_wait fails
     * @throws IllegalArgumentException if {@code events} is not native memory
     */
    public static int waitFor(int epfd, MemorySegment events, int timeoutMillis) throws NativeCallException {
        if (!events.isNative()) {
            throw new IllegalArgumentException("epoll events must be native memory, got " + events);
        }
        CallState cs = CallState.current();
        int max = (int) (events.byteSize() / EVENT_SIZE);
        long address = events.address();
        try {
            while (true) {
                int n = (int) WAIT.invokeExact(cs.errnoSegment, epfd, address, max, timeoutMillis);
                if (n >= 0) {
                    return n;
                }
                if (cs.errno() != Errno.EINTR) {
                    throw Errno.failure("epoll_wait", "(epfd=" + epfd + ")", cs.errno());
                }
            }
        } catch (NativeCallException e) {
            throw e;
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        } finally {
            Reference.reachabilityFence(events);
        }
    }

    /**
     * Reads the event mask of entry {@code i}.
     *
     * @param events the array
     * @param i the index
     * @return the mask
     */
    public static int events(MemorySegment events, int i) {
        return events.get(JAVA_INT, i * EVENT_SIZE + Structs.EPOLL_EVENT_EVENTS);
    }

    /**
     * Reads the cookie of entry {@code i}.
     *
     * @param events the array
     * @param i the index
     * @return the data given to {@link #ctl}
     */
    public static long data(MemorySegment events, int i) {
        return events.get(JAVA_LONG_UNALIGNED, i * EVENT_SIZE + Structs.EPOLL_EVENT_DATA);
    }

    private static String opName(int op) {
        return switch (op) {
            case EPOLL_CTL_ADD -> "ADD";
            case EPOLL_CTL_DEL -> "DEL";
            case EPOLL_CTL_MOD -> "MOD";
            default -> "op " + op;
        };
    }
}
