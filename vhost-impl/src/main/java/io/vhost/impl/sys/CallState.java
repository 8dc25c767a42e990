package io.vhost.impl.sys;

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

    /** Returns the scratch buffer cleared to zero. */
    MemorySegment scratch() {
        return scratch.fill((byte) 0);
    }
}
