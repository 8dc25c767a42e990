package io.vhost.impl.daemon;

import io.vhost.api.Fd;
import io.vhost.api.backend.BackendHandler;
import io.vhost.api.backend.SessionContext;
import io.vhost.api.device.VhostUserDevice;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.error.NativeCallException;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.VringAddress;
import io.vhost.impl.memory.DirtyLog;
import io.vhost.impl.memory.DirtyLogHolder;
import io.vhost.impl.memory.MemoryView;
import io.vhost.impl.memory.SharedGuestMemory;
import io.vhost.impl.sys.Mapping;
import io.vhost.impl.sys.Mman;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Unistd;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The daemon framework: implements the engine's {@link BackendHandler} once for every {@link VhostUserDevice}, like
 * rust-vmm's vhost-user-backend or QEMU's libvhost-user. One instance serves one session.
 *
 * <ul>
 *   <li>Guest memory: each region fd is mapped {@code MAP_SHARED} at its offset; {@code SET_MEM_TABLE},
 *       {@code ADD_MEM_REG} and {@code REM_MEM_REG} publish a new table while rings run; each ring is re-resolved
 *       against the new table by its worker before its next batch; old mappings are unmapped once no worker
 *       holds them.</li>
 *   <li>Rings: split virtqueues, or packed ones when {@code VIRTIO_F_RING_PACKED} is acked (the framework offers it
 *       for every virtio 1.x device), laid out from the front-end user addresses of {@code SET_VRING_ADDR}, which
 *       also re-reads the used index of split rings (a rebooted guest reset it).</li>
 *   <li>Workers: one virtual thread per queue group ({@link VhostUserDevice#workerOf}), a child of the session;
 *       it parks in the FFM poller until a kick eventfd of its group is readable (no virtual thread blocks in a
 *       native call), runs {@link VhostUserDevice#handleQueue} with driver notifications disabled, and signals the
 *       call eventfd as the ring's suppression rules ({@code EVENT_IDX}, {@code NO_INTERRUPT}) say; the loop is
 *       {@link RingPasses}, the wait {@link QueueWorker}.</li>
 *   <li>No lost kick: a kick that arrives before the ring is enabled is remembered; enabling the ring wakes the
 *       worker, which then processes whatever is available (rust-vmm #247/#343).</li>
 *   <li>{@code GET_VRING_BASE} takes the ring's lock, which the worker holds for a whole batch: it returns only once
 *       every popped chain was completed (drain), then stops the ring, drops its kick and call fds and tells the
 *       device where the ring stopped ({@link VhostUserDevice#queueStopped(int, long)}, before the reply).</li>
 *   <li>A malformed ring is marked broken, logged, its error eventfd signalled; the other queues keep running.</li>
 *   <li>Migration and reconnection: {@code VHOST_F_LOG_ALL} with {@code LOG_SHMFD} (descriptor buffers and, with
 *       {@code VHOST_VRING_F_LOG}, the used ring are marked in the dirty log; a new log replaces the old one while
 *       rings run); {@code INFLIGHT_SHMFD} for split and packed rings (the framework allocates the inflight
 *       buffer laid out for the acked ring type, records popped chains, commits used ones, and resubmits inflight
 *       chains after a reconnect).</li>
 *   <li>Ring start: {@code SET_VRING_NUM}, {@code SET_VRING_BASE}, {@code SET_VRING_ADDR}, {@code SET_INFLIGHT_FD}
 *       and {@code SET_VRING_KICK} are only recorded; the ring's position is computed once, when the ring first
 *       becomes ready (started by its kick fd, enabled, laid out): the front-end's base, unless an inflight region
 *       of a previous back-end says where the ring really stands. So the order of those messages does not matter,
 *       and a {@code SET_VRING_ADDR} on a running ring (QEMU toggling {@code VHOST_VRING_F_LOG}) or a late
 *       {@code SET_VRING_BASE} does not move a recovered ring.</li>
 * </ul>
 *
 * <p>Not offered yet: IOTLB, postcopy, device state transfer, in-band notifications.
 */
public final class DeviceBackend implements BackendHandler {

    private static final Logger LOG = System.getLogger(DeviceBackend.class.getName());

    private final VhostUserDevice device;
    private final SessionContext session;
    private final Vring[] rings;
    private final Map<Integer, List<Vring>> groups = new LinkedHashMap<>();
    private final QueueWorker[] workerOfRing;
    private final List<QueueWorker> workers = new ArrayList<>();
    /** Guards {@link #workers}, {@link #closed} and the inflight buffer fields. */
    private final ReentrantLock stateLock = new ReentrantLock();
    private final RegionMappings regions = new RegionMappings();
    private final RingPasses passes;
    private final DirtyLogHolder dirtyLog = new DirtyLogHolder();
    private OwnedFd logFd;
    /** The inflight buffer (GET/SET_INFLIGHT_FD) and its layout; guarded by the rings' stop (set while stopped). */
    private Mapping inflight;
    private InflightRegion inflightLayout;
    /** Inflight buffers replaced while a ring still used them: unmapped at close. */
    private final List<Mapping> retiredInflight = new ArrayList<>();
    private volatile long ackedFeatures;
    private boolean closed;

    /**
     * Creates the handler of one session for a device.
     *
     * @param device the device
     * @param session the session, whose supervisor owns the workers
     * @throws IllegalArgumentException if the device's queue count or maximum queue size is out of range
     */
    public DeviceBackend(VhostUserDevice device, SessionContext session) {
        this.device = Objects.requireNonNull(device, "device");
        this.session = Objects.requireNonNull(session, "session");
        int n = device.queueCount();
        if (n < 1 || n > 256) {
            throw new IllegalArgumentException("device queue count " + n + " is outside 1..256");
        }
        int max = device.maxQueueSize();
        if (max < 1 || max > MAX_SPLIT_QUEUE_SIZE || Integer.bitCount(max) != 1) {
            throw new IllegalArgumentException("device max queue size " + max + " is not a power of two in 1.."
                    + MAX_SPLIT_QUEUE_SIZE);
        }
        java.time.Duration poll = Objects.requireNonNull(device.busyPollWindow(), "busyPollWindow");
        if (poll.isNegative() || poll.compareTo(java.time.Duration.ofSeconds(1)) > 0) {
            throw new IllegalArgumentException("device busy-poll window " + poll + " is outside 0..1 s");
        }
        this.rings = new Vring[n];
        this.workerOfRing = new QueueWorker[n];
        for (int i = 0; i < n; i++) {
            rings[i] = new Vring(i);
            int w = device.workerOf(i);
            if (w < 0) {
                throw new IllegalArgumentException("device workerOf(" + i + ") returned " + w + "; must be >= 0");
            }
            groups.computeIfAbsent(w, k -> new ArrayList<>()).add(rings[i]);
        }
        this.passes = new RingPasses(device, session.name(), regions, rings, poll.toNanos(), this::startIfReady);
        session.onShutdown(() -> {
            stateLock.lock();
            try {
                workers.forEach(QueueWorker::wake);
            } finally {
                stateLock.unlock();
            }
        });
    }

    /**
     * Returns the session's guest memory, for devices and tests that read memory outside descriptor chains.
     *
     * @return the shared guest memory
     */
    public SharedGuestMemory guestMemory() {
        return regions.memory();
    }

    // ---- features ----------------------------------------------------------------------------------------------

    @Override
    public long features() {
        // Dirty logging and the ring layout are the framework's business: every device can be migrated and can use
        // packed rings.
        long f = device.features() | VirtioFeature.LOG_ALL.mask();
        return (f & VirtioFeature.VERSION_1.mask()) != 0 ? f | VirtioFeature.RING_PACKED.mask() : f;
    }

    @Override
    public void setFeatures(long acked) throws VhostException {
        device.setFeatures(acked & ~(VirtioFeature.LOG_ALL.mask() | VirtioFeature.RING_PACKED.mask()));
        ackedFeatures = acked;
        dirtyLog.setLogging((acked & VirtioFeature.LOG_ALL.mask()) != 0);
        for (Vring r : rings) {
            r.lock.lock();
            try {
                if (r.queue != null) {
                    r.queue.setFeatures(acked);
                }
            } finally {
                r.lock.unlock();
            }
        }
    }

    @Override
    public long protocolFeatures() {
        long f = ProtocolFeature.CONFIGURE_MEM_SLOTS.mask() | ProtocolFeature.RESET_DEVICE.mask()
                | ProtocolFeature.LOG_SHMFD.mask() | ProtocolFeature.INFLIGHT_SHMFD.mask();
        if (device.configSize() > 0) {
            f |= ProtocolFeature.CONFIG.mask();
        }
        return f | device.protocolFeatures();
    }

    @Override
    public int queueCount() {
        return rings.length;
    }

    @Override
    public int maxQueueSize() {
        return device.maxQueueSize();
    }

    // ---- memory ------------------------------------------------------------------------------------------------

    @Override
    public void setMemoryTable(MemoryTable table, List<Fd> fds) throws VhostException {
        regions.replaceAll(table.regions(), fds);
        LOG.log(Level.DEBUG, () -> session.name() + ": memory table " + regions.memory().peek());
        wakeAll();
    }

    @Override
    public void addMemoryRegion(MemoryRegion region, Fd fd) throws VhostException {
        regions.add(region, fd);
        LOG.log(Level.DEBUG, () -> session.name() + ": ADD_MEM_REG, memory table " + regions.memory().peek());
        wakeAll();
    }

    @Override
    public void removeMemoryRegion(MemoryRegion region) throws VhostException {
        regions.remove(region);
        LOG.log(Level.DEBUG, () -> session.name() + ": REM_MEM_REG, memory table " + regions.memory().peek());
        wakeAll();
    }

    // ---- rings -------------------------------------------------------------------------------------------------

    @Override
    public void setVringNum(int queue, int size) throws VhostException {
        Vring r = ring(queue);
        r.lock.lock();
        try {
            RingQueue q = RingQueue.create(queue, size, ackedFeatures);
            q.setFeatures(ackedFeatures);
            try {
                q.setBase(r.base);
            } catch (IllegalArgumentException e) {
                q.setBase(0); // a base for another ring type or size: SET_VRING_BASE follows
            }
            r.size = size;
            r.queue = q;
            r.addressed = false;
            r.positioned = false;
        } finally {
            r.lock.unlock();
        }
    }

    @Override
    public void setVringAddress(int queue, VringAddress address) throws VhostException {
        Vring r = ring(queue);
        r.lock.lock();
        try {
            if (r.queue == null) {
                throw new RequestRejectedException("SET_VRING_ADDR for queue " + queue
                        + " arrived before SET_VRING_NUM; send the ring size first");
            }
            r.descUser = address.descAddress();
            r.availUser = address.availAddress();
            r.usedUser = address.usedAddress();
            try (MemoryView view = regions.memory().acquire()) {
                r.queue.configure(view.table(), r.descUser, r.availUser, r.usedUser);
                r.memoryEpoch = view.epoch();
            }
            r.queue.setDirtyLog(dirtyLog, address.logGuestAddress(), (address.flags() & VringAddress.F_LOG) != 0);
            r.addressed = true;
            // A running ring keeps its position and inflight state (QEMU resends the addresses to toggle logging);
            // a stopped one is positioned when it becomes ready.
            startIfReady(r);
        } finally {
            r.lock.unlock();
        }
        wake(queue);
    }

    @Override
    public void setVringBase(int queue, long base) throws VhostException {
        Vring r = ring(queue);
        r.lock.lock();
        try {
            if (r.queue != null && r.positioned && r.inflightRecovered) {
                // The ring runs at the position its inflight region gave; a base sent now is stale.
                LOG.log(Level.DEBUG, () -> session.name() + ": SET_VRING_BASE " + base + " for running queue "
                        + queue + " ignored: its position came from the inflight region");
            } else if (r.queue != null) {
                try {
                    r.queue.setBase(base);
                } catch (IllegalArgumentException e) {
                    throw new RequestRejectedException(e.getMessage(), e);
                }
            } else if (base < 0 || base > 0xffff_ffffL) {
                throw new RequestRejectedException("SET_VRING_BASE " + base + " for queue " + queue + " is not a u32");
            }
            r.base = base;
            startIfReady(r);
        } finally {
            r.lock.unlock();
        }
    }

    @Override
    public long getVringBase(int queue, StopMode mode) throws VhostException {
        Vring r = ring(queue);
        QueueWorker w = workerOfRing[queue];
        long base;
        r.lock.lock(); // waits for the worker's current batch: every popped chain is completed (drain)
        try {
            r.started = false;
            r.positioned = false;
            r.kickPending = false;
            if (w != null) {
                w.unwatchKick(r);
            }
            r.dropKickAndCall();
            base = r.queue != null ? r.queue.base() : r.base;
            r.base = base;
        } finally {
            r.lock.unlock();
        }
        device.queueStopped(queue, base);
        LOG.log(Level.DEBUG, () -> session.name() + ": queue " + queue + " stopped at avail index " + base);
        return base;
    }

    @Override
    public void setVringKick(int queue, Optional<Fd> kick) throws VhostException {
        Vring r = ring(queue);
        QueueWorker w = worker(queue);
        r.lock.lock();
        try {
            w.unwatchKick(r);
            if (r.kick != null) {
                r.kick.close();
                r.kick = null;
            }
            if (kick.isEmpty()) {
                throw new RequestRejectedException("SET_VRING_KICK for queue " + queue + " without an fd (NOFD):"
                        + " polling mode is not supported; pass a kick eventfd");
            }
            OwnedFd fd = adopt(kick.get(), "kick eventfd of queue " + queue);
            try {
                Unistd.setNonBlocking(fd.number(), true);
                r.kick = fd;
                w.watchKick(r);
            } catch (NativeCallException | RuntimeException e) {
                r.kick = null;
                fd.close();
                throw e;
            }
            r.started = true; // a ring with a kick fd is started (libvhost-user); a pending kick shows as readable
            startIfReady(r);
        } finally {
            r.lock.unlock();
        }
        w.wake();
    }

    @Override
    public void setVringCall(int queue, Optional<Fd> call) throws VhostException {
        Vring r = ring(queue);
        r.lock.lock();
        try {
            if (r.call != null) {
                r.call.close();
                r.call = null;
            }
            if (call.isPresent()) {
                r.call = adopt(call.get(), "call eventfd of queue " + queue);
            }
        } finally {
            r.lock.unlock();
        }
    }

    @Override
    public void setVringErr(int queue, Optional<Fd> err) throws VhostException {
        Vring r = ring(queue);
        r.lock.lock();
        try {
            if (r.err != null) {
                r.err.close();
                r.err = null;
            }
            if (err.isPresent()) {
                r.err = adopt(err.get(), "error eventfd of queue " + queue);
            }
        } finally {
            r.lock.unlock();
        }
    }

    @Override
    public void setVringEnable(int queue, boolean enabled) throws VhostException {
        Vring r = ring(queue);
        r.lock.lock();
        try {
            r.enabled = enabled;
            startIfReady(r);
        } finally {
            r.lock.unlock();
        }
        if (enabled) {
            wake(queue); // the worker re-checks the ring: a kick that came before the enable is not lost
        }
    }

    // ---- migration: dirty log ------------------------------------------------------------------------------------

    @Override
    public void setLogBase(LogRegion log, Fd fd) throws VhostException {
        long aligned = log.offset() & ~(DirtyLog.PAGE_SIZE - 1);
        long delta = log.offset() - aligned;
        Mapping mapping;
        try {
            mapping = Mman.map(fd.number(), aligned, log.sizeBytes() + delta, true, "dirty log");
        } catch (NativeCallException e) {
            throw new RequestRejectedException("SET_LOG_BASE size " + log.sizeBytes() + " offset " + log.offset()
                    + ": cannot map the log fd: " + e.getMessage(), e);
        }
        try {
            DirtyLog bitmap = new DirtyLog(mapping.segment().asSlice(delta, log.sizeBytes()), log.sizeBytes());
            dirtyLog.replace(bitmap, mapping); // the previous log is unmapped once no writer uses it
            LOG.log(Level.DEBUG, () -> session.name() + ": dirty log of " + log.sizeBytes() + " bytes");
        } catch (IllegalArgumentException e) {
            mapping.close();
            throw new RequestRejectedException("SET_LOG_BASE: " + e.getMessage(), e);
        }
    }

    @Override
    public void setLogFd(Fd fd) throws VhostException {
        OwnedFd previous = logFd;
        logFd = adopt(fd, "log eventfd");
        if (previous != null) {
            previous.close();
        }
    }

    // ---- inflight I/O tracking ---------------------------------------------------------------------------------

    @Override
    public InflightArea getInflightFd(InflightRegion request) throws VhostException {
        boolean packed = (ackedFeatures & VirtioFeature.RING_PACKED.mask()) != 0;
        if (request.queueSize() < 1 || request.queueSize() > device.maxQueueSize()
                || (!packed && Integer.bitCount(request.queueSize()) != 1)) {
            throw new RequestRejectedException("GET_INFLIGHT_FD queue_size " + request.queueSize() + " is not "
                    + (packed ? "in 1.." : "a power of two up to ") + device.maxQueueSize() + " (the device's maximum)");
        }
        if (request.numQueues() > rings.length) {
            throw new RequestRejectedException("GET_INFLIGHT_FD num_queues " + request.numQueues()
                    + " exceeds the device's " + rings.length + " queues");
        }
        // QEMU sends SET_FEATURES before GET_INFLIGHT_FD (vhost_dev_prepare_inflight): the layout follows the ring type.
        long size = RingQueue.inflightBytes(packed, request.numQueues(), request.queueSize());
        OwnedFd memfd = Mman.memfd("vhost-inflight", size);
        try {
            installInflight(Mman.map(memfd.number(), 0, size, true, "inflight buffer"),
                    new InflightRegion(size, 0, request.numQueues(), request.queueSize()));
            return new InflightArea(new InflightRegion(size, 0, request.numQueues(), request.queueSize()), memfd);
        } catch (NativeCallException | RuntimeException e) {
            memfd.close();
            throw e;
        }
    }

    @Override
    public void setInflightFd(InflightRegion region, Fd fd) throws VhostException {
        boolean packed = (ackedFeatures & VirtioFeature.RING_PACKED.mask()) != 0;
        long need = RingQueue.inflightBytes(packed, region.numQueues(), region.queueSize());
        if (region.mmapSizeBytes() < need) {
            throw new RequestRejectedException("SET_INFLIGHT_FD mmap_size " + region.mmapSizeBytes() + " is smaller"
                    + " than the " + need + " bytes " + region.numQueues() + " queues of " + region.queueSize()
                    + " descriptors need (" + (packed ? "packed" : "split") + " rings)");
        }
        long aligned = region.mmapOffset() & ~(DirtyLog.PAGE_SIZE - 1);
        long delta = region.mmapOffset() - aligned;
        Mapping mapping;
        try {
            mapping = Mman.map(fd.number(), aligned, region.mmapSizeBytes() + delta, true, "inflight buffer");
        } catch (NativeCallException e) {
            throw new RequestRejectedException("SET_INFLIGHT_FD: cannot map the inflight fd: " + e.getMessage(), e);
        }
        installInflight(mapping, new InflightRegion(region.mmapSizeBytes(), delta, region.numQueues(),
                region.queueSize()));
    }

    private void installInflight(Mapping mapping, InflightRegion layout) {
        LOG.log(Level.DEBUG, () -> session.name() + ": inflight buffer of " + layout.mmapSizeBytes() + " bytes for "
                + layout.numQueues() + " queues of " + layout.queueSize());
        boolean inUse = false;
        for (Vring r : rings) {
            r.lock.lock();
            try {
                inUse |= r.positioned && r.inflightAttached;
            } finally {
                r.lock.unlock();
            }
        }
        Mapping previous;
        stateLock.lock();
        try {
            previous = inflight;
            inflight = mapping;
            inflightLayout = layout;
            if (previous != null && inUse) {
                retiredInflight.add(previous); // a running ring still writes to it; rings take the new one on restart
                previous = null;
            }
        } finally {
            stateLock.unlock();
        }
        if (previous != null) {
            previous.close();
        }
        for (Vring r : rings) {
            r.lock.lock();
            try {
                startIfReady(r);
            } finally {
                r.lock.unlock();
            }
        }
    }

    /**
     * Starts a ring that has just become ready (started, enabled, laid out) and was not positioned since it was last
     * configured: applies the front-end's base, then attaches its inflight region, whose recovered state (if a
     * previous back-end left some) overrides that base. The caller holds the ring's lock. A failure breaks only this
     * ring (logged, error eventfd signalled); the request that completed the ring is not rejected for it.
     */
    private void startIfReady(Vring r) {
        if (r.positioned || !r.ready()) {
            return;
        }
        r.positioned = true;
        r.inflightAttached = false;
        r.inflightRecovered = false;
        try {
            r.queue.setBase(r.base);
        } catch (IllegalArgumentException e) {
            r.queue.setBase(0); // a base for another ring type or size; validated when it arrived
        }
        try {
            attachInflight(r);
        } catch (VhostException | RuntimeException e) {
            // The first cause is kept: a ring the recovery already broke keeps its own message.
            r.queue.markBroken(e instanceof GuestMemoryException g ? g
                    : new GuestMemoryException("queue " + r.index + " cannot start: " + e.getMessage(), e));
            LOG.log(Level.WARNING, session.name() + ": queue " + r.index + " is broken and stops; the other queues"
                    + " keep running: " + e.getMessage());
            r.signalErr();
        }
    }

    /** Attaches the queue's part of the inflight buffer, if there is one; the caller holds the ring's lock. */
    private void attachInflight(Vring r) throws VhostException {
        Mapping m;
        InflightRegion layout;
        stateLock.lock();
        try {
            m = inflight;
            layout = inflightLayout;
        } finally {
            stateLock.unlock();
        }
        if (m == null || r.index >= layout.numQueues()) {
            r.queue.attachInflight(null, r.size);
            return;
        }
        if (layout.queueSize() != r.size) {
            throw new RequestRejectedException("queue " + r.index + " has " + r.size + " descriptors but the inflight"
                    + " buffer was laid out for " + layout.queueSize());
        }
        r.queue.attachInflight(m.segment().asSlice(layout.mmapOffset()), layout.queueSize());
        r.inflightAttached = true;
        r.inflightRecovered = r.queue.inflightRecovered();
    }

    // ---- config, reset, close ----------------------------------------------------------------------------------

    @Override
    public byte[] getConfig(int offset, int sizeBytes) throws VhostException {
        int size = device.configSize();
        if (size <= 0) {
            throw new RequestRejectedException("GET_CONFIG: this device has no configuration space");
        }
        if (offset < 0 || sizeBytes < 0 || offset > ConfigSpace.MAX_BYTES - sizeBytes) {
            throw new RequestRejectedException("GET_CONFIG offset " + offset + " size " + sizeBytes
                    + " is outside 0.." + ConfigSpace.MAX_BYTES);
        }
        // Bytes past the device's configuration space read as zero (front-ends size their read by feature bits).
        byte[] out = new byte[sizeBytes];
        int available = Math.max(0, Math.min(sizeBytes, size - offset));
        if (available > 0) {
            byte[] part = device.readConfig(offset, available);
            System.arraycopy(part, 0, out, 0, Math.min(available, part.length));
        }
        return out;
    }

    @Override
    public void setConfig(ConfigSpace config) throws VhostException {
        int size = device.configSize();
        if (size <= 0 || config.offset() + config.sizeBytes() > size) {
            throw new RequestRejectedException("SET_CONFIG offset " + config.offset() + " size " + config.sizeBytes()
                    + " is outside the device's " + size + "-byte configuration space");
        }
        device.writeConfig((int) config.offset(), config.bytes(), config.flags() == ConfigSpace.FLAG_MIGRATION);
    }

    @Override
    public void resetDevice() throws VhostException {
        for (Vring r : rings) {
            QueueWorker w = workerOfRing[r.index];
            r.lock.lock();
            try {
                if (w != null) {
                    w.unwatchKick(r);
                }
                r.closeAll();
                r.started = false;
                r.enabled = false;
                r.kickPending = false;
                r.queue = null;
                r.addressed = false;
                r.positioned = false;
                r.base = 0;
            } finally {
                r.lock.unlock();
            }
        }
        ackedFeatures = 0;
        device.reset();
    }

    @Override
    public void close() {
        stateLock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
        } finally {
            stateLock.unlock();
        }
        for (Vring r : rings) {
            r.lock.lock();
            try {
                r.closeAll();
            } finally {
                r.lock.unlock();
            }
        }
        stateLock.lock();
        try {
            workers.forEach(QueueWorker::close);
            workers.clear();
        } finally {
            stateLock.unlock();
        }
        regions.close();
        dirtyLog.close();
        if (logFd != null) {
            logFd.close();
        }
        stateLock.lock();
        try {
            if (inflight != null) {
                inflight.close();
                inflight = null;
            }
            retiredInflight.forEach(Mapping::close);
            retiredInflight.clear();
        } finally {
            stateLock.unlock();
        }
        device.reset();
    }

    // ---- observation for tests (package-private) ---------------------------------------------------------------

    boolean kickPending(int queue) {
        Vring r = rings[queue];
        r.lock.lock();
        try {
            return r.kickPending;
        } finally {
            r.lock.unlock();
        }
    }

    boolean broken(int queue) {
        Vring r = rings[queue];
        r.lock.lock();
        try {
            return r.queue != null && r.queue.isBroken();
        } finally {
            r.lock.unlock();
        }
    }

    boolean requestThreadWaitsFor(int queue) {
        return rings[queue].lock.hasQueuedThreads();
    }

    long workerPasses(int queue) {
        QueueWorker w = workerOfRing[queue];
        return w == null ? 0 : w.passes;
    }

    // ---- workers -----------------------------------------------------------------------------------------------

    private Vring ring(int queue) throws RequestRejectedException {
        if (queue < 0 || queue >= rings.length) {
            throw new RequestRejectedException("queue index " + queue + " is outside 0.." + (rings.length - 1)
                    + " of this device");
        }
        return rings[queue];
    }

    private static OwnedFd adopt(Fd fd, String role) {
        Fd taken = fd.take(role);
        if (taken instanceof OwnedFd owned) {
            return owned;
        }
        throw new IllegalStateException("the engine passed " + taken.getClass().getName() + " for " + role
                + "; the daemon needs io.vhost.impl.sys.OwnedFd");
    }

    private void wake(int queue) {
        QueueWorker w = workerOfRing[queue];
        if (w != null) {
            w.wake();
        }
    }

    private void wakeAll() {
        stateLock.lock();
        try {
            workers.forEach(QueueWorker::wake);
        } finally {
            stateLock.unlock();
        }
    }

    /** Returns the worker of a queue's group, starting it on first use. */
    private QueueWorker worker(int queue) throws VhostException {
        QueueWorker w = workerOfRing[queue];
        if (w != null) {
            return w;
        }
        int group = device.workerOf(queue);
        List<Vring> members = groups.get(group);
        stateLock.lock();
        try {
            if (closed) {
                throw new RequestRejectedException("session " + session.name() + " is closing");
            }
            QueueWorker created = new QueueWorker(session.name() + "-" + workerRole(members), members);
            workers.add(created);
            for (Vring m : members) {
                workerOfRing[m.index] = created;
            }
            try {
                session.startWorker(workerRole(members), () -> passes.run(created));
            } catch (IllegalStateException e) {
                throw new RequestRejectedException("session " + session.name() + " is ending; worker " + group
                        + " not started", e);
            }
            return created;
        } finally {
            stateLock.unlock();
        }
    }

    /** {@code vring-0} for a worker of one queue, {@code vrings-0,1} for a group. */
    private static String workerRole(List<Vring> members) {
        if (members.size() == 1) {
            return "vring-" + members.getFirst().index;
        }
        StringBuilder b = new StringBuilder("vrings-");
        for (int i = 0; i < members.size(); i++) {
            b.append(i == 0 ? "" : ",").append(members.get(i).index);
        }
        return b.toString();
    }
}
