package io.vhost.impl.daemon;

import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.impl.memory.DirtyLogHolder;
import io.vhost.impl.memory.InflightPackedQueue;
import io.vhost.impl.memory.InflightSplitQueue;
import io.vhost.impl.memory.MemoryTable;
import java.lang.foreign.MemorySegment;
import io.vhost.impl.virtqueue.PackedVirtqueue;
import io.vhost.impl.virtqueue.SplitVirtqueue;

/**
 * The daemon's view of one ring, split or packed ({@code VIRTIO_F_RING_PACKED}): what the request thread configures
 * and what the worker hands to the device. Not thread-safe: used under the ring's lock.
 */
sealed interface RingQueue permits RingQueue.Split, RingQueue.Packed {

    /** Creates the ring for the acked features. */
    static RingQueue create(int queue, int size, long ackedFeatures) {
        return (ackedFeatures & VirtioFeature.RING_PACKED.mask()) != 0 ? new Packed(new PackedVirtqueue(queue, size))
                : new Split(new SplitVirtqueue(queue, size));
    }

    /** The device-facing queue. */
    Virtqueue view();

    /** {@code SET_VRING_ADDR}: desc, avail (packed: driver area), used (packed: device area) user addresses. */
    void configure(MemoryTable table, long desc, long avail, long used) throws GuestMemoryException;

    /** Re-resolves the ring after a memory table change. */
    void remap(MemoryTable table) throws GuestMemoryException;

    /** {@code SET_VRING_BASE}, in the ring type's encoding. */
    void setBase(long base);

    /** {@code GET_VRING_BASE}, in the ring type's encoding. */
    long base();

    boolean isBroken();

    /** Calls of {@code pop()} so far (to tell a batch in which the device wanted no buffer). */
    long popCalls();

    /** Whether a chain is ready to pop, without popping it or touching notification state (busy polling). */
    boolean hasAvailable() throws GuestMemoryException;

    void setFeatures(long acked);

    void setDirtyLog(DirtyLogHolder log, long usedLogAddress, boolean logUsed);

    /**
     * Attaches this queue's region of the inflight buffer, laid out for this ring type, and recovers the position and
     * the chains to resubmit if a previous back-end used it; {@code null} detaches. Breaks the ring on failure.
     */
    void attachInflight(MemorySegment buffer, int queueSize) throws GuestMemoryException;

    /** Whether the attached inflight region came from a previous back-end and set the position. */
    boolean inflightRecovered();

    /** Breaks the ring with {@code cause} (it could not be started). */
    void markBroken(GuestMemoryException cause);

    /** Size of an inflight buffer for this ring type ({@code GET_INFLIGHT_FD} {@code mmap_size}). */
    static long inflightBytes(boolean packed, int numQueues, int queueSize) {
        return packed ? InflightPackedQueue.mmapBytes(numQueues, queueSize)
                : InflightSplitQueue.mmapBytes(numQueues, queueSize);
    }

    /** A split ring. */
    record Split(SplitVirtqueue q) implements RingQueue {
        @Override
        public Virtqueue view() {
            return q;
        }

        @Override
        public void configure(MemoryTable table, long desc, long avail, long used) throws GuestMemoryException {
            q.configure(table, desc, avail, used);
        }

        @Override
        public void remap(MemoryTable table) throws GuestMemoryException {
            q.remap(table);
        }

        @Override
        public void setBase(long base) {
            if (base < 0 || base > 0xffff) {
                throw new IllegalArgumentException("SET_VRING_BASE " + base + " for queue " + q.queueIndex()
                        + " exceeds 65535 (split rings use 16-bit indices)");
            }
            q.setNextAvail((int) base);
        }

        @Override
        public long base() {
            return q.nextAvail();
        }

        @Override
        public boolean isBroken() {
            return q.isBroken();
        }

        @Override
        public long popCalls() {
            return q.popCalls();
        }

        @Override
        public boolean hasAvailable() throws GuestMemoryException {
            return q.hasAvailable();
        }

        @Override
        public void setFeatures(long acked) {
            q.setFeatures((acked & VirtioFeature.EVENT_IDX.mask()) != 0,
                    (acked & VirtioFeature.NOTIFY_ON_EMPTY.mask()) != 0);
        }

        @Override
        public void setDirtyLog(DirtyLogHolder log, long usedLogAddress, boolean logUsed) {
            q.setDirtyLog(log, usedLogAddress, logUsed);
        }

        @Override
        public void attachInflight(MemorySegment buffer, int queueSize) throws GuestMemoryException {
            q.attachInflight(buffer == null ? null : InflightSplitQueue.ofQueue(buffer, q.queueIndex(), queueSize));
        }

        @Override
        public void markBroken(GuestMemoryException cause) {
            q.markBroken(cause);
        }

        @Override
        public boolean inflightRecovered() {
            return q.inflightRecovered();
        }
    }

    /** A packed ring. */
    record Packed(PackedVirtqueue q) implements RingQueue {
        @Override
        public Virtqueue view() {
            return q;
        }

        @Override
        public void configure(MemoryTable table, long desc, long avail, long used) throws GuestMemoryException {
            q.configure(table, desc, avail, used);
        }

        @Override
        public void remap(MemoryTable table) throws GuestMemoryException {
            q.remap(table);
        }

        @Override
        public void setBase(long base) {
            if (base < 0 || base > 0xffff_ffffL) {
                throw new IllegalArgumentException("SET_VRING_BASE " + base + " for packed queue " + q.queueIndex()
                        + " is not a u32");
            }
            q.setBase((int) base);
        }

        @Override
        public long base() {
            return Integer.toUnsignedLong(q.base());
        }

        @Override
        public boolean isBroken() {
            return q.isBroken();
        }

        @Override
        public long popCalls() {
            return q.popCalls();
        }

        @Override
        public boolean hasAvailable() throws GuestMemoryException {
            return q.hasAvailable();
        }

        @Override
        public void setFeatures(long acked) {
            q.setFeatures((acked & VirtioFeature.EVENT_IDX.mask()) != 0);
        }

        @Override
        public void setDirtyLog(DirtyLogHolder log, long usedLogAddress, boolean logUsed) {
            q.setDirtyLog(log);
        }

        @Override
        public void attachInflight(MemorySegment buffer, int queueSize) throws GuestMemoryException {
            q.attachInflight(buffer == null ? null : InflightPackedQueue.ofQueue(buffer, q.queueIndex(), queueSize));
        }

        @Override
        public void markBroken(GuestMemoryException cause) {
            q.markBroken(cause);
        }

        @Override
        public boolean inflightRecovered() {
            return q.inflightRecovered();
        }
    }
}
