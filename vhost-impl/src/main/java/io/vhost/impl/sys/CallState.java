package io.vhost.impl.sys;

import io.vhost.api.error.NativeCallException;
import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;

/**
 * A per-thread native scratch area: the errno capture segment plus a small buffer for one-shot structs.
 *
 * <p>Each thread (platform or virtual) gets its own instance, so no two threads ever share an errno segment. The
 * memory belongs to an automatic arena and is freed when the thread and its state become unreachable.
 */
final class CallState {

    private static final long SCRATCH_BYTES = 256;
    /** {@link #countOrEagain}'s answer for an interrupted call ({@code EINTR}): make it again. */
    static final long RETRY = Long.MIN_VALUE;
    private static final ThreadLocal<CallState> CURRENT = ThreadLocal.withInitial(CallState::new);

    /** The segment given to downcalls as their first argument. */
    final MemorySegment errnoSegment;
    /** A 256-byte, 8-aligned buffer for one call's small structs (epoll_event, sockaddr_un, ucred, ...). */
    final MemorySegment scratch;
    /** An 8-byte, 8-aligned buffer for one call's counter (an eventfd's value), not cleared between uses. */
    final MemorySegment word;

    private CallState() {
        Arena arena = Arena.ofAuto();
        this.errnoSegment = arena.allocate(Linker.Option.captureStateLayout());
        this.scratch = arena.allocate(SCRATCH_BYTES, 8);
        this.word = arena.allocate(8, 8);
    }

    static CallState current() {
        return CURRENT.get();
    }

    int errno() {
        return (int) Libc.ERRNO.get(errnoSegment, 0L);
    }

    /**
     * Classifies the result of a call that returns a byte count, or -1 with {@code errno} set (read, write, sendto,
     * sendmsg, recvmsg): the count itself; -1 for {@code EAGAIN} (nothing now on a non-blocking descriptor, or a
     * receive timeout that ran out); {@link #RETRY} for {@code EINTR}; any other {@code errno} is thrown as the
     * call's failure.
     *
     * @param n what the call returned
     * @param call the call's name, for the message
     * @param fd the descriptor, for the message
     * @return the count, -1, or {@link #RETRY}
     * @throws NativeCallException for any other error
     */
    long countOrEagain(long n, String call, int fd) throws NativeCallException {
        if (n >= 0) {
            return n;
        }
        int errno = errno();
        if (errno == Errno.EAGAIN) {
            return -1;
        }
        if (errno == Errno.EINTR) {
            return RETRY;
        }
        throw Errno.failure(call, fd, errno);
    }

    /** Returns the scratch buffer cleared to zero. */
    MemorySegment scratch() {
        return scratch.fill((byte) 0);
    }
}
