package io.vhost.testing;

import io.vhost.api.Fd;
import io.vhost.api.backend.BackendHandler;
import io.vhost.api.backend.FrontendChannel;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.CryptoSession;
import io.vhost.api.message.DeviceStateParams;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.MacAddress;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.ShmemConfig;
import io.vhost.api.message.VringAddress;
import io.vhost.impl.sys.EventFds;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A {@link BackendHandler} for engine tests: implements every request, records each call as a short string in
 * {@link #events()}, keeps the fds it is given (closing them in {@link #close()}), and answers from settable
 * fields. Knobs: offered features and protocol features, queue count, config bytes, and a request name to refuse.
 */
public class RecordingDevice implements BackendHandler {

    private final List<String> events = new CopyOnWriteArrayList<>();
    private final List<Fd> kept = Collections.synchronizedList(new ArrayList<>());
    private final AtomicReference<FrontendChannel> channel = new AtomicReference<>();
    private volatile long features;
    private volatile long protocolFeatures;
    private final int queues;
    private volatile byte[] config = new byte[256];
    private volatile String refuse = "";
    private volatile long base = 0;
    private volatile boolean closed;

    /**
     * Creates a device.
     *
     * @param features the virtio features to offer
     * @param protocolFeatures the protocol features to offer
     * @param queues the queue count
     */
    public RecordingDevice(long features, long protocolFeatures, int queues) {
        this.features = features;
        this.protocolFeatures = protocolFeatures;
        this.queues = queues;
    }

    /**
     * Returns the calls so far, e.g. {@code "setVringNum 0 256"}.
     *
     * @return a live view
     */
    public List<String> events() {
        return events;
    }

    /**
     * Makes the device refuse calls whose event starts with this prefix.
     *
     * @param prefix e.g. {@code "setVringBase"}; empty to refuse nothing
     */
    public void refuse(String prefix) {
        this.refuse = prefix;
    }

    /**
     * Sets the config space bytes.
     *
     * @param bytes the bytes
     */
    public void config(byte[] bytes) {
        this.config = bytes.clone();
    }

    /**
     * Sets the base GET_VRING_BASE returns.
     *
     * @param value the value
     */
    public void base(long value) {
        this.base = value;
    }

    /**
     * Returns the back-end channel the engine handed over.
     *
     * @return the channel, or null
     */
    public FrontendChannel channel() {
        return channel.get();
    }

    /**
     * Tells whether {@link #close()} was called.
     *
     * @return {@code true} once closed
     */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Returns how many fds the device holds.
     *
     * @return the count
     */
    public int keptFds() {
        return kept.size();
    }

    private void record(String event) throws RequestRejectedException {
        events.add(event);
        if (!refuse.isEmpty() && event.startsWith(refuse)) {
            throw new RequestRejectedException("test device refuses " + event);
        }
    }

    private void keep(Fd fd) {
        kept.add(fd.take());
    }

    @Override
    public long features() {
        return features;
    }

    @Override
    public void setFeatures(long acked) throws VhostException {
        record("setFeatures 0x" + Long.toHexString(acked));
    }

    @Override
    public long protocolFeatures() {
        return protocolFeatures;
    }

    @Override
    public void setProtocolFeatures(long acked) throws VhostException {
        record("setProtocolFeatures 0x" + Long.toHexString(acked));
    }

    @Override
    public int queueCount() {
        return queues;
    }

    @Override
    public int maxQueueSize() {
        return 1024;
    }

    @Override
    public void setOwner() throws VhostException {
        record("setOwner");
    }

    @Override
    public void resetOwner() throws VhostException {
        record("resetOwner");
    }

    @Override
    public void resetDevice() throws VhostException {
        record("resetDevice");
    }

    @Override
    public void setMemoryTable(MemoryTable table, List<Fd> fds) throws VhostException {
        record("setMemoryTable " + table.regions().size());
        fds.forEach(this::keep);
    }

    @Override
    public void addMemoryRegion(MemoryRegion region, Fd fd) throws VhostException {
        record("addMemoryRegion 0x" + Long.toHexString(region.guestAddress()));
        keep(fd);
    }

    @Override
    public void removeMemoryRegion(MemoryRegion region) throws VhostException {
        record("removeMemoryRegion 0x" + Long.toHexString(region.guestAddress()));
    }

    @Override
    public void setVringNum(int queue, int size) throws VhostException {
        record("setVringNum " + queue + " " + size);
    }

    @Override
    public void setVringAddress(int queue, VringAddress address) throws VhostException {
        record("setVringAddress " + queue + " 0x" + Long.toHexString(address.descAddress()));
    }

    @Override
    public void setVringBase(int queue, long value) throws VhostException {
        record("setVringBase " + queue + " " + value);
    }

    @Override
    public long getVringBase(int queue, StopMode mode) throws VhostException {
        record("getVringBase " + queue + " " + mode);
        return base;
    }

    @Override
    public void setVringKick(int queue, Optional<Fd> kick) throws VhostException {
        record("setVringKick " + queue + (kick.isPresent() ? " fd" : " nofd"));
        kick.ifPresent(this::keep);
    }

    @Override
    public void setVringCall(int queue, Optional<Fd> call) throws VhostException {
        record("setVringCall " + queue + (call.isPresent() ? " fd" : " nofd"));
        call.ifPresent(this::keep);
    }

    @Override
    public void setVringErr(int queue, Optional<Fd> err) throws VhostException {
        record("setVringErr " + queue + (err.isPresent() ? " fd" : " nofd"));
    }

    @Override
    public void setVringEnable(int queue, boolean enabled) throws VhostException {
        record("setVringEnable " + queue + " " + enabled);
    }

    @Override
    public void vringKick(int queue) throws VhostException {
        record("vringKick " + queue);
    }

    @Override
    public void setVringEndian(int queue, boolean bigEndian) throws VhostException {
        record("setVringEndian " + queue + " " + bigEndian);
    }

    @Override
    public byte[] getConfig(int offset, int sizeBytes) throws VhostException {
        record("getConfig " + offset + " " + sizeBytes);
        byte[] c = config;
        if (offset + sizeBytes > c.length) {
            throw new RequestRejectedException("config range " + offset + "+" + sizeBytes + " beyond " + c.length);
        }
        byte[] out = new byte[sizeBytes];
        System.arraycopy(c, offset, out, 0, sizeBytes);
        return out;
    }

    @Override
    public void setConfig(ConfigSpace cfg) throws VhostException {
        record("setConfig " + cfg.offset() + " " + cfg.sizeBytes() + " " + cfg.flags());
    }

    @Override
    public void setFrontendChannel(FrontendChannel frontendChannel) throws VhostException {
        record("setFrontendChannel");
        channel.set(frontendChannel);
    }

    @Override
    public void setLogBase(LogRegion log, Fd fd) throws VhostException {
        record("setLogBase " + log.sizeBytes());
    }

    @Override
    public void setLogFd(Fd fd) throws VhostException {
        record("setLogFd");
    }

    @Override
    public Optional<Fd> setDeviceStateFd(DeviceStateParams params, Fd fd) throws VhostException {
        record("setDeviceStateFd " + params.direction());
        return Optional.empty();
    }

    @Override
    public void checkDeviceState() throws VhostException {
        record("checkDeviceState");
    }

    @Override
    public Fd postcopyAdvise() throws VhostException {
        record("postcopyAdvise");
        return EventFds.create(EventFds.EFD_CLOEXEC, "stand-in userfaultfd");
    }

    @Override
    public void postcopyListen() throws VhostException {
        record("postcopyListen");
    }

    @Override
    public MemoryTable setMemoryTablePostcopy(MemoryTable table, List<Fd> fds) throws VhostException {
        record("setMemoryTablePostcopy " + table.regions().size());
        return table;
    }

    @Override
    public void postcopyEnd() throws VhostException {
        record("postcopyEnd");
    }

    @Override
    public InflightArea getInflightFd(InflightRegion request) throws VhostException {
        record("getInflightFd " + request.numQueues() + " " + request.queueSize());
        return new InflightArea(new InflightRegion(4096, 0, request.numQueues(), request.queueSize()),
                EventFds.create(EventFds.EFD_CLOEXEC, "stand-in inflight memfd"));
    }

    @Override
    public void setInflightFd(InflightRegion region, Fd fd) throws VhostException {
        record("setInflightFd " + region.mmapSizeBytes());
    }

    @Override
    public void iotlbMessage(IotlbMessage message) throws VhostException {
        record("iotlbMessage " + message.type());
    }

    @Override
    public void setStatus(int status) throws VhostException {
        record("setStatus " + status);
    }

    @Override
    public int getStatus() throws VhostException {
        record("getStatus");
        return 0x0f;
    }

    @Override
    public Optional<Fd> getSharedObject(UUID uuid) throws VhostException {
        record("getSharedObject " + uuid);
        return Optional.empty();
    }

    @Override
    public ShmemConfig getShmemConfig() throws VhostException {
        record("getShmemConfig");
        List<Long> sizes = new ArrayList<>(Collections.nCopies(ShmemConfig.SLOTS, 0L));
        sizes.set(0, 1L << 20);
        return new ShmemConfig(1, sizes);
    }

    @Override
    public void sendRarp(MacAddress mac) throws VhostException {
        record("sendRarp " + mac);
    }

    @Override
    public void setMtu(long mtu) throws VhostException {
        record("setMtu " + mtu);
    }

    @Override
    public long createCryptoSession(CryptoSession session) throws VhostException {
        record("createCryptoSession");
        return 7;
    }

    @Override
    public void closeCryptoSession(long sessionId) throws VhostException {
        record("closeCryptoSession " + sessionId);
    }

    @Override
    public void setGpuSocket(Fd socket) throws VhostException {
        record("setGpuSocket");
    }

    @Override
    public void close() {
        closed = true;
        synchronized (kept) {
            kept.forEach(Fd::close);
            kept.clear();
        }
    }
}
