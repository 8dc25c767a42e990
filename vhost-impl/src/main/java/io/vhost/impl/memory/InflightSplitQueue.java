package io.vhost.impl.memory;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * One queue's region of the inflight buffer for split rings ({@code VHOST_USER_GET_INFLIGHT_FD}, vhost-user
 * §Inflight I/O tracking, {@code QueueRegionSplit}).
 *
 * <p>Layout, native byte order: a 16-byte header {@code features u64 @0, version u16 @8, desc_num u16 @10,
 * last_batch_head u16 @12, used_idx u16 @14}, then {@code desc_num} {@code DescStateSplit} entries of 16 bytes:
 * {@code inflight u8 @0, padding[5], next u16 @6, counter u64 @8}. The spec text does not align queue regions;
 * QEMU and libvhost-user (and DPDK) round each region up to 64 bytes, and so do we ({@link #QUEUE_REGION_ALIGN}).
 *
 * <p>The buffer survives a back-end crash and comes back from the front-end, so it is untrusted: recovery checks
 * indices and batch sizes. Not thread-safe: owned by the queue's worker. Does not own the segment.
 */
public final class InflightSplitQueue {

    /** {@code QueueRegionSplit} without its flexible array; checked against gcc by a test. */
    public static final StructLayout HEADER = MemoryLayout.structLayout(
            ValueLayout.JAVA_LONG_UNALIGNED.withName("features"),
            ValueLayout.JAVA_SHORT_UNALIGNED.withName("version"),
            ValueLayout.JAVA_SHORT_UNALIGNED.withName("desc_num"),
            ValueLayout.JAVA_SHORT_UNALIGNED.withName("last_batch_head"),
            ValueLayout.JAVA_SHORT_UNALIGNED.withName("used_idx")).withName("QueueRegionSplit");

    /** {@code DescStateSplit}; checked against gcc by a test. */
    public static final StructLayout DESC_STATE = MemoryLayout.structLayout(
            ValueLayout.JAVA_BYTE.withName("inflight"),
            MemoryLayout.sequenceLayout(5, ValueLayout.JAVA_BYTE).withName("padding"),
            ValueLayout.JAVA_SHORT_UNALIGNED.withName("next"),
            ValueLayout.JAVA_LONG_UNALIGNED.withName("counter")).withName("DescStateSplit");

    private static final long H_VERSION = HEADER.byteOffset(PathElement.groupElement("version"));
    private static final long H_DESC_NUM = HEADER.byteOffset(PathElement.groupElement("desc_num"));
    private static final long H_LAST_BATCH_HEAD = HEADER.byteOffset(PathElement.groupElement("last_batch_head"));
    private static final long H_USED_IDX = HEADER.byteOffset(PathElement.groupElement("used_idx"));
    private static final long D_NEXT = DESC_STATE.byteOffset(PathElement.groupElement("next"));
    private static final long D_COUNTER = DESC_STATE.byteOffset(PathElement.groupElement("counter"));

    /** Alignment of each queue region inside the buffer (QEMU/libvhost-user {@code INFLIGHT_ALIGNMENT}). */
    public static final long QUEUE_REGION_ALIGN = 64;
    /** Size of the queue region header. */
    public static final long HEADER_BYTES = HEADER.byteSize();
    /** Size of one {@code DescStateSplit}. */
    public static final long DESC_STATE_BYTES = DESC_STATE.byteSize();
    /** Current region version; 0 means uninitialised (VM reset). */
    public static final short VERSION = 1;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private final MemorySegment region;
    private final int queueSize;

    /**
     * Wraps one queue region.
     *
     * @param region the queue's region, at least {@code 16 + 16 * queueSize} bytes
     * @param queueSize the queue size
     * @throws IllegalArgumentException if the region is too small or the size out of range
     */
    public InflightSplitQueue(MemorySegment region, int queueSize) {
        if (queueSize < 1 || queueSize > 32768) {
            throw new IllegalArgumentException("inflight queue size " + queueSize + " is not in 1..32768");
        }
        long need = HEADER_BYTES + DESC_STATE_BYTES * queueSize;
        if (region.byteSize() < need) {
            throw new IllegalArgumentException("inflight queue region of " + region.byteSize()
                    + " bytes is smaller than the " + need + " bytes needed for " + queueSize + " descriptors");
        }
        this.region = region;
        this.queueSize = queueSize;
    }

    /**
     * Returns the size of one queue region, rounded up to {@value #QUEUE_REGION_ALIGN} bytes.
     *
     * @param queueSize descriptors per queue
     * @return {@code align64(16 + 16 * queueSize)}
     */
    public static long queueRegionBytes(int queueSize) {
        long raw = HEADER_BYTES + DESC_STATE_BYTES * queueSize;
        return (raw + QUEUE_REGION_ALIGN - 1) & -QUEUE_REGION_ALIGN;
    }

    /**
     * Returns the inflight buffer size for {@code GET_INFLIGHT_FD} ({@code mmap_size}).
     *
     * @param numQueues number of queues
     * @param queueSize descriptors per queue
     * @return {@code numQueues * queueRegionBytes(queueSize)}
     */
    public static long mmapBytes(int numQueues, int queueSize) {
        return Math.multiplyExact((long) numQueues, queueRegionBytes(queueSize));
    }

    /**
     * Returns the region of queue {@code queue} inside the whole inflight buffer.
     *
     * @param buffer the mapped inflight buffer
     * @param queue the queue index
     * @param queueSize descriptors per queue
     * @return the queue's region
     * @throws GuestMemoryException if the buffer is too small for that queue
     */
    public static InflightSplitQueue ofQueue(MemorySegment buffer, int queue, int queueSize)
            throws GuestMemoryException {
        long size = queueRegionBytes(queueSize);
        long offset = size * queue;
        if (queue < 0 || offset + size > buffer.byteSize()) {
            throw new GuestMemoryException("inflight buffer of " + buffer.byteSize() + " bytes has no region for queue "
                    + queue + " (needs " + (offset + size) + " bytes for queue size " + queueSize + ")");
        }
        return new InflightSplitQueue(buffer.asSlice(offset, size), queueSize);
    }

    /**
     * Tells whether the front-end handed back an initialised region (version not 0).
     *
     * @return {@code true} if the region holds state from a previous back-end
     */
    public boolean isInitialized() {
        return region.get(U16, H_VERSION) != 0;
    }

    /** Clears the region and writes a fresh header (features 0, version 1, desc_num = queue size). */
    public void initialize() {
        region.asSlice(0, HEADER_BYTES + DESC_STATE_BYTES * queueSize).fill((byte) 0);
        region.set(U64, 0, 0L);
        region.set(U16, H_DESC_NUM, (short) queueSize);
        region.set(U16, H_VERSION, VERSION);
    }

    /**
     * Returns the stored used index.
     *
     * @return {@code used_idx}
     */
    public int usedIndex() {
        return Short.toUnsignedInt(region.get(U16, H_USED_IDX));
    }

    /**
     * Returns the head of the last-batch list.
     *
     * @return {@code last_batch_head}
     */
    public int lastBatchHead() {
        return Short.toUnsignedInt(region.get(U16, H_LAST_BATCH_HEAD));
    }

    /**
     * Tells whether a head is marked inflight.
     *
     * @param head the descriptor index
     * @return its {@code inflight} flag
     */
    public boolean isInflight(int head) {
        return region.get(ValueLayout.JAVA_BYTE, entry(head)) != 0;
    }

    /**
     * Returns a head's fetch counter.
     *
     * @param head the descriptor index
     * @return its {@code counter}
     */
    public long counter(int head) {
        return region.get(U64, entry(head) + D_COUNTER);
    }

    /**
     * Records a popped head (spec: "When receiving available buffers"): counter, then inflight = 1.
     *
     * @param head the head index
     * @param counter the value of the global counter (the caller increments it)
     */
    public void markInflight(int head, long counter) {
        long e = entry(head);
        region.set(U64, e + D_COUNTER, counter);
        region.set(ValueLayout.JAVA_BYTE, e, (byte) 1);
    }

    /**
     * Links a head returned through the used ring into the last-batch list (steps 1-3 of "supplying used buffers").
     *
     * @param head the used head
     */
    public void addToBatch(int head) {
        long e = entry(head);
        region.set(U16, e + D_NEXT, region.get(U16, H_LAST_BATCH_HEAD));
        region.set(U16, H_LAST_BATCH_HEAD, (short) head);
    }

    /**
     * Completes a batch after the used index was published: clears {@code inflight} of the last {@code batchSize}
     * linked heads, then stores the used index.
     *
     * @param batchSize number of heads linked since the previous commit
     * @param usedIdx the used ring's idx just published
     * @throws GuestMemoryException if the list holds an index out of range
     */
    public void commitBatch(int batchSize, int usedIdx) throws GuestMemoryException {
        clearBatch(batchSize);
        region.set(U16, H_USED_IDX, (short) usedIdx);
    }

    private void clearBatch(int batchSize) throws GuestMemoryException {
        int head = lastBatchHead();
        for (int i = 0; i < batchSize; i++) {
            if (head >= queueSize) {
                throw new GuestMemoryException("inflight region: last batch entry " + i + " links to descriptor "
                        + head + " >= queue size " + queueSize);
            }
            long e = entry(head);
            region.set(ValueLayout.JAVA_BYTE, e, (byte) 0);
            head = Short.toUnsignedInt(region.get(U16, e + D_NEXT));
        }
    }

    /**
     * Reconnect recovery: fixes up the last batch against the used ring's idx, then lists the heads to resubmit in
     * fetch order (by counter).
     *
     * @param ringUsedIdx the used ring's idx read from guest memory
     * @return the inflight heads ordered by counter
     * @throws GuestMemoryException if the region does not match the queue size or holds inconsistent data
     */
    public int[] recover(int ringUsedIdx) throws GuestMemoryException {
        int descNum = Short.toUnsignedInt(region.get(U16, H_DESC_NUM));
        if (descNum != queueSize) {
            throw new GuestMemoryException("inflight region desc_num " + descNum + " does not match queue size "
                    + queueSize + "; region rejected");
        }
        int stored = usedIndex();
        if (stored != (ringUsedIdx & 0xffff)) {
            int batch = (ringUsedIdx - stored) & 0xffff;
            if (batch > queueSize) {
                throw new GuestMemoryException("inflight region used_idx " + stored + " is " + batch
                        + " behind the used ring's idx " + ringUsedIdx + ", more than queue size " + queueSize);
            }
            commitBatch(batch, ringUsedIdx);
        }
        long[] keyed = new long[queueSize];
        int n = 0;
        for (int head = 0; head < queueSize; head++) {
            if (isInflight(head)) {
                keyed[n++] = head;
            }
        }
        Integer[] heads = new Integer[n];
        for (int i = 0; i < n; i++) {
            heads[i] = (int) keyed[i];
        }
        Arrays.sort(heads, (a, b) -> Long.compareUnsigned(counter(a), counter(b)));
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = heads[i];
        }
        return out;
    }

    /**
     * Returns the highest counter among inflight heads plus one: where the global counter resumes.
     *
     * @return the next counter value
     */
    public long nextCounter() {
        long max = 0;
        for (int head = 0; head < queueSize; head++) {
            if (isInflight(head) && Long.compareUnsigned(counter(head) + 1, max) > 0) {
                max = counter(head) + 1;
            }
        }
        return max;
    }

    private long entry(int head) {
        if (head < 0 || head >= queueSize) {
            throw new IndexOutOfBoundsException("descriptor " + head + " >= queue size " + queueSize);
        }
        return HEADER_BYTES + DESC_STATE_BYTES * head;
    }
}
