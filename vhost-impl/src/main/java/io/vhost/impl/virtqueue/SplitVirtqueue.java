package io.vhost.impl.virtqueue;

import static io.vhost.impl.virtqueue.SplitRing.AVAIL_F_NO_INTERRUPT;
import static io.vhost.impl.virtqueue.SplitRing.DESC_BYTES;
import static io.vhost.impl.virtqueue.SplitRing.DESC_F_INDIRECT;
import static io.vhost.impl.virtqueue.SplitRing.DESC_F_NEXT;
import static io.vhost.impl.virtqueue.SplitRing.DESC_F_WRITE;
import static io.vhost.impl.virtqueue.SplitRing.IDX;
import static io.vhost.impl.virtqueue.SplitRing.LE64;
import static io.vhost.impl.virtqueue.SplitRing.U16;
import static io.vhost.impl.virtqueue.SplitRing.USED_F_NO_NOTIFY;
import static io.vhost.impl.virtqueue.SplitRing.hex;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.memory.DirtyLogHolder;
import io.vhost.impl.memory.InflightSplitQueue;
import io.vhost.impl.memory.MemoryTable;
import java.lang.System.Logger.Level;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * The device side of one split virtqueue (virtio 1.x §2.7) in guest memory.
 *
 * <p>Life cycle, driven by the back-end engine: construct with the queue size ({@code SET_VRING_NUM}), set the
 * negotiated features, {@link #setNextAvail} ({@code SET_VRING_BASE}), {@link #configure} with the ring's front-end
 * user addresses ({@code SET_VRING_ADDR}; re-reads the used index from guest memory), {@link #remap} after every
 * memory table change, {@link #nextAvail()} for {@code GET_VRING_BASE}.
 *
 * <p>Guest memory is untrusted: every chain is validated when popped (indices below the queue size, at most
 * queue-size hops, indirect table rules, lengths, addresses mapped). The first violation raises
 * {@link GuestMemoryException} and marks this ring broken; later calls fail with "ring N is broken: first cause".
 *
 * <p>Allocation: none in the steady state. Chain objects come from the queue's {@link ChainPool} and go back to it
 * when the device returns their head ({@link #fillUsed}, {@link #addUsed}). A head the driver makes available again
 * while the device still holds it gets an object of its own, outside the pool, and the first object goes back only
 * once every chain of that head was returned.
 *
 * <p>Not thread-safe: one worker drives a queue; configuration calls must not race with it.
 */
public final class SplitVirtqueue implements Virtqueue {

    private static final System.Logger LOG = System.getLogger(SplitVirtqueue.class.getName());
    private static final int MAX_INDIRECT_ENTRIES = 65536;

    private final int queueIndex;
    private final int size;
    private final int mask;

    private boolean eventIdx;
    private boolean notifyOnEmpty;

    private long descUser;
    private long availUser;
    private long usedUser;
    private MemoryTable table;
    private MemorySegment desc;
    private MemorySegment avail;
    private MemorySegment used;

    private DirtyLogHolder log;
    private long logGuestAddress;
    private boolean logUsed;

    private InflightSplitQueue inflight;
    private long inflightCounter;
    private int[] resubmit = new int[0];
    private int resubmitNext;
    /** The attached inflight region came from a previous back-end and set the ring's position. */
    private boolean inflightRecovered;

    private int lastAvail;
    /**
     * Entries after {@link #lastAvail} known to be available from the last read of the avail index (validated then):
     * {@link #pop()} reads the index again only when they are used up, once per burst instead of once per chain.
     * Zero whenever {@link #lastAvail} or the ring's memory changes otherwise.
     */
    private int availAhead;
    private int usedIdx;
    private int pendingUsed;
    private int inUse;
    /** Calls of {@link #pop()}, whatever they returned (the daemon tells a device that wants no buffer now). */
    private long popCalls;
    private int signalledUsed;
    private boolean signalledValid;
    private boolean notificationsDisabled;
    private final RingFault fault;

    private final ChainBuilder builder;
    private final ChainPool chains;
    /** Per head: the pooled chain object the device holds for it, or {@code null}. */
    private final RingChain[] heldByHead;

    /**
     * Creates an unconfigured queue.
     *
     * @param queueIndex the queue's index in the device
     * @param size the queue size, a power of two up to 32768
     * @throws IllegalArgumentException if the size is invalid
     */
    public SplitVirtqueue(int queueIndex, int size) {
        SplitRing.checkQueueSize(size);
        this.queueIndex = queueIndex;
        this.fault = new RingFault(queueIndex, "ring", LOG);
        this.size = size;
        this.mask = size - 1;
        this.builder = new ChainBuilder(queueIndex);
        this.chains = new ChainPool(this);
        this.heldByHead = new RingChain[size];
    }

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
     * @param eventIdxNegotiated {@code VIRTIO_F_RING_EVENT_IDX}
     * @param notifyOnEmptyNegotiated {@code VIRTIO_F_NOTIFY_ON_EMPTY}
     */
    public void setFeatures(boolean eventIdxNegotiated, boolean notifyOnEmptyNegotiated) {
        this.eventIdx = eventIdxNegotiated;
        this.notifyOnEmpty = notifyOnEmptyNegotiated;
        this.signalledValid = false;
    }

    /**
     * Sets the index of the next available entry to process ({@code SET_VRING_BASE}).
     *
     * @param index the next avail index, 0..65535
     * @throws IllegalArgumentException if out of range
     */
    public void setNextAvail(int index) {
        if (index < 0 || index > 0xffff) {
            throw new IllegalArgumentException("SET_VRING_BASE " + index + " for queue " + queueIndex
                    + " exceeds 65535 (split rings use 16-bit indices)");
        }
        lastAvail = index;
        availAhead = 0;
    }

    /**
     * Returns the index of the next available entry to process ({@code GET_VRING_BASE}).
     *
     * @return 0..65535
     */
    public int nextAvail() {
        return lastAvail;
    }

    /**
     * Returns the device's used index as last published; entries filled but not yet flushed are not counted.
     *
     * @return 0..65535
     */
    public int usedIndex() {
        return usedIdx;
    }

    /**
     * Lays the ring over guest memory from the front-end user addresses of {@code SET_VRING_ADDR}, and re-reads the
     * used index from guest memory (a rebooted guest has reset it; {@code SET_VRING_BASE} restores only avail).
     *
     * @param memory the current memory table
     * @param descUserAddress descriptor table, 16-byte aligned
     * @param availUserAddress available ring, 2-byte aligned
     * @param usedUserAddress used ring, 4-byte aligned
     * @throws GuestMemoryException if an address is misaligned or a ring part is not inside one region
     */
    public void configure(MemoryTable memory, long descUserAddress, long availUserAddress, long usedUserAddress)
            throws GuestMemoryException {
        checkAlign("descriptor table", descUserAddress, 16);
        checkAlign("available ring", availUserAddress, 2);
        checkAlign("used ring", usedUserAddress, 4);
        this.descUser = descUserAddress;
        this.availUser = availUserAddress;
        this.usedUser = usedUserAddress;
        remap(memory);
        try {
            usedIdx = Short.toUnsignedInt((short) IDX.getAcquire(used, 2L));
        } catch (IllegalStateException e) {
            throw new GuestMemoryException("queue " + queueIndex + ": used ring is no longer mapped", e);
        }
        pendingUsed = 0;
        inUse = 0;
        signalledValid = false;
        fault.clear();
    }

    private void checkAlign(String what, long address, int alignment) throws GuestMemoryException {
        if ((address & (alignment - 1)) != 0) {
            throw new GuestMemoryException("SET_VRING_ADDR for queue " + queueIndex + ": " + what + " address "
                    + hex(address) + " is not " + alignment + "-byte aligned");
        }
    }

    /**
     * Re-resolves the ring addresses against a new memory table ({@code SET_MEM_TABLE}, {@code ADD/REM_MEM_REG}).
     *
     * @param memory the new table
     * @throws GuestMemoryException if a ring part is no longer inside one region; the ring is then broken
     */
    public void remap(MemoryTable memory) throws GuestMemoryException {
        try {
            MemorySegment d = memory.sliceUser(descUser, SplitRing.descTableBytes(size));
            MemorySegment a = memory.sliceUser(availUser, SplitRing.availBytes(size));
            MemorySegment u = memory.sliceUser(usedUser, SplitRing.usedBytes(size));
            if (a.address() % 2 != 0 || u.address() % 4 != 0) {
                // Region user addresses and mappings disagree on alignment: atomic index access is impossible.
                throw new GuestMemoryException("avail/used ring map to misaligned host addresses "
                        + hex(a.address()) + "/" + hex(u.address()) + "; region mapping offsets must be page-aligned");
            }
            this.table = memory;
            this.desc = d;
            this.avail = a;
            this.used = u;
            this.availAhead = 0;
        } catch (GuestMemoryException e) {
            this.desc = null;
            throw broken(new GuestMemoryException("queue " + queueIndex + ": ring addresses (desc " + hex(descUser)
                    + ", avail " + hex(availUser) + ", used " + hex(usedUser) + ") do not map: " + e.getMessage(), e));
        }
    }

    /**
     * Enables dirty logging of this ring's writes ({@code VHOST_F_LOG_ALL}; {@code VHOST_VRING_F_LOG} for the used
     * ring).
     *
     * @param dirtyLog the session's log holder (writes are marked only while it is active), or {@code null}
     * @param usedRingLogAddress {@code log_guest_addr} of {@code SET_VRING_ADDR}: where used-ring writes are logged
     * @param logUsedRing whether {@code VHOST_VRING_F_LOG} is set
     */
    public void setDirtyLog(DirtyLogHolder dirtyLog, long usedRingLogAddress, boolean logUsedRing) {
        this.log = dirtyLog;
        this.logGuestAddress = usedRingLogAddress;
        this.logUsed = logUsedRing && dirtyLog != null;
    }

    /**
     * Attaches the queue's inflight region ({@code SET_INFLIGHT_FD}): initialises it if the front-end sent a fresh
     * one, otherwise recovers the heads to resubmit; {@link #pop()} returns those first, then continues the avail
     * ring at used idx + the number of resubmitted heads (whatever {@link #setNextAvail} said). Call after
     * {@link #configure}.
     *
     * @param region the queue's inflight region, or {@code null} to detach
     * @throws GuestMemoryException if the region is inconsistent
     */
    public void attachInflight(InflightSplitQueue region) throws GuestMemoryException {
        this.inflight = region;
        this.resubmit = new int[0];
        this.resubmitNext = 0;
        this.inflightRecovered = false;
        if (region == null) {
            return;
        }
        try {
            if (!region.isInitialized()) {
                region.initialize();
                region.commitBatch(0, usedIdx);
                inflightCounter = 0;
                return;
            }
            resubmit = region.recover(usedIdx);
            inflightRecovered = true;
            inflightCounter = region.nextCounter();
        } catch (GuestMemoryException e) {
            this.inflight = null;
            throw broken(new GuestMemoryException("queue " + queueIndex + ": " + e.getMessage(), e));
        } catch (IllegalStateException e) {
            this.inflight = null;
            throw unmapped(e);
        }
        // The previous back-end consumed exactly used idx + inflight avail entries (it marked heads in pop order and
        // cleared them only after publishing). The front-end's SET_VRING_BASE cannot be trusted here: after a
        // crash QEMU's GET_VRING_BASE fails ("vhost VQ 0 ring restore failed") and it restores last_avail_idx to
        // the used idx in guest memory, so the inflight heads would be popped a second time from the avail ring
        // and completed twice (the guest then sees "id N is not a head" and fails its I/O). libvhost-user and
        // DPDK resume at the same place.
        int resumeAt = (usedIdx + resubmit.length) & 0xffff;
        if (resumeAt != lastAvail) {
            LOG.log(Level.DEBUG, "queue {0}: next avail {1} (used idx {2} + {3} inflight) instead of the front-end''s"
                    + " base {4}", queueIndex, resumeAt, usedIdx, resubmit.length, lastAvail);
        }
        lastAvail = resumeAt;
        availAhead = 0;
        if (resubmit.length > 0) {
            LOG.log(Level.DEBUG, "queue {0}: {1} inflight descriptors to resubmit", queueIndex, resubmit.length);
        }
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

    private int availIdx() {
        return Short.toUnsignedInt((short) IDX.getAcquire(avail, 2L));
    }

    @Override
    public RingChain pop() throws GuestMemoryException {
        popCalls++;
        checkUsable();
        try {
            if (resubmitNext < resubmit.length) {
                int head = resubmit[resubmitNext++];
                RingChain chain = readChain(head);
                inUse++;
                return chain;
            }
            if (availAhead == 0) {
                int idx = availIdx(); // acquire: ring entries and descriptors are read after it
                int pending = (idx - lastAvail) & 0xffff;
                if (pending == 0) {
                    return null;
                }
                if (pending > size) {
                    throw broken(new GuestMemoryException("queue " + queueIndex + ": avail index " + idx + " is "
                            + pending + " entries ahead of next avail " + lastAvail + ", more than queue size "
                            + size));
                }
                availAhead = pending;
            }
            int head = Short.toUnsignedInt(avail.get(U16, 4 + 2L * (lastAvail & mask)));
            if (head >= size) {
                throw broken(new GuestMemoryException("queue " + queueIndex + ": avail ring entry " + lastAvail
                        + " holds head " + head + " >= queue size " + size));
            }
            RingChain chain = readChain(head);
            lastAvail = (lastAvail + 1) & 0xffff;
            availAhead--;
            if (eventIdx && !notificationsDisabled) {
                // Keep asking for a kick at the next entry, so a device that never calls enableNotification()
                // still gets kicks (libvhost-user does the same in vu_queue_pop).
                writeAvailEvent();
            }
            if (inflight != null) {
                inflight.markInflight(head, inflightCounter++);
            }
            inUse++;
            return chain;
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    private RingChain readChain(int head) throws GuestMemoryException {
        MemorySegment descs = desc;
        long tableLength = size;
        boolean indirect = false;
        int index = head;
        long hops = 0;
        RingChain held = heldByHead[head];
        // A head offered again while the device holds it gets an object of its own (the driver must not do that).
        builder.start(table, head, held == null ? chains.take() : new RingChain(this));
        while (true) {
            if (index >= tableLength) {
                throw broken(chainError(head, indirect ? "indirect descriptor index " + index
                        + " >= indirect table length " + tableLength : "descriptor index " + index
                        + " >= queue size " + size));
            }
            if (++hops > tableLength) {
                throw broken(chainError(head, "chain is longer than " + (indirect ? "the indirect table ("
                        + tableLength + " descriptors)" : "the queue size " + size) + ": descriptor loop"));
            }
            long off = DESC_BYTES * index;
            long addr = descs.get(LE64, off);
            long rest = descs.get(LE64, off + 8); // len u32, flags u16, next u16: one access
            long len = rest & 0xffff_ffffL;
            int flags = (int) (rest >>> 32) & 0xffff;
            int next = (int) (rest >>> 48);
            if ((flags & DESC_F_INDIRECT) != 0) {
                if (indirect) {
                    throw broken(chainError(head, "nested indirect descriptor " + index + " in indirect table"));
                }
                if ((flags & DESC_F_NEXT) != 0) {
                    throw broken(chainError(head, "descriptor " + index + " has both INDIRECT and NEXT flags"));
                }
                if (len == 0 || len % DESC_BYTES != 0) {
                    throw broken(chainError(head, "indirect table at " + hex(addr) + " has length " + len
                            + ", not a positive multiple of 16"));
                }
                if (len / DESC_BYTES > MAX_INDIRECT_ENTRIES) {
                    throw broken(chainError(head, "indirect table at " + hex(addr) + " has " + len / DESC_BYTES
                            + " entries, more than " + MAX_INDIRECT_ENTRIES));
                }
                try {
                    descs = table.slice(addr, len);
                } catch (GuestMemoryException e) {
                    throw broken(chainError(head, "indirect table: " + e.getMessage()));
                }
                tableLength = len / DESC_BYTES;
                indirect = true;
                index = 0;
                hops = 0;
                continue;
            }
            try {
                builder.add(addr, len, (flags & DESC_F_WRITE) != 0, index);
            } catch (GuestMemoryException e) {
                throw broken(e);
            }
            if ((flags & DESC_F_NEXT) == 0) {
                break;
            }
            index = next;
        }
        RingChain chain = builder.build(head, log, 1);
        if (held == null) {
            heldByHead[head] = chain;
        } else {
            held.alsoHeld(1);
        }
        return chain;
    }

    private GuestMemoryException chainError(int head, String what) {
        return new GuestMemoryException("queue " + queueIndex + ", head " + head + ": " + what);
    }

    /**
     * Writes a used element without publishing it; {@link #flushUsed()} publishes all filled elements at once. The
     * chain popped with this head is returned: its object may be filled again by a later {@link #pop()}.
     *
     * @param head the chain's head index
     * @param writtenBytes bytes written into the chain, 0..2^32-1
     * @throws GuestMemoryException if the ring is broken or unmapped
     */
    public void fillUsed(int head, long writtenBytes) throws GuestMemoryException {
        checkUsable();
        if (head < 0 || head >= size) {
            throw new IllegalArgumentException("used head " + head + " >= queue size " + size);
        }
        if (writtenBytes < 0 || writtenBytes > 0xffffffffL) {
            throw new IllegalArgumentException("used length " + writtenBytes + " is not a u32");
        }
        try {
            long slotOffset = 4 + 8L * ((usedIdx + pendingUsed) & mask);
            used.set(LE64, slotOffset, head | writtenBytes << 32); // id u32, len u32: one access
            if (logUsed) {
                log.mark(logGuestAddress + slotOffset, 8);
            }
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
        if (inflight != null) {
            inflight.addToBatch(head);
        }
        pendingUsed++;
        if (inUse > 0) {
            inUse--;
        }
        RingChain held = heldByHead[head];
        if (held != null) {
            if (held.alsoHeld() > 0) {
                held.alsoHeld(-1);
            } else {
                chains.give(held);
                heldByHead[head] = null;
            }
        }
    }

    /**
     * Publishes the filled used elements: stores the used index with release semantics (elements first).
     *
     * @throws GuestMemoryException if the ring is broken or unmapped
     */
    public void flushUsed() throws GuestMemoryException {
        checkUsable();
        if (pendingUsed == 0) {
            return;
        }
        int newIdx = (usedIdx + pendingUsed) & 0xffff;
        try {
            IDX.setRelease(used, 2L, (short) newIdx);
            if (logUsed) {
                log.mark(logGuestAddress + 2, 2);
            }
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
        if (inflight != null) {
            inflight.commitBatch(pendingUsed, newIdx);
        }
        usedIdx = newIdx;
        pendingUsed = 0;
    }

    @Override
    public void addUsed(DescriptorChain chain, long writtenBytes) throws GuestMemoryException {
        if (!(chain instanceof RingChain c) || c.queue() != this) {
            throw new IllegalArgumentException(chain + " was not popped from queue " + queueIndex);
        }
        if (writtenBytes < 0 || writtenBytes > chain.writableBytes()) {
            throw new IllegalArgumentException("used length " + writtenBytes + " for head " + chain.headIndex()
                    + " exceeds its " + chain.writableBytes() + " writable bytes");
        }
        fillUsed(chain.headIndex(), writtenBytes);
        flushUsed();
    }

    @Override
    public boolean needsNotification() throws GuestMemoryException {
        checkUsable();
        try {
            VarHandle.fullFence(); // the used idx store must be visible before reading flags / used_event
            if (notifyOnEmpty && inUse == 0 && resubmitNext >= resubmit.length && availIdx() == lastAvail) {
                return true;
            }
            if (!eventIdx) {
                return (Short.toUnsignedInt(avail.get(U16, 0)) & AVAIL_F_NO_INTERRUPT) == 0;
            }
            int old = signalledUsed;
            boolean valid = signalledValid;
            signalledUsed = usedIdx;
            signalledValid = true;
            if (!valid) {
                return true;
            }
            int usedEvent = Short.toUnsignedInt(avail.get(U16, SplitRing.usedEventOffset(size)));
            return SplitRing.needEvent(usedEvent, usedIdx, old);
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    @Override
    public void disableNotification() throws GuestMemoryException {
        checkUsable();
        notificationsDisabled = true;
        if (eventIdx) {
            return; // avail_event is simply not advanced until enableNotification()
        }
        try {
            short flags = used.get(U16, 0);
            used.set(U16, 0, (short) (flags | USED_F_NO_NOTIFY));
            if (logUsed) {
                log.mark(logGuestAddress, 2);
            }
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    /**
     * Tells whether a chain is ready to pop (the driver advanced the available index, or chains wait to be
     * resubmitted), without popping it and without touching notification state.
     *
     * @return {@code true} if {@link #pop()} would return a chain (or find a malformed one)
     * @throws GuestMemoryException if the ring is broken or its memory is gone
     */
    public boolean hasAvailable() throws GuestMemoryException {
        checkUsable();
        try {
            return resubmitNext < resubmit.length || availIdx() != lastAvail;
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    @Override
    public boolean enableNotification() throws GuestMemoryException {
        checkUsable();
        notificationsDisabled = false;
        try {
            if (eventIdx) {
                writeAvailEvent();
            } else {
                short flags = used.get(U16, 0);
                used.set(U16, 0, (short) (flags & ~USED_F_NO_NOTIFY));
                if (logUsed) {
                    log.mark(logGuestAddress, 2);
                }
            }
            VarHandle.fullFence(); // publish the request before re-checking: no lost kick
            return resubmitNext < resubmit.length || availIdx() != lastAvail;
        } catch (IllegalStateException e) {
            throw unmapped(e);
        }
    }

    private void writeAvailEvent() throws GuestMemoryException {
        long at = SplitRing.availEventOffset(size);
        used.set(U16, at, (short) lastAvail);
        if (logUsed) {
            log.mark(logGuestAddress + at, 2);
        }
    }

    /**
     * Tells whether notifications were disabled with {@link #disableNotification()} and not re-enabled.
     *
     * @return {@code true} if disabled
     */
    public boolean notificationsDisabled() {
        return notificationsDisabled;
    }

    /**
     * Returns the number of chains popped and not yet returned.
     *
     * @return the in-use count
     */
    public int inUse() {
        return inUse;
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
