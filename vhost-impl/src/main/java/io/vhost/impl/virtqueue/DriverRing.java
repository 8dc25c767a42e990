package io.vhost.impl.virtqueue;

import static io.vhost.impl.virtqueue.SplitRing.DESC_BYTES;
import static io.vhost.impl.virtqueue.SplitRing.DESC_F_NEXT;
import static io.vhost.impl.virtqueue.SplitRing.DESC_F_WRITE;
import static io.vhost.impl.virtqueue.SplitRing.IDX;
import static io.vhost.impl.virtqueue.SplitRing.U16;
import static io.vhost.impl.virtqueue.SplitRing.U32;
import static io.vhost.impl.virtqueue.SplitRing.U64;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.List;

/**
 * The driver (guest) side of a split ring, for front-end tests and benchmarks: lays out the descriptor table,
 * available and used rings over segments the caller provides, adds buffer chains, publishes them with release
 * semantics and reaps used elements.
 *
 * <p>The driver trusts its own ring but not the device: a used element naming a head that is not in flight raises
 * {@link IllegalStateException}. Not thread-safe: one driver thread. Does not own the segments.
 */
public final class DriverRing {

    /**
     * One buffer of a chain, by guest-physical address.
     *
     * @param guestAddress where the buffer lies in guest memory
     * @param length its length in bytes (u32)
     */
    public record Buffer(long guestAddress, int length) {}

    /**
     * One reaped used element.
     *
     * @param head the chain's head index as returned by {@link #add}
     * @param length the byte count the device reported as written
     */
    public record Used(int head, long length) {}

    private final int size;
    private final MemorySegment desc;
    private final MemorySegment avail;
    private final MemorySegment used;
    private final int[] chainLength;
    private final int[] nextFree;
    private int freeHead;
    private int numFree;
    private int availIdx;
    private int lastUsed;
    private int publishedAvail;

    /**
     * Lays a fresh, zeroed ring over the segments.
     *
     * @param size the queue size, a power of two up to 32768
     * @param desc the descriptor table, at least {@link #descTableBytes(int)} bytes, 16-byte aligned
     * @param avail the available ring, at least {@link #availBytes(int)} bytes, 2-byte aligned
     * @param used the used ring, at least {@link #usedBytes(int)} bytes, 4-byte aligned
     * @throws IllegalArgumentException if a segment is too small or misaligned
     */
    public DriverRing(int size, MemorySegment desc, MemorySegment avail, MemorySegment used) {
        SplitRing.checkQueueSize(size);
        check("descriptor table", desc, descTableBytes(size), 16);
        check("available ring", avail, availBytes(size), 2);
        check("used ring", used, usedBytes(size), 4);
        this.size = size;
        this.desc = desc;
        this.avail = avail;
        this.used = used;
        desc.asSlice(0, descTableBytes(size)).fill((byte) 0);
        avail.asSlice(0, availBytes(size)).fill((byte) 0);
        used.asSlice(0, usedBytes(size)).fill((byte) 0);
        this.chainLength = new int[size];
        this.nextFree = new int[size];
        for (int i = 0; i < size; i++) {
            nextFree[i] = i + 1;
        }
        this.numFree = size;
    }

    private static void check(String what, MemorySegment s, long bytes, int align) {
        if (s.byteSize() < bytes || s.address() % align != 0) {
            throw new IllegalArgumentException(what + " segment of " + s.byteSize() + " bytes at 0x"
                    + Long.toHexString(s.address()) + " needs " + bytes + " bytes, " + align + "-byte aligned");
        }
    }

    /**
     * Returns the descriptor table size for a queue size.
     *
     * @param size the queue size
     * @return {@code 16 * size}
     */
    public static long descTableBytes(int size) {
        return SplitRing.descTableBytes(size);
    }

    /**
     * Returns the available ring size, {@code used_event} included.
     *
     * @param size the queue size
     * @return {@code 6 + 2 * size}
     */
    public static long availBytes(int size) {
        return SplitRing.availBytes(size);
    }

    /**
     * Returns the used ring size, {@code avail_event} included.
     *
     * @param size the queue size
     * @return {@code 6 + 8 * size}
     */
    public static long usedBytes(int size) {
        return SplitRing.usedBytes(size);
    }

    /**
     * Writes one descriptor into a table (for tests that build malformed chains or indirect tables by hand).
     *
     * @param table a descriptor table
     * @param index the entry
     * @param guestAddress buffer address
     * @param length buffer length (u32)
     * @param flags NEXT = 1, WRITE = 2, INDIRECT = 4
     * @param next the next index when NEXT is set
     */
    public static void writeDescriptor(MemorySegment table, int index, long guestAddress, int length, int flags,
                                       int next) {
        long off = DESC_BYTES * index;
        table.set(U64, off, guestAddress);
        table.set(U32, off + 8, length);
        table.set(U16, off + 12, (short) flags);
        table.set(U16, off + 14, (short) next);
    }

    /**
     * Returns the number of free descriptors.
     *
     * @return free descriptor count
     */
    public int freeDescriptors() {
        return numFree;
    }

