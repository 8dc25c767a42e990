package io.vhost.impl.memory;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * One queue's region of the inflight buffer for packed rings ({@code VHOST_USER_GET_INFLIGHT_FD} with
 * {@code VIRTIO_F_RING_PACKED}; vhost-user §Inflight I/O tracking, {@code QueueRegionPacked}).
 *
 * <p>Layout, native byte order ({@link #HEADER}, {@link #DESC_STATE}; checked against gcc by a test): a 32-byte
 * header {@code features u64, version u16, desc_num u16, free_head u16, old_free_head u16, used_idx u16,
 * old_used_idx u16, used_wrap_counter u8, old_used_wrap_counter u8, padding[7]} (29 bytes, the flexible array's
 * 8-byte alignment puts {@code desc[]} at 32), then {@code desc_num} {@code DescStatePacked} entries of 32 bytes:
 * {@code inflight u8, padding u8, next u16, last u16, num u16, counter u64, id u16, flags u16, len u32, addr u64}.
 * Each queue region is rounded up to {@value InflightSplitQueue#QUEUE_REGION_ALIGN} bytes, as for split rings (DPDK
 * computes {@code align64(32 * desc_num + 29)}, the same number).
 *
 * <p>The entries are a pool linked through {@code next}; the free list ends at {@code desc_num} (no entry). A fetched
 * chain takes one entry per descriptor from the free list (its head entry holds {@code inflight}, {@code counter}, {@code num} and {@code last}); a used chain goes back
 * to the free list. The {@code old_*} header fields are the last committed state: a crash between two commits is
 * rolled back (or forward, if the used descriptor already reached the ring) by {@link #recover}.
 *
 * <p>The buffer survives a back-end crash and comes back from the front-end, so it is untrusted: every index read
 * from it is checked against the queue size, chains are walked at most {@code desc_num} steps, and recovery rebuilds
 * the free list from the entries no inflight chain holds. Not thread-safe: owned by the queue's worker. Does not own
 * the segment.
 */
public final class InflightPackedQueue {

    private static final ValueLayout.OfByte U8 = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;

    /** {@code QueueRegionPacked} without its flexible array (the C {@code sizeof}: 29 bytes padded to 32). */
    public static final StructLayout HEADER = MemoryLayout.structLayout(
            U64.withName("features"),
            U16.withName("version"),
            U16.withName("desc_num"),
            U16.withName("free_head"),
            U16.withName("old_free_head"),
            U16.withName("used_idx"),
            U16.withName("old_used_idx"),
            U8.withName("used_wrap_counter"),
            U8.withName("old_used_wrap_counter"),
            MemoryLayout.sequenceLayout(7, U8).withName("padding"),
            MemoryLayout.paddingLayout(3)).withName("QueueRegionPacked");

    /** {@code DescStatePacked}. */
    public static final StructLayout DESC_STATE = MemoryLayout.structLayout(
            U8.withName("inflight"),
            U8.withName("padding"),
            U16.withName("next"),
            U16.withName("last"),
            U16.withName("num"),
            U64.withName("counter"),
            U16.withName("id"),
            U16.withName("flags"),
            U32.withName("len"),
            U64.withName("addr")).withName("DescStatePacked");

    /** Size of the queue region header (offset of {@code desc[0]}). */
    public static final long HEADER_BYTES = HEADER.byteSize();
    /** Size of one {@code DescStatePacked}. */
    public static final long DESC_STATE_BYTES = DESC_STATE.byteSize();

    static final long H_VERSION = offset(HEADER, "version");
    static final long H_DESC_NUM = offset(HEADER, "desc_num");
    static final long H_FREE_HEAD = offset(HEADER, "free_head");
    static final long H_OLD_FREE_HEAD = offset(HEADER, "old_free_head");
    static final long H_USED_IDX = offset(HEADER, "used_idx");
    static final long H_OLD_USED_IDX = offset(HEADER, "old_used_idx");
    static final long H_USED_WRAP = offset(HEADER, "used_wrap_counter");
    static final long H_OLD_USED_WRAP = offset(HEADER, "old_used_wrap_counter");
    static final long D_INFLIGHT = offset(DESC_STATE, "inflight");
    static final long D_NEXT = offset(DESC_STATE, "next");
    static final long D_LAST = offset(DESC_STATE, "last");
    static final long D_NUM = offset(DESC_STATE, "num");
    static final long D_COUNTER = offset(DESC_STATE, "counter");
    static final long D_ID = offset(DESC_STATE, "id");
    static final long D_FLAGS = offset(DESC_STATE, "flags");
    static final long D_LEN = offset(DESC_STATE, "len");
    static final long D_ADDR = offset(DESC_STATE, "addr");

    private static long offset(StructLayout layout, String field) {
        return layout.byteOffset(PathElement.groupElement(field));
    }

    /**
     * One descriptor saved in an entry: what the driver wrote into the descriptor ring.
     *
     * @param addr the buffer address
     * @param len the buffer length (u32)
     * @param id the buffer id
     * @param flags the descriptor flags
     */
    public record SavedDescriptor(long addr, long len, int id, int flags) {}

    private final MemorySegment region;
    private final int queueSize;

    /**
     * Wraps one queue region.
     *
     * @param region the queue's region, at least {@code 32 + 32 * queueSize} bytes
     * @param queueSize the queue size, 1..32768
     * @throws IllegalArgumentException if the region is too small or the size out of range
     */
    public InflightPackedQueue(MemorySegment region, int queueSize) {
        if (queueSize < 1 || queueSize > 32768) {
            throw new IllegalArgumentException("inflight queue size " + queueSize + " is not in 1..32768");
        }
        long need = HEADER_BYTES + DESC_STATE_BYTES * queueSize;
        if (region.byteSize() < need) {
            throw new IllegalArgumentException("packed inflight queue region of " + region.byteSize()
                    + " bytes is smaller than the " + need + " bytes needed for " + queueSize + " descriptors");
        }
        this.region = region;
        this.queueSize = queueSize;
    }

    /**
     * Returns the size of one queue region, rounded up to 64 bytes.
     *
     * @param queueSize descriptors per queue
     * @return {@code align64(32 + 32 * queueSize)}
     */
    public static long queueRegionBytes(int queueSize) {
        long raw = HEADER_BYTES + DESC_STATE_BYTES * queueSize;
        long align = InflightSplitQueue.QUEUE_REGION_ALIGN;
        return (raw + align - 1) & -align;
    }

    /**
     * Returns the inflight buffer size for {@code GET_INFLIGHT_FD} ({@code mmap_size}) of packed rings.
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
    public static InflightPackedQueue ofQueue(MemorySegment buffer, int queue, int queueSize)
            throws GuestMemoryException {
        long size = queueRegionBytes(queueSize);
        long offset = size * queue;
        if (queue < 0 || offset + size > buffer.byteSize()) {
            throw new GuestMemoryException("inflight buffer of " + buffer.byteSize() + " bytes has no packed-ring"
                    + " region for queue " + queue + " (needs " + (offset + size) + " bytes for queue size "
                    + queueSize + ")");
        }
        return new InflightPackedQueue(buffer.asSlice(offset, size), queueSize);
    }

    /**
     * Tells whether the front-end handed back an initialised region (version not 0).
     *
     * @return {@code true} if the region holds state from a previous back-end
     */
    public boolean isInitialized() {
        return region.get(U16, H_VERSION) != 0;
    }

    /**
     * Clears the region and writes a fresh header: every entry free ({@code next = i + 1}, the last one's
     * {@code next = desc_num} ends the list), used index and wrap
     * counter at the ring's current position, version 1 last.
     *
     * @param usedIndex where the device writes its next used descriptor, 0..queueSize-1
     * @param usedWrap the device's used wrap counter
     */
    public void initialize(int usedIndex, boolean usedWrap) {
        checkIndex("used index", usedIndex);
        region.asSlice(0, HEADER_BYTES + DESC_STATE_BYTES * queueSize).fill((byte) 0);
        region.set(U16, H_DESC_NUM, (short) queueSize);
        for (int i = 0; i < queueSize; i++) {
            region.set(U16, entry(i) + D_NEXT, (short) (i + 1));
        }
        setUsed(H_USED_IDX, H_USED_WRAP, usedIndex, usedWrap);
        setUsed(H_OLD_USED_IDX, H_OLD_USED_WRAP, usedIndex, usedWrap);
        region.set(U16, H_VERSION, InflightSplitQueue.VERSION);
    }

    // ---- header and entry accessors ----------------------------------------------------------------------------

    /** @return {@code free_head} */
    public int freeHead() {
        return u16(H_FREE_HEAD);
    }

    /** @return {@code old_free_head} */
    public int oldFreeHead() {
        return u16(H_OLD_FREE_HEAD);
    }

    /** @return {@code used_idx} */
    public int usedIndex() {
        return u16(H_USED_IDX);
    }

    /** @return {@code old_used_idx} */
    public int oldUsedIndex() {
        return u16(H_OLD_USED_IDX);
    }

    /** @return {@code used_wrap_counter != 0} */
    public boolean usedWrap() {
        return region.get(U8, H_USED_WRAP) != 0;
    }

    /** @return {@code old_used_wrap_counter != 0} */
    public boolean oldUsedWrap() {
        return region.get(U8, H_OLD_USED_WRAP) != 0;
    }

    /**
     * Tells whether an entry is marked inflight.
     *
     * @param entry the entry index
     * @return its {@code inflight} flag
     */
    public boolean isInflight(int entry) {
        return region.get(U8, entry(entry) + D_INFLIGHT) != 0;
    }

    /**
     * Returns an entry's fetch counter.
     *
     * @param entry the entry index
     * @return its {@code counter}
     */
    public long counter(int entry) {
        return region.get(U64, entry(entry) + D_COUNTER);
    }

    /**
     * Returns the number of descriptors of the chain an entry heads.
     *
     * @param entry a head entry
     * @return its {@code num}
     */
    public int descriptorCount(int entry) {
        return u16(entry(entry) + D_NUM);
    }

    // ---- fetch -------------------------------------------------------------------------------------------------

    /**
     * Records one descriptor of a chain fetched from the descriptor ring (spec: "When receiving available buffers"):
     * the head descriptor starts the entry at {@code old_free_head} ({@code num = 0}, {@code counter},
     * {@code inflight = 1}); every descriptor is saved at {@code free_head}, which then moves along the free list;
     * the last descriptor sets {@code last} and commits {@code old_free_head = free_head}.
     *
     * @param head whether this is the chain's first descriptor
     * @param last whether this is its last descriptor
     * @param addr the descriptor's address, as read from the ring
     * @param len its length (u32)
     * @param id its buffer id
     * @param flags its flags
     * @param counter the global fetch counter, used for the head only (the caller increments it)
     * @return the chain's head entry index ({@code old_free_head})
     * @throws GuestMemoryException if the free list holds an index out of range (a corrupt region)
     */
    public int recordDescriptor(boolean head, boolean last, long addr, long len, int id, int flags, long counter)
            throws GuestMemoryException {
        int headEntry = checkedHeader(H_OLD_FREE_HEAD, "old_free_head");
        int free = checkedHeader(H_FREE_HEAD, "free_head");
        if (free == queueSize || headEntry == queueSize) {
            throw new GuestMemoryException("packed inflight region: no free entry left for a new descriptor (all "
                    + queueSize + " hold inflight descriptors)");
        }
        long h = entry(headEntry);
        if (head) {
            region.set(U16, h + D_NUM, (short) 0);
            region.set(U64, h + D_COUNTER, counter);
            region.set(U8, h + D_INFLIGHT, (byte) 1);
        }
        if (last) {
            region.set(U16, h + D_LAST, (short) free);
        }
        region.set(U16, h + D_NUM, (short) (u16(h + D_NUM) + 1));
        long f = entry(free);
        region.set(U64, f + D_ADDR, addr);
        region.set(U32, f + D_LEN, (int) len);
        region.set(U16, f + D_FLAGS, (short) flags);
        region.set(U16, f + D_ID, (short) id);
        int next = u16(f + D_NEXT);
        if (next > queueSize) {
            throw new GuestMemoryException("packed inflight region: free entry " + free + " links to " + next
                    + " >= queue size " + queueSize);
        }
        region.set(U16, H_FREE_HEAD, (short) next);
        if (last) {
            region.set(U16, H_OLD_FREE_HEAD, (short) next);
        }
        return headEntry;
    }

    /**
     * Reads the descriptors saved for the chain an inflight entry heads, in chain order.
     *
     * @param headEntry the head entry
     * @return its {@code num} descriptors
     * @throws GuestMemoryException if the entry's count or links are out of range
     */
    public SavedDescriptor[] savedChain(int headEntry) throws GuestMemoryException {
        int num = descriptorCount(headEntry);
        if (num < 1 || num > queueSize) {
            throw new GuestMemoryException("packed inflight region: entry " + headEntry + " heads a chain of " + num
                    + " descriptors, not 1.." + queueSize);
        }
        SavedDescriptor[] out = new SavedDescriptor[num];
        int e = headEntry;
        for (int i = 0; i < num; i++) {
            long off = entry(e);
            out[i] = new SavedDescriptor(region.get(U64, off + D_ADDR), Integer.toUnsignedLong(region.get(U32,
                    off + D_LEN)), u16(off + D_ID), u16(off + D_FLAGS));
            if (i + 1 < num) {
                e = u16(off + D_NEXT);
                if (e >= queueSize) {
                    throw new GuestMemoryException("packed inflight region: chain of entry " + headEntry
                            + " links to " + e + " >= queue size " + queueSize);
                }
            }
        }
        return out;
    }

    // ---- used --------------------------------------------------------------------------------------------------

    /**
     * First half of returning a used chain (spec: "When supplying used buffers", steps 3-4 and the used index):
     * links the chain's entries back onto the free list and advances {@code used_idx} and
     * {@code used_wrap_counter} by the chain's descriptor count. Call before the used descriptor's flags are written.
     *
     * @param headEntry the chain's head entry
     * @throws GuestMemoryException if the entry's {@code last} or {@code num} is out of range
     */
    public void beginUsed(int headEntry) throws GuestMemoryException {
        long h = entry(headEntry);
        int last = u16(h + D_LAST);
        int num = u16(h + D_NUM);
        if (last >= queueSize || num < 1 || num > queueSize) {
            throw new GuestMemoryException("packed inflight region: entry " + headEntry + " has last " + last
                    + " and num " + num + " for queue size " + queueSize);
        }
        region.set(U16, entry(last) + D_NEXT, region.get(U16, H_FREE_HEAD));
        region.set(U16, H_FREE_HEAD, (short) headEntry);
        int used = u16(H_USED_IDX) + num;
        boolean wrap = usedWrap();
        if (used >= queueSize) {
            used -= queueSize;
            wrap = !wrap;
        }
        setUsed(H_USED_IDX, H_USED_WRAP, used % queueSize, wrap);
    }

    /**
     * Second half, after the used descriptor's flags reached the ring: clears the head entry's {@code inflight} and
     * commits {@code old_free_head}, {@code old_used_idx}, {@code old_used_wrap_counter}.
     *
     * @param headEntry the chain's head entry
     */
    public void commitUsed(int headEntry) {
        region.set(U8, entry(headEntry) + D_INFLIGHT, (byte) 0);
        commit();
    }

    private void commit() {
        region.set(U16, H_OLD_FREE_HEAD, region.get(U16, H_FREE_HEAD));
        region.set(U16, H_OLD_USED_IDX, region.get(U16, H_USED_IDX));
        region.set(U8, H_OLD_USED_WRAP, region.get(U8, H_USED_WRAP));
    }

    // ---- reconnect ---------------------------------------------------------------------------------------------

    /**
     * Reconnect recovery (spec: "When reconnecting"). If {@code used_idx} differs from {@code old_used_idx} a used
     * update was in progress: it is committed if its descriptor reached the ring ({@code usedDescriptorWritten}),
     * otherwise rolled back. Then the entries of the free list are cleared of {@code inflight}, the inflight chains
     * are checked, the free list is rebuilt from every entry no inflight chain holds, and the inflight head entries
     * are returned in fetch order (by counter).
     *
     * @param usedDescriptorWritten whether the descriptor ring slot at {@link #oldUsedIndex()} no longer shows the
     *     driver's available flags for {@link #oldUsedWrap()} (the back-end wrote its used descriptor before the crash)
     * @return the inflight head entries ordered by counter
     * @throws GuestMemoryException if the region does not match the queue size or holds inconsistent data
     */
    public int[] recover(boolean usedDescriptorWritten) throws GuestMemoryException {
        int descNum = u16(H_DESC_NUM);
        if (descNum != queueSize) {
            throw new GuestMemoryException("packed inflight region desc_num " + descNum + " does not match queue size "
                    + queueSize + "; region rejected");
        }
        checkedHeader(H_USED_IDX, "used_idx");
        checkedHeader(H_OLD_USED_IDX, "old_used_idx");
        if ((usedIndex() != oldUsedIndex() || usedWrap() != oldUsedWrap()) && usedDescriptorWritten) {
            commit(); // the guest may already have seen the used descriptor: finish the update
        }
        // Roll back whatever is not committed: a used update whose descriptor never reached the ring, a fetch cut
        // short (its head entry is then on the free list again and loses its inflight mark below).
        region.set(U16, H_FREE_HEAD, region.get(U16, H_OLD_FREE_HEAD));
        setUsed(H_USED_IDX, H_USED_WRAP, oldUsedIndex(), oldUsedWrap());
        // The free list as the previous back-end left it: none of its entries is inflight.
        boolean[] free = new boolean[queueSize];
        int e = checkedHeader(H_FREE_HEAD, "free_head");
        for (int steps = 0; steps < queueSize && e < queueSize && !free[e]; steps++) {
            free[e] = true;
            region.set(U8, entry(e) + D_INFLIGHT, (byte) 0);
            e = u16(entry(e) + D_NEXT); // desc_num ends the list; a corrupt link ends the walk too (rebuilt below)
        }
        // The inflight chains, each walked num entries along next; no entry may belong to two of them.
        boolean[] held = new boolean[queueSize];
        long[] keyed = new long[queueSize];
        int n = 0;
        long slots = 0;
        for (int head = 0; head < queueSize; head++) {
            if (!isInflight(head)) {
                continue;
            }
            int num = descriptorCount(head);
            if (num < 1 || num > queueSize) {
                throw new GuestMemoryException("packed inflight region: inflight entry " + head + " heads a chain of "
                        + num + " descriptors, not 1.." + queueSize);
            }
            int at = head;
            for (int i = 0; i < num; i++) {
                if (at >= queueSize || held[at]) {
                    throw new GuestMemoryException("packed inflight region: chain of entry " + head + " reaches entry "
                            + at + (at >= queueSize ? " >= queue size " + queueSize : ", which another chain holds"));
                }
                held[at] = true;
                if (i + 1 < num) {
                    at = u16(entry(at) + D_NEXT);
                }
            }
            if (at != u16(entry(head) + D_LAST)) {
                throw new GuestMemoryException("packed inflight region: chain of entry " + head + " ends at entry "
                        + at + " but its last is " + u16(entry(head) + D_LAST));
            }
            slots += num;
            keyed[n++] = head;
        }
        if (slots > queueSize) {
            throw new GuestMemoryException("packed inflight region: inflight chains hold " + slots
                    + " descriptors, more than queue size " + queueSize);
        }
        rebuildFreeList(held);
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

    /** Links every entry not held by an inflight chain into the free list and commits it as the old state too. */
    private void rebuildFreeList(boolean[] held) {
        int first = -1;
        int prev = -1;
        for (int i = 0; i < queueSize; i++) {
            if (held[i]) {
                continue;
            }
            region.set(U8, entry(i) + D_INFLIGHT, (byte) 0);
            if (prev < 0) {
                first = i;
            } else {
                region.set(U16, entry(prev) + D_NEXT, (short) i);
            }
            prev = i;
        }
        if (prev >= 0) {
            region.set(U16, entry(prev) + D_NEXT, (short) queueSize);
        }
        // Every entry held: the ring is full and the list empty until a chain is used.
        region.set(U16, H_FREE_HEAD, (short) (first < 0 ? queueSize : first));
        commit();
    }

    /**
     * Returns the sum of the descriptor counts of the inflight chains: how far the avail position is ahead of the
     * used position. Call after {@link #recover}.
     *
     * @param heads the inflight head entries
     * @return the number of ring slots the inflight chains occupy
     */
    public int inflightSlots(int[] heads) {
        int sum = 0;
        for (int h : heads) {
            sum += descriptorCount(h);
        }
        return sum;
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

    // ---- helpers -----------------------------------------------------------------------------------------------

    private int u16(long offset) {
        return Short.toUnsignedInt(region.get(U16, offset));
    }

    /** Reads a u16 header index: an entry, or {@code desc_num} for an empty free list where {@code list} allows. */
    private int checkedHeader(long offset, String field) throws GuestMemoryException {
        int v = u16(offset);
        boolean list = offset == H_FREE_HEAD || offset == H_OLD_FREE_HEAD;
        if (v > queueSize || (v == queueSize && !list)) {
            throw new GuestMemoryException("packed inflight region " + field + " " + v + " >= queue size "
                    + queueSize);
        }
        return v;
    }

    private void setUsed(long idxOffset, long wrapOffset, int index, boolean wrap) {
        region.set(U16, idxOffset, (short) index);
        region.set(U8, wrapOffset, (byte) (wrap ? 1 : 0));
    }

    private void checkIndex(String what, int index) {
        if (index < 0 || index >= queueSize) {
            throw new IllegalArgumentException(what + " " + index + " >= queue size " + queueSize);
        }
    }

    private long entry(int index) {
        if (index < 0 || index >= queueSize) {
            throw new IndexOutOfBoundsException("descriptor state " + index + " >= queue size " + queueSize);
        }
        return HEADER_BYTES + DESC_STATE_BYTES * index;
    }
}
