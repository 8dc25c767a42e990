package io.vhost.impl.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.NativeCallException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.api.message.VringAddress;
import io.vhost.impl.poll.Poller;
import io.vhost.impl.sys.Epoll;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.virtqueue.DriverRing;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * A driver-side split virtqueue in {@link VmmMemory}, for VMM tests and benchmarks: the rings (laid out by
 * {@link DriverRing}), a kick eventfd the driver signals and a call eventfd the back-end signals, waited for through
 * the FFM poller (never a blocking read on a virtual thread).
 *
 * <p>Owns its two eventfds; the ring memory belongs to the {@link VmmMemory}. One driver thread at a time.
 */
public final class DriverQueue implements AutoCloseable {

    private static final long WAIT_SLICE_NANOS = Duration.ofMillis(50).toNanos();

    private final int index;
    private final int size;
    private final VmmMemory memory;
    private final DriverRing ring;
    private final long descGpa;
    private final long availGpa;
    private final long usedGpa;
    private final OwnedFd kick;
    private final OwnedFd call;
    private final Poller.Interest callInterest;

    /**
     * Allocates the rings in guest memory and creates the eventfds.
     *
     * @param memory guest memory to allocate the rings in
     * @param index the queue index
     * @param size the queue size, a power of two up to 32768
     * @throws NativeCallException if an eventfd cannot be created
     */
    public DriverQueue(VmmMemory memory, int index, int size) throws VhostException {
        this.memory = memory;
        this.index = index;
        this.size = size;
        this.descGpa = memory.allocate(DriverRing.descTableBytes(size), 4096);
        this.availGpa = memory.allocate(DriverRing.availBytes(size), 4096);
        this.usedGpa = memory.allocate(DriverRing.usedBytes(size), 4096);
        this.ring = new DriverRing(size, memory.segment(descGpa, DriverRing.descTableBytes(size)),
                memory.segment(availGpa, DriverRing.availBytes(size)),
                memory.segment(usedGpa, DriverRing.usedBytes(size)));
        OwnedFd k = EventFds.create(EventFds.EFD_NONBLOCK, "kick eventfd of queue " + index);
        try {
            this.call = EventFds.create(EventFds.EFD_NONBLOCK, "call eventfd of queue " + index);
        } catch (NativeCallException | RuntimeException e) {
            k.close();
            throw e;
        }
        this.kick = k;
        this.callInterest = Poller.shared().interest(call.number());
    }

    /** @return the queue index */
    public int index() {
        return index;
    }

    /** @return the queue size */
    public int size() {
        return size;
    }

    /** @return the underlying ring (to add raw heads or suppress interrupts) */
    public DriverRing ring() {
        return ring;
    }

    /** @return the kick eventfd, owned by this queue */
    public Fd kickFd() {
        return kick;
    }

    /** @return the call eventfd, owned by this queue */
    public Fd callFd() {
        return call;
    }

    /**
     * Returns the ring addresses as {@code SET_VRING_ADDR} wants them: front-end user addresses.
     *
     * @return the address record for this queue
     * @throws VhostException if a ring lies outside guest memory (a bug)
     */
    public VringAddress address() throws VhostException {
        return new VringAddress(index, 0, memory.userAddress(descGpa), memory.userAddress(usedGpa),
                memory.userAddress(availGpa), usedGpa);
    }

    /**
     * Sets the queue up on a back-end: SET_VRING_NUM, SET_VRING_BASE 0, SET_VRING_ADDR, SET_VRING_CALL,
     * SET_VRING_KICK, then SET_VRING_ENABLE 1 when PROTOCOL_FEATURES was acked.
     *
     * @param frontend the front-end, after SET_FEATURES and SET_MEM_TABLE
     * @throws VhostException if the back-end refuses a step
     */
    public void setUp(VhostUserFrontend frontend) throws VhostException {
        frontend.setVringNum(index, size);
        frontend.setVringBase(index, ring.availIndex());
        frontend.setVringAddr(address());
        frontend.setVringCall(index, Optional.of(call));
        frontend.setVringKick(index, Optional.of(kick));
        if (frontend.ackedFeatures().contains(VirtioFeature.PROTOCOL_FEATURES)) {
            frontend.setVringEnable(index, true);
        }
    }

    /**
     * Adds a chain: device-readable buffers first, then device-writable ones (guest addresses). Not yet visible to
     * the device until {@link #kick()}.
     *
     * @param readable buffers the device reads
     * @param writable buffers the device writes
     * @return the head index, or -1 if there are not enough free descriptors
     */
    public int add(List<DriverRing.Buffer> readable, List<DriverRing.Buffer> writable) {
        return ring.add(readable, writable);
    }

    /**
     * Publishes added chains and signals the kick eventfd.
     *
     * @throws NativeCallException if the eventfd write fails
     */
    public void kick() throws NativeCallException {
        ring.publish();
        EventFds.signal(kick.number(), 1);
    }

    /**
     * Reaps one used element if there is one.
     *
     * @return the element, or {@code null}
     */
    public DriverRing.Used poll() {
        return ring.poll();
    }

    /**
     * Waits for the next used element: reaps it if present, otherwise waits for the call eventfd through the poller
     * (in slices, re-checking the used ring, so a notification the device suppressed cannot hang the wait).
     *
     * @param timeout the longest wait
     * @return the element, or {@code null} on timeout
     * @throws IOException if waiting fails or the thread is interrupted
     */
    public DriverRing.Used awaitUsed(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            DriverRing.Used u = ring.poll();
            if (u != null) {
                return u;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return null;
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedIOException("interrupted while waiting for used buffers of queue " + index);
            }
            if (callInterest.awaitSoon(Epoll.EPOLLIN, Math.min(left, WAIT_SLICE_NANOS))) {
                EventFds.drain(call.number());
            }
        }
    }

    /**
     * Returns the used index the device last published (the base to replay after a back-end crash).
     *
     * @return the device's used index
     */
    public int deviceUsedIndex() {
        return ring.deviceUsedIndex();
    }

    /** Closes both eventfds. Idempotent. */
    @Override
    public void close() {
        kick.close();
        call.close();
    }
}
