package io.vhost.impl.virtqueue;

import static io.vhost.impl.virtqueue.SplitRing.DESC_BYTES;
import static io.vhost.impl.virtqueue.SplitRing.DESC_F_INDIRECT;
import static io.vhost.impl.virtqueue.SplitRing.DESC_F_NEXT;
import static io.vhost.impl.virtqueue.SplitRing.DESC_F_WRITE;
import static io.vhost.impl.virtqueue.SplitRing.IDX;
import static io.vhost.impl.virtqueue.SplitRing.LE64;
import static io.vhost.impl.virtqueue.SplitRing.U16;
import static io.vhost.impl.virtqueue.SplitRing.U32;
import static io.vhost.impl.virtqueue.SplitRing.U64;
import static io.vhost.impl.virtqueue.SplitRing.hex;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.memory.DirtyLogHolder;
import io.vhost.impl.memory.InflightPackedQueue;
import io.vhost.impl.memory.InflightPackedQueue.SavedDescriptor;
import io.vhost.impl.memory.MemoryTable;
import java.lang.System.Logger.Level;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * The device side of one packed virtqueue (virtio 1.1 §2.8): a descriptor ring with avail/used wrap counters, the
 * driver event suppression area (read) and the device event suppression area (written).
 *
 * <p>Life cycle as {@link SplitVirtqueue}: construct with the size, {@link #setFeatures}, {@link #setBase}
 * ({@code SET_VRING_BASE}, packed encoding), {@link #configure} with the front-end user addresses of the descriptor
 * ring, driver area and device area, {@link #remap} after memory changes, {@link #base()} for
 * {@code GET_VRING_BASE}.
 *
 * <p>Validation matches the split ring: a chain longer than the queue size, an indirect descriptor inside a chain or
 * with NEXT, an indirect table whose length is not a positive multiple of 16, lengths over 2^32-1 and unmapped
 * addresses raise {@link GuestMemoryException} and break this ring. Inside an indirect table only the WRITE flag is
 * honoured (the spec reserves the others), so nested indirection is impossible by construction.
 *
 * <p>Dirty logging marks used descriptor writes at the descriptor ring's guest-physical address and device-area
 * writes at its guest-physical address.
 *
 * <p>Inflight I/O tracking ({@link #attachInflight}, {@code DescStatePacked}): each popped chain's descriptors are
 * saved in the inflight region after the chain is validated; a used chain is linked back to the region's free list
 * and the used index advanced before its used descriptor's flags are written, and the update is committed after. On
 * reconnect the ring resumes where the region says, whatever {@code SET_VRING_BASE} said.
 *
 * <p>Allocation: none in the steady state. Chain objects come from the queue's {@link ChainPool} and go back to it
 * when the device returns them ({@link #addUsed}).
 *
 * <p>Not thread-safe: one worker per queue.
 */
public final class PackedVirtqueue implements Virtqueue {

    private static final System.Logger LOG = System.getLogger(PackedVirtqueue.class.getName());

    /** {@code VIRTQ_DESC_F_AVAIL}. */
    static final int F_AVAIL = 1 << 7;
    /** {@code VIRTQ_DESC_F_USED}. */
    static final int F_USED = 1 << 15;
    /** {@code RING_EVENT_FLAGS_ENABLE}. */
    static final int EVENT_ENABLE = 0;
    /** {@code RING_EVENT_FLAGS_DISABLE}. */
    static final int EVENT_DISABLE = 1;
    /** {@code RING_EVENT_FLAGS_DESC}. */
    static final int EVENT_DESC = 2;
    private static final int MAX_INDIRECT_ENTRIES = 65536;

    private final int queueIndex;
    private final int size;
    private final ChainBuilder builder;
    private final ChainPool chains;

    private boolean eventIdx;
    private long descUser;
    private long driverUser;
    private long deviceUser;
    private MemoryTable table;
    private MemorySegment desc;
    private MemorySegment driverArea;
    private MemorySegment deviceArea;
    private long descGpa;
    private long deviceGpa;
    private DirtyLogHolder log;

    private int nextAvail;
    private boolean availWrap = true;
    /** Calls of {@link #pop()}, whatever they returned (the daemon tells a device that wants no buffer now). */
    private long popCalls;
    private int nextUsed;
    private boolean usedWrap = true;
    private int signalledUsed;
    private boolean signalledWrap;
    private boolean signalledValid;
    private final RingFault fault;
    /** Ring slots of chains popped and not yet used; at most the queue size. */
    private int outstandingSlots;

    private InflightPackedQueue inflight;
    private long inflightCounter;
    private int[] resubmit = new int[0];
    private int resubmitNext;
    /** The attached inflight region came from a previous back-end and set the ring's position. */
    private boolean inflightRecovered;
    /** The descriptors of the chain being popped, saved into the inflight region once it is valid. */
    private long[] fetchedAddr = new long[0];
    private long[] fetchedLen = new long[0];
    private int[] fetchedIdFlags = new int[0];

    /**
     * Creates an unconfigured queue.
     *
     * @param queueIndex the queue's index in the device
     * @param size the queue size, 1..32768 (packed rings need not be a power of two)
     * @throws IllegalArgumentException if the size is out of range
     */
    public PackedVirtqueue(int queueIndex, int size) {
        if (size < 1 || size > SplitRing.MAX_QUEUE_SIZE) {
            throw new IllegalArgumentException("packed queue size " + size + " is not in 1.."
                    + SplitRing.MAX_QUEUE_SIZE);
        }
        this.queueIndex = queueIndex;
        this.fault = new RingFault(queueIndex, "packed ring", LOG);
        this.size = size;
        this.builder = new ChainBuilder(queueIndex);
        this.chains = new ChainPool(this);
    }

    /**
     * Returns the descriptor ring size in bytes.
     *
     * @param size the queue size
     * @return {@code 16 * size}
     */
    public static long descRingBytes(int size) {
        return DESC_BYTES * size;
    }

    /** Size of each event suppression area: {@code off_wrap u16, flags u16}. */
    public static final long EVENT_AREA_BYTES = 4;

    @Override
    public int queueIndex() {
        return queueIndex;
    }

    @Override
    public int size() {
        return size;
    }

    /**
     * Applies negotiated features.
     *
     * @param eventIdxNegotiated {@code VIRTIO_F_RING_EVENT_IDX}: enables {@code RING_EVENT_FLAGS_DESC}
     */
    public void setFeatures(boolean eventIdxNegotiated) {
        this.eventIdx = eventIdxNegotiated;
        this.signalledValid = false;
    }

    /**
     * Restores the ring position ({@code SET_VRING_BASE}, packed encoding): bits 0-14 next avail index, bit 15 avail
     * wrap counter, bits 16-30 next used index, bit 31 used wrap counter.
     *
     * <p>Front-ends that predate the used half (DPDK 22.11 virtio-user sends {@code 0x8000} for a fresh ring, QEMU
     * 7.2 the avail half only) leave bits 16-31 zero: the used position is then the avail position, which is what it
     * is on a stopped ring whose chains were all completed (DPDK's vhost library reads the value the same way).
     * Taking "used 0, wrap 0" literally would make the device write used descriptors with the wrong wrap counter,
     * which the driver never sees as used: it stalls after one ring's worth.
     *
     * @param num the 32-bit value of the request
     * @throws IllegalArgumentException if an index is not below the queue size
     */
    public void setBase(int num) {
        int avail = num & 0x7fff;
        int used = (num >>> 16) & 0x7fff;
        if (avail >= size || used >= size) {
            throw new IllegalArgumentException("SET_VRING_BASE " + hex(Integer.toUnsignedLong(num)) + " for packed queue "
                    + queueIndex + ": avail index " + avail + " or used index " + used + " >= queue size " + size);
        }
        nextAvail = avail;
        availWrap = (num & 0x8000) != 0;
        if ((num >>> 16) == 0) {
            nextUsed = avail;
            usedWrap = availWrap;
        } else {
            nextUsed = used;
            usedWrap = (num & 0x8000_0000) != 0;
        }
        signalledValid = false;
        outstandingSlots = 0;
    }

    /**
     * Returns the ring position for {@code GET_VRING_BASE}, encoded as {@link #setBase} expects.
     *
     * @return the packed 32-bit state
     */
    public int base() {
        return nextAvail | (availWrap ? 0x8000 : 0) | (nextUsed << 16) | (usedWrap ? 0x8000_0000 : 0);
    }

    /**
     * Lays the ring over guest memory from the front-end user addresses of {@code SET_VRING_ADDR}.
     *
     * @param memory the current table
     * @param descUserAddress descriptor ring, 16-byte aligned
     * @param driverAreaUserAddress driver event suppression, 4-byte aligned
     * @param deviceAreaUserAddress device event suppression, 4-byte aligned
     * @throws GuestMemoryException if an address is misaligned or not inside one region
     */
    public void configure(MemoryTable memory, long descUserAddress, long driverAreaUserAddress,
                          long deviceAreaUserAddress) throws GuestMemoryException {
        checkAlign("descriptor ring", descUserAddress, 16);
        checkAlign("driver area", driverAreaUserAddress, 4);
        checkAlign("device area", deviceAreaUserAddress, 4);
        this.descUser = descUserAddress;
        this.driverUser = driverAreaUserAddress;
        this.deviceUser = deviceAreaUserAddress;
        fault.clear();
        remap(memory);
        signalledValid = false;
    }

    private void checkAlign(String what, long address, int alignment) throws GuestMemoryException {
        if ((address & (alignment - 1)) != 0) {
            throw new GuestMemoryException("SET_VRING_ADDR for queue " + queueIndex + ": " + what + " address "
                    + hex(address) + " is not " + alignment + "-byte aligned");
        }
    }

    /**
     * Re-resolves the ring against a new memory table.
     *
     * @param memory the new table
     * @throws GuestMemoryException if the ring no longer maps; the ring is then broken
     */
    public void remap(MemoryTable memory) throws GuestMemoryException {
        try {
            MemorySegment d = memory.sliceUser(descUser, descRingBytes(size));
            MemorySegment drv = memory.sliceUser(driverUser, EVENT_AREA_BYTES);
            MemorySegment dev = memory.sliceUser(deviceUser, EVENT_AREA_BYTES);
            if (d.address() % 2 != 0) {
                throw new GuestMemoryException("descriptor ring maps to misaligned host address " + hex(d.address())
                        + "; region mapping offsets must be page-aligned");
            }
            descGpa = memory.userToGuest(descUser);
            deviceGpa = memory.userToGuest(deviceUser);
            table = memory;
            desc = d;
            driverArea = drv;
            deviceArea = dev;
        } catch (GuestMemoryException e) {
            desc = null;
            throw broken(new GuestMemoryException("queue " + queueIndex + ": packed ring addresses (desc "
                    + hex(descUser) + ", driver " + hex(driverUser) + ", device " + hex(deviceUser)
                    + ") do not map: " + e.getMessage(), e));
        }
    }

    /**
     * Enables dirty logging of this ring's writes.
     *
     * @param dirtyLog the session's log holder, or {@code null}
     */
    public void setDirtyLog(DirtyLogHolder dirtyLog) {
        this.log = dirtyLog;
    }

    /**
     * Tells whether the last {@link #attachInflight} recovered a region a previous back-end used: the ring's position
     * then came from that region, not from {@code SET_VRING_BASE}.
     *
     * @return {@code true} if the position was recovered
     */
    public boolean inflightRecovered() {
        return inflightRecovered;
    }

    /**
     * Tells whether the ring was broken by malformed guest data.
     *
     * @return {@code true} if broken
     */
    public boolean isBroken() {
        return fault.isBroken();
    }

    private void checkUsable() throws GuestMemoryException {
        fault.check();
        if (desc == null) {
            throw new IllegalStateException("queue " + queueIndex + " has no ring addresses (SET_VRING_ADDR missing)");
        }
    }

    private GuestMemoryException broken(GuestMemoryException e) {
        return fault.record(e);
    }

    /**
     * Breaks the ring from outside (the daemon could not start it, e.g. its inflight region does not fit); the
     * first cause is kept and later calls fail fast with it.
     *
     * @param cause what went wrong
     * @return {@code cause}, for throwing
     */
    public GuestMemoryException markBroken(GuestMemoryException cause) {
        return fault.record(cause);
    }

    private GuestMemoryException unmapped(IllegalStateException e) {
        return fault.unmapped(e);
    }

    private static boolean isAvailable(int flags, boolean wrap) {
        boolean avail = (flags & F_AVAIL) != 0;
        boolean used = (flags & F_USED) != 0;
        return avail == wrap && used != wrap;
    }

    private int flagsAcquire(int index) {
        return Short.toUnsignedInt((short) IDX.getAcquire(desc, DESC_BYTES * index + 14));
    }

    @Override
    public RingChain pop() throws GuestMemoryException {
        popCalls++;
        RingChain chain = fetch();
        if (chain != null) {
            track(chain);
        }
        return chain;
    }

    /** Pops the next chain (a resubmitted one first) without recording it in the inflight region. */
    RingChain fetch() throws GuestMemoryException {
        checkUsable();
        if (resubmitNext < resubmit.length) {
            return resubmitted(resubmit[resubmitNext++]);
        }
        try {
            int headFlags = flagsAcquire(nextAvail); // acquire: the chain's descriptors are read after it
            if (!isAvailable(headFlags, availWrap)) {
                return null;
            }
            int index = nextAvail;
            boolean wrap = availWrap;
            int count = 0;
            builder.start(table, index, chains.take());
            while (true) {
                if (count == size) {
                    throw broken(builder.error("chain is longer than the queue size " + size));
                }
                long off = DESC_BYTES * index;
                long rest = desc.get(LE64, off + 8); // len u32, id u16, flags u16: one access
                int flags = count == 0 ? headFlags : (int) (rest >>> 48);
                if (count > 0 && !isAvailable(flags, wrap)) {
                    throw broken(builder.error("descriptor " + index + " continues the chain but is not available"));
                }
                long addr = desc.get(LE64, off);
                long len = rest & 0xffff_ffffL;
                int id = (int) (rest >>> 32) & 0xffff;
                if (inflight != null) {
                    fetchedAddr[count] = addr;
                    fetchedLen[count] = len;
                    fetchedIdFlags[count] = id << 16 | flags;
                }
                count++;
                index++;
                if (index == size) {
                    index = 0;
                    wrap = !wrap;
                }
                if ((flags & DESC_F_INDIRECT) != 0) {
                    if (count != 1 || (flags & DESC_F_NEXT) != 0) {
                        throw broken(builder.error("indirect descriptor " + ((index + size - 1) % size)
                                + " is part of a chain"));
                    }
                    readIndirect(addr, len);
                    return finish(id, count, index, wrap);
                }
                try {
                    builder.add(addr, len, (flags & DESC_F_WRITE) != 0, (index + size - 1) % size);
                } catch (GuestMemoryException e) {
                    throw broken(e);
                }
                if ((flags & DESC_F_NEXT) == 0) {
                    return finish(id, count, index, wrap);
                }
            }
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    private RingChain finish(int id, int count, int index, boolean wrap) throws GuestMemoryException {
        if (outstandingSlots + count > size) {
            throw broken(builder.error("the driver made " + (outstandingSlots + count) + " descriptors available"
                    + " before the device returned them, more than the queue size " + size));
        }
        nextAvail = index;
        availWrap = wrap;
        outstandingSlots += count;
        return builder.build(id, log, count);
    }

    /**
     * Records a chain just fetched from the descriptor ring in the inflight region (spec: "When receiving available
     * buffers"), descriptor by descriptor; a no-op without a region or for a resubmitted chain.
     */
    void track(RingChain chain) throws GuestMemoryException {
        InflightPackedQueue region = inflight;
        if (region == null || chain.inflightEntry() >= 0) {
            return;
        }
        int n = chain.descriptorCount();
        long counter = inflightCounter++;
        int entry = -1;
        try {
            for (int i = 0; i < n; i++) {
                int idFlags = fetchedIdFlags[i];
                entry = region.recordDescriptor(i == 0, i == n - 1, fetchedAddr[i], fetchedLen[i], idFlags >>> 16,
                        idFlags & 0xffff, counter);
            }
        } catch (IllegalStateException e) {
            throw broken(new GuestMemoryException("queue " + queueIndex + ": the inflight region is no longer mapped",
                    e));
        } catch (GuestMemoryException e) {
            throw broken(e);
        }
        chain.inflightEntry(entry);
    }

    /** Rebuilds an inflight chain of a previous back-end from the descriptors its region entries saved. */
    private RingChain resubmitted(int headEntry) throws GuestMemoryException {
        SavedDescriptor[] saved;
        try {
            saved = inflight.savedChain(headEntry);
        } catch (GuestMemoryException e) {
            throw broken(e);
        }
        int num = saved.length;
        builder.start(table, headEntry, chains.take());
        for (int i = 0; i < num; i++) {
            SavedDescriptor d = saved[i];
            boolean more = (d.flags() & DESC_F_NEXT) != 0;
            if (more != (i + 1 < num)) {
                throw broken(builder.error("inflight entry " + headEntry + " saved " + num + " descriptors but"
                        + " descriptor " + i + (more ? " has" : " lacks") + " the NEXT flag"));
            }
            if ((d.flags() & DESC_F_INDIRECT) != 0) {
                if (num != 1) {
                    throw broken(builder.error("saved indirect descriptor " + i + " is part of a chain"));
                }
                readIndirect(d.addr(), d.len());
            } else {
                try {
                    builder.add(d.addr(), d.len(), (d.flags() & DESC_F_WRITE) != 0, i);
                } catch (GuestMemoryException e) {
                    throw broken(e);
                }
            }
        }
        RingChain chain = builder.build(saved[num - 1].id(), log, num);
        chain.inflightEntry(headEntry);
        return chain;
    }

    /**
     * Attaches the queue's inflight region ({@code SET_INFLIGHT_FD}). A fresh region is initialised at the ring's
     * current used position. A region a previous back-end used is recovered: an interrupted used update is committed
     * if its descriptor reached the ring (the slot at {@code old_used_idx} no longer shows the driver's available
     * flags for {@code old_used_wrap_counter}) or rolled back otherwise; then the used position comes from the
     * region, the avail position is the used position plus the descriptors of the inflight chains, and
     * {@link #pop()} returns those chains first, in fetch order, rebuilt from the descriptors the region saved.
     * Call after {@link #configure} and {@link #setBase}.
     *
     * @param region the queue's inflight region, or {@code null} to detach
     * @throws GuestMemoryException if the region is inconsistent; the ring is then broken
     */
    public void attachInflight(InflightPackedQueue region) throws GuestMemoryException {
        this.inflight = region;
        this.resubmit = new int[0];
        this.resubmitNext = 0;
        this.inflightRecovered = false;
        if (region == null) {
            return;
        }
        if (desc == null) {
            throw new IllegalStateException("queue " + queueIndex + " has no ring addresses (SET_VRING_ADDR missing)");
        }
        if (fetchedAddr.length < size) {
            fetchedAddr = new long[size];
            fetchedLen = new long[size];
            fetchedIdFlags = new int[size];
        }
        try {
            if (!region.isInitialized()) {
                region.initialize(nextUsed, usedWrap);
                inflightCounter = 0;
                return;
            }
            int oldUsed = region.oldUsedIndex();
            if (oldUsed >= size) {
                throw new GuestMemoryException("packed inflight region old_used_idx " + oldUsed + " >= queue size "
                        + size);
            }
            boolean written = !isAvailable(flagsAcquire(oldUsed), region.oldUsedWrap());
            int[] heads = region.recover(written);
            inflightRecovered = true;
            int slots = region.inflightSlots(heads);
            int frontEndBase = base();
            nextUsed = region.usedIndex();
            usedWrap = region.usedWrap();
            nextAvail = nextUsed + slots;
            availWrap = usedWrap;
            if (nextAvail >= size) {
                nextAvail -= size;
                availWrap = !availWrap;
            }
            outstandingSlots = slots;
            inflightCounter = region.nextCounter();
            resubmit = heads;
            signalledValid = false;
            if (base() != frontEndBase) {
                LOG.log(Level.DEBUG, "queue {0}: packed ring resumes at avail {1} used {2} (inflight region, {3}"
                        + " inflight descriptors) instead of the front-end''s base {4}", queueIndex,
                        hex(availPosition()), hex(usedPosition()), slots, hex(Integer.toUnsignedLong(frontEndBase)));
            }
            if (heads.length > 0) {
                LOG.log(Level.DEBUG, "queue {0}: {1} inflight descriptors to resubmit", queueIndex, heads.length);
            }
        } catch (GuestMemoryException e) {
            throw broken(new GuestMemoryException("queue " + queueIndex + ": " + e.getMessage(), e));
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    private void readIndirect(long addr, long len) throws GuestMemoryException {
        if (len == 0 || len % DESC_BYTES != 0) {
            throw broken(builder.error("indirect table at " + hex(addr) + " has length " + len
                    + ", not a positive multiple of 16"));
        }
        if (len / DESC_BYTES > MAX_INDIRECT_ENTRIES) {
            throw broken(builder.error("indirect table at " + hex(addr) + " has " + len / DESC_BYTES
                    + " entries, more than " + MAX_INDIRECT_ENTRIES));
        }
        MemorySegment indirect;
        try {
            indirect = table.slice(addr, len);
        } catch (GuestMemoryException e) {
            throw broken(builder.error("indirect table: " + e.getMessage()));
        }
        int entries = (int) (len / DESC_BYTES);
        for (int i = 0; i < entries; i++) {
            long off = DESC_BYTES * i;
            int flags = Short.toUnsignedInt(indirect.get(U16, off + 14));
            try {
                builder.add(indirect.get(U64, off), Integer.toUnsignedLong(indirect.get(U32, off + 8)),
                        (flags & DESC_F_WRITE) != 0, i);
            } catch (GuestMemoryException e) {
                throw broken(e);
            }
        }
    }

    @Override
    public void addUsed(DescriptorChain chain, long writtenBytes) throws GuestMemoryException {
        if (!(chain instanceof RingChain c) || c.queue() != this) {
            throw new IllegalArgumentException(chain + " was not popped from queue " + queueIndex);
        }
        if (writtenBytes < 0 || writtenBytes > chain.writableBytes()) {
            throw new IllegalArgumentException("used length " + writtenBytes + " for buffer id " + chain.headIndex()
                    + " exceeds its " + chain.writableBytes() + " writable bytes");
        }
        checkUsable();
        beginUsed(c);
        writeUsed(c, writtenBytes);
        commitUsed(c);
        chains.give(c);
    }

    /** Used update, step 1: the inflight region takes the chain's entries back and advances its used index. */
    void beginUsed(RingChain c) throws GuestMemoryException {
        if (inflight != null && c.inflightEntry() >= 0) {
            try {
                inflight.beginUsed(c.inflightEntry());
            } catch (GuestMemoryException e) {
                throw broken(e);
            } catch (IllegalStateException e) {
                throw unmapped(e);
            }
        }
    }

    /** Used update, step 2: the used descriptor, flags last; the guest may see it from here on. */
    void writeUsed(RingChain c, long writtenBytes) throws GuestMemoryException {
        long off = DESC_BYTES * nextUsed;
        int flags = (usedWrap ? F_AVAIL | F_USED : 0) | (writtenBytes > 0 ? DESC_F_WRITE : 0);
        try {
            desc.set(U32, off + 8, (int) writtenBytes);
            desc.set(U16, off + 12, (short) c.headIndex());
            IDX.setRelease(desc, off + 14, (short) flags); // id and len first, then the flags that publish them
            DirtyLogHolder l = log;
            if (l != null) {
                l.mark(descGpa + off, DESC_BYTES);
            }
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
        nextUsed += c.descriptorCount();
        if (nextUsed >= size) {
            nextUsed -= size;
            usedWrap = !usedWrap;
        }
        outstandingSlots = Math.max(0, outstandingSlots - c.descriptorCount());
    }

    /** Used update, step 3: the inflight region clears the chain's inflight mark and commits the update. */
    void commitUsed(RingChain c) throws GuestMemoryException {
        if (inflight != null && c.inflightEntry() >= 0) {
            try {
                inflight.commitUsed(c.inflightEntry());
            } catch (IllegalStateException e) {
                throw unmapped(e);
            }
        }
    }

    @Override
    public boolean needsNotification() throws GuestMemoryException {
        checkUsable();
        try {
            VarHandle.fullFence();
            int offWrap = Short.toUnsignedInt(driverArea.get(U16, 0));
            int flags = Short.toUnsignedInt(driverArea.get(U16, 2)) & 3;
            int old = signalledUsed;
            boolean oldWrap = signalledWrap;
            boolean valid = signalledValid;
            int now = nextUsed;
            boolean nowWrap = usedWrap;
            signalledUsed = now;
            signalledWrap = nowWrap;
            signalledValid = true;
            if (valid && old == now && oldWrap == nowWrap) {
                return false; // nothing used since the last decision
            }
            if (flags == EVENT_DISABLE) {
                return false;
            }
            if (flags != EVENT_DESC || !eventIdx || !valid) {
                return true;
            }
            // virtio 1.1 packed event: notify if the descriptor at (off, wrap) was written since the last decision.
            int off = offWrap & 0x7fff;
            boolean wrap = (offWrap & 0x8000) != 0;
            int oldIdx = old;
            if (now <= oldIdx) {
                oldIdx -= size;
            }
            if (wrap != nowWrap) {
                off -= size;
            }
            return SplitRing.needEvent(off & 0xffff, now & 0xffff, oldIdx & 0xffff);
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    @Override
    public void disableNotification() throws GuestMemoryException {
        checkUsable();
        writeDeviceEvent(0, EVENT_DISABLE);
    }

    /**
     * Tells whether a chain is ready to pop (the next descriptor is available in the current wrap, or chains wait to
     * be resubmitted), without popping it and without touching notification state.
     *
     * @return {@code true} if {@link #pop()} would return a chain (or find a malformed one)
     * @throws GuestMemoryException if the ring is broken or its memory is gone
     */
    public boolean hasAvailable() throws GuestMemoryException {
        checkUsable();
        try {
            return resubmitNext < resubmit.length || isAvailable(flagsAcquire(nextAvail), availWrap);
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    @Override
    public boolean enableNotification() throws GuestMemoryException {
        checkUsable();
        if (eventIdx) {
            writeDeviceEvent(nextAvail | (availWrap ? 0x8000 : 0), EVENT_DESC);
        } else {
            writeDeviceEvent(0, EVENT_ENABLE);
        }
        try {
            VarHandle.fullFence();
            return resubmitNext < resubmit.length || isAvailable(flagsAcquire(nextAvail), availWrap);
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    private void writeDeviceEvent(int offWrap, int flags) throws GuestMemoryException {
        try {
            deviceArea.set(U16, 0, (short) offWrap);
            deviceArea.set(U16, 2, (short) flags);
            DirtyLogHolder l = log;
            if (l != null) {
                l.mark(deviceGpa, EVENT_AREA_BYTES);
            }
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    /**
     * Returns the next descriptor index the device will read and its wrap counter, for tests and diagnostics.
     *
     * @return {@code nextAvail | availWrap << 15}
     */
    public int availPosition() {
        return nextAvail | (availWrap ? 0x8000 : 0);
    }

    /**
     * Returns where the next used descriptor is written and the used wrap counter.
     *
     * @return {@code nextUsed | usedWrap << 15}
     */
    public int usedPosition() {
        return nextUsed | (usedWrap ? 0x8000 : 0);
    }

    /**
     * Returns how many times {@link #pop()} was called on this ring, whatever it returned: the daemon ends a batch
     * in which the device did not even look for a buffer (a receive queue with nothing to deliver) instead of
     * calling it again at once because buffers are available.
     *
     * @return the count since the ring was created
     */
    public long popCalls() {
        return popCalls;
    }
}
