package io.vhost.impl.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The single owner of one {@code mmap}ed range, seen as a {@link MemorySegment}.
 *
 * <p>The segment belongs to a shared arena of its own; {@link #close()} closes that arena, which makes every access
 * through the segment fail with {@link IllegalStateException} instead of touching unmapped memory, and then calls
 * {@code munmap} once. Close is idempotent and thread-safe. Closing a shared arena is costly (a handshake with all
 * threads): map long-lived regions, not per request.
 */
public final class Mapping implements AutoCloseable {

    private final Arena arena;
    private final MemorySegment segment;
    private final String role;
    private final AtomicBoolean closed = new AtomicBoolean();

    Mapping(MemorySegment address, long sizeBytes, String role) {
        this.role = Objects.requireNonNull(role, "role");
        this.arena = Arena.ofShared();
        this.segment = address.reinterpret(sizeBytes, arena, Mman::munmapQuietly);
    }

    /**
     * Returns the mapped memory.
     *
     * @return the segment, valid until {@link #close()}
     * @throws IllegalStateException naming the role if closed
     */
    public MemorySegment segment() {
        if (closed.get()) {
            throw new IllegalStateException(role + " mapping is closed");
        }
        return segment;
    }

    /**
     * Returns the mapping's size.
     *
     * @return bytes mapped
     */
    public long sizeBytes() {
        return segment.byteSize();
    }

    /**
     * Returns what the mapping is for.
     *
     * @return the role
     */
    public String role() {
        return role;
    }

    /**
     * Tells whether the mapping is still mapped.
     *
     * @return {@code true} until {@link #close()}
     */
    public boolean isOpen() {
        return !closed.get();
    }

    /** Unmaps once; later calls do nothing. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return role + " mapping of " + segment.byteSize() + " bytes" + (isOpen() ? "" : " (closed)");
    }
}