    /**
     * Adds a chain: readable buffers first, then writable ones; visible to the device after {@link #publish()}.
     *
     * @param readable device-readable buffers
     * @param writable device-writable buffers
     * @return the head index, or {@code -1} if there are not enough free descriptors
     * @throws IllegalArgumentException if the chain is empty
     */
    public int add(List<Buffer> readable, List<Buffer> writable) {
        int n = readable.size() + writable.size();
        if (n == 0) {
            throw new IllegalArgumentException("a chain needs at least one buffer");
        }
        if (n > numFree) {
            return -1;
        }
        int head = freeHead;
        int index = head;
        int last = head;
        for (int i = 0; i < n; i++) {
            boolean write = i >= readable.size();
            Buffer b = write ? writable.get(i - readable.size()) : readable.get(i);
            int next = nextFree[index];
            writeDescriptor(desc, index, b.guestAddress(), b.length(), (write ? DESC_F_WRITE : 0)
                    | (i + 1 < n ? DESC_F_NEXT : 0), i + 1 < n ? next : 0);
            last = index;
            index = next;
        }
        freeHead = index;
        numFree -= n;
        chainLength[head] = n;
        nextFree[last] = -1;
        avail.set(U16, 4 + 2L * (availIdx & (size - 1)), (short) head);
        availIdx = (availIdx + 1) & 0xffff;
        return head;
    }

    /**
     * Puts a raw head into the available ring without touching descriptors (tests of malformed rings).
     *
     * @param head any value, even out of range
     */
    public void addRawHead(int head) {
        avail.set(U16, 4 + 2L * (availIdx & (size - 1)), (short) head);
        availIdx = (availIdx + 1) & 0xffff;
    }

    /** Makes added chains visible to the device: stores the avail index with release semantics. */
    public void publish() {
        IDX.setRelease(avail, 2L, (short) availIdx);
    }

    /**
     * Tells whether the device wants a kick for what was published since the last call (honours
     * {@code VRING_USED_F_NO_NOTIFY}, or {@code avail_event} when event-idx is used).
     *
     * @param eventIdx whether {@code VIRTIO_F_RING_EVENT_IDX} was negotiated
     * @return {@code true} if the driver should kick
     */
    public boolean needsKick(boolean eventIdx) {
        VarHandle.fullFence();
        int old = publishedAvail;
        publishedAvail = availIdx;
        if (eventIdx) {
            int availEvent = Short.toUnsignedInt(used.get(U16, SplitRing.availEventOffset(size)));
            return SplitRing.needEvent(availEvent, availIdx, old);
        }
        return (used.get(U16, 0) & SplitRing.USED_F_NO_NOTIFY) == 0;
    }

    /**
     * Sets {@code used_event}: with event-idx, the device interrupts once its used index passes this value.
     *
     * @param index the used index to be notified at
     */
    public void setUsedEvent(int index) {
        avail.set(U16, SplitRing.usedEventOffset(size), (short) index);
        VarHandle.fullFence();
    }

    /**
     * Sets or clears {@code VRING_AVAIL_F_NO_INTERRUPT}.
     *
     * @param suppress {@code true} to ask the device not to interrupt
     */
    public void setNoInterrupt(boolean suppress) {
        avail.set(U16, 0, (short) (suppress ? SplitRing.AVAIL_F_NO_INTERRUPT : 0));
        VarHandle.fullFence();
    }

    /**
     * Sets the driver's indices, as after a restore (tests of 16-bit wrap-around).
     *
     * @param availIndex the avail index the driver continues from (also stored in the ring)
     * @param usedIndex the used index the driver expects next (also stored in the ring)
     */
    public void resetIndices(int availIndex, int usedIndex) {
        availIdx = availIndex & 0xffff;
        publishedAvail = availIdx;
        lastUsed = usedIndex & 0xffff;
        IDX.setRelease(avail, 2L, (short) availIdx);
        IDX.setRelease(used, 2L, (short) lastUsed);
    }

    /**
     * Returns the device's used index, read with acquire semantics.
     *
     * @return 0..65535
     */
    public int deviceUsedIndex() {
        return Short.toUnsignedInt((short) IDX.getAcquire(used, 2L));
    }

    /**
     * Returns the driver's avail index.
     *
     * @return 0..65535
     */
    public int availIndex() {
        return availIdx;
    }

    /**
     * Reaps the next used element and frees its descriptors.
     *
     * @return the element, or {@code null} if the device has returned nothing new
     * @throws IllegalStateException if the device returned a head that is not in flight
     */
    public Used poll() {
        if (deviceUsedIndex() == lastUsed) {
            return null;
        }
        long slot = 4 + 8L * (lastUsed & (size - 1));
        int head = used.get(U32, slot);
        long len = Integer.toUnsignedLong(used.get(U32, slot + 4));
        if (head < 0 || head >= size || chainLength[head] == 0) {
            throw new IllegalStateException("device returned head " + head + " which is not in flight");
        }
        int n = chainLength[head];
        chainLength[head] = 0;
        int last = head;
        for (int i = 1; i < n; i++) {
            last = Short.toUnsignedInt(desc.get(U16, DESC_BYTES * last + 14));
        }
        nextFree[last] = freeHead;
        freeHead = head;
        numFree += n;
        lastUsed = (lastUsed + 1) & 0xffff;
        return new Used(head, len);
    }
}
