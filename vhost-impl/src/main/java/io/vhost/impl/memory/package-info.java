/**
 * Guest memory as the back-end sees it: the immutable {@link io.vhost.impl.memory.MemoryTable} of mapped regions
 * with bounds-checked translation (guest-physical and front-end user addresses, clamped to one region), the
 * atomically replaceable {@link io.vhost.impl.memory.SharedGuestMemory} with deferred release of old mappings, the
 * migration {@link io.vhost.impl.memory.DirtyLog} bitmap and the inflight region layouts of split and packed rings
 * ({@link io.vhost.impl.memory.InflightSplitQueue}, {@link io.vhost.impl.memory.InflightPackedQueue}).
 *
 * <p>This package does not map anything: callers (the integrator's {@code sys} layer) map region fds and hand in
 * {@link java.lang.foreign.MemorySegment}s plus a release action. Ring processing lives in
 * {@code io.vhost.impl.virtqueue}.
 */
package io.vhost.impl.memory;
