package io.vhost.impl.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.frontend.BackendRequestHandler;
import io.vhost.api.frontend.InflightArea;
import io.vhost.api.frontend.ReconnectListener;
import io.vhost.api.frontend.SharedRegion;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.CryptoSession;
import io.vhost.api.message.DeviceStateParams;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.MacAddress;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.Reply;
import io.vhost.api.message.SharedObject;
import io.vhost.api.message.ShmemConfig;
import io.vhost.api.message.VringAddress;
import io.vhost.api.message.VringFd;
import io.vhost.api.message.VringState;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * The vhost-user front-end: one typed method per request, each checking its arguments, sending through the
 * {@link RequestEngine}, reading its reply and recording in the {@link SetupRecord} what a reconnect must replay.
 * The connection is the {@link BackendLink}'s, the negotiated state the {@link Negotiation}'s. Thread-safe.
 */
final class DefaultVhostUserFrontend implements VhostUserFrontend {

    private static final System.Logger LOG = System.getLogger(DefaultVhostUserFrontend.class.getName());
    private static final int MAX_INTEGRAL_QUEUE = 255; // vring fd u64 keeps the index in bits 0-7
    // Requests without a body are immutable and all equal: one shared instance each.
    private static final FrontendMessage GET_FEATURES_MESSAGE = new FrontendMessage.GetFeatures();
    private static final FrontendMessage SET_OWNER_MESSAGE = new FrontendMessage.SetOwner();
    private static final FrontendMessage RESET_OWNER_MESSAGE = new FrontendMessage.ResetOwner();
    private static final FrontendMessage GET_PROTOCOL_FEATURES_MESSAGE = new FrontendMessage.GetProtocolFeatures();
    private static final FrontendMessage GET_QUEUE_NUM_MESSAGE = new FrontendMessage.GetQueueNum();
    private static final FrontendMessage POSTCOPY_ADVISE_MESSAGE = new FrontendMessage.PostcopyAdvise();
    private static final FrontendMessage POSTCOPY_LISTEN_MESSAGE = new FrontendMessage.PostcopyListen();
    private static final FrontendMessage POSTCOPY_END_MESSAGE = new FrontendMessage.PostcopyEnd();
    private static final FrontendMessage RESET_DEVICE_MESSAGE = new FrontendMessage.ResetDevice();
    private static final FrontendMessage GET_MAX_MEM_SLOTS_MESSAGE = new FrontendMessage.GetMaxMemSlots();
    private static final FrontendMessage GET_STATUS_MESSAGE = new FrontendMessage.GetStatus();
    private static final FrontendMessage CHECK_DEVICE_STATE_MESSAGE = new FrontendMessage.CheckDeviceState();
    private static final FrontendMessage GET_SHMEM_CONFIG_MESSAGE = new FrontendMessage.GetShmemConfig();

    private final Negotiation negotiation = new Negotiation();
    private final SetupRecord record;
    private final BackendLink link;
    private final RequestEngine engine;

    private DefaultVhostUserFrontend(Path path, FrontendOptions options, boolean server) throws VhostException {
        this.record = new SetupRecord(options.replaySetup());
        this.link = server ? BackendLink.server(path, options, this, negotiation::codecOptions)
                : BackendLink.client(path, options, this, negotiation::codecOptions);
        this.engine = new RequestEngine(link, negotiation);
    }

    static DefaultVhostUserFrontend connect(Path path, FrontendOptions options) throws VhostException {
        return open(new DefaultVhostUserFrontend(path, options, false));
    }

    static DefaultVhostUserFrontend listen(Path path, FrontendOptions options) throws VhostException {
        return open(new DefaultVhostUserFrontend(path, options, true));
    }

    private static DefaultVhostUserFrontend open(DefaultVhostUserFrontend f) throws VhostException {
        boolean ok = false;
        try {
            f.link.connect();
            ok = true;
            return f;
        } finally {
            if (!ok) {
                f.close();
            }
        }
    }

    private static void checkQueue(int queue) {
        if (queue < 0 || queue > MAX_INTEGRAL_QUEUE) {
            throw new IllegalArgumentException("queue index " + queue + " is outside 0.." + MAX_INTEGRAL_QUEUE);
        }
    }

    // ------------------------------------------------------------------------------------------ VhostFrontend

    @Override
    public String name() {
        return link.name();
    }

    @Override
    public FeatureSet ackedFeatures() {
        return negotiation.acked();
    }

    @Override
    public FeatureSet ackedProtocolFeatures() {
        return negotiation.ackedProtocol();
    }

    @Override
    public void setOwner() throws VhostException {
        engine.send(SET_OWNER_MESSAGE);
        engine.locked(() -> record.owner = true);
    }

    @Override
    public void resetOwner() throws VhostException {
        engine.send(RESET_OWNER_MESSAGE);
        engine.locked(() -> {
            record.owner = false;
            record.resetRings();
        });
    }

    @Override
    public FeatureSet getFeatures() throws VhostException {
        long bits = engine.u64(GET_FEATURES_MESSAGE);
        FeatureSet before = negotiation.offered();
        FeatureSet f = before != null && before.bits() == bits ? before : new FeatureSet(bits); // the same offer again
        negotiation.offered(f);
        return f;
    }

    @Override
    public void setFeatures(FeatureSet features) throws VhostException {
        Objects.requireNonNull(features, "features");
        FeatureSet known = negotiation.offered();
        if (known != null && !known.containsAll(features)) {
            throw new IllegalArgumentException(name() + ": SET_FEATURES " + features.describe(FeatureSet::virtioFeatures)
                    + " acks bits the back-end did not offer: " + features.minus(known)
                    .describe(FeatureSet::virtioFeatures));
        }
        engine.send(new FrontendMessage.SetFeatures(features.bits()), () -> {
            negotiation.featuresAcked(features);
            record.features = features;
        });
    }

    @Override
    public void setMemTable(List<SharedRegion> regions) throws VhostException {
        Objects.requireNonNull(regions, "regions");
        // Arrays, not lists: List.of makes the one immutable copy, which MemoryTable and SetMemTable keep as is.
        MemoryRegion[] descs = new MemoryRegion[regions.size()];
        Fd[] fds = new Fd[descs.length];
        int i = 0;
        for (SharedRegion r : regions) {
            descs[i] = r.region();
            fds[i++] = r.fd();
        }
        FrontendMessage.SetMemTable m = new FrontendMessage.SetMemTable(new MemoryTable(List.of(descs)),
                List.of(fds));
        engine.locked(() -> {
            boolean listening = negotiation.postcopyListening();
            try (Reply reply = engine.exchange(m)) {
                if (listening && reply instanceof Reply.MemoryTableReply mapped) {
                    // Postcopy: the back-end replied with its mapped bases; an empty SET_MEM_TABLE acknowledges them,
                    // after which the guest may fault on the memory (spec: SET_MEM_TABLE note).
                    LOG.log(Level.DEBUG, "{0}: postcopy SET_MEM_TABLE mapped {1}", name(), mapped.table());
                    engine.sendEmpty(FrontendRequest.SET_MEM_TABLE);
                }
            }
            record.memTable(regions);
        });
    }

    @Override
    public void setVringNum(int queue, int size) throws VhostException {
        checkQueue(queue);
        engine.send(new FrontendMessage.SetVringNum(new VringState(queue, size)), record);
    }

    @Override
    public void setVringAddr(VringAddress address) throws VhostException {
        Objects.requireNonNull(address, "address");
        int queue = (int) address.index();
        checkQueue(queue);
        engine.send(new FrontendMessage.SetVringAddr(address), record);
    }

    @Override
    public void setVringBase(int queue, long base) throws VhostException {
        checkQueue(queue);
        engine.send(new FrontendMessage.SetVringBase(new VringState(queue, base)), record);
    }

    @Override
    public long getVringBase(int queue) throws VhostException {
        return getVringBase(FrontendMessage.GetVringBase::new, queue);
    }

    @Override
    public long getVringBaseSkipDrain(int queue) throws VhostException {
        return getVringBase(FrontendMessage.GetVringBaseSkipDrain::new, queue);
    }

    /** GET_VRING_BASE or its skip-drain variant: the ring stops, its base is recorded for a replay. */
    private long getVringBase(Function<VringState, FrontendMessage> request, int queue) throws VhostException {
        checkQueue(queue);
        return engine.locked(() -> {
            long base = engine.vringState(request.apply(new VringState(queue, 0)), queue);
            record.vring(queue).base = new VringState(queue, base);
            return base;
        });
    }

    @Override
    public void setVringKick(int queue, Optional<Fd> kick) throws VhostException {
        setVringEventFd(VringEventFd.KICK, queue, kick);
    }

    @Override
    public void setVringCall(int queue, Optional<Fd> call) throws VhostException {
        setVringEventFd(VringEventFd.CALL, queue, call);
    }

    @Override
    public void setVringErr(int queue, Optional<Fd> err) throws VhostException {
        setVringEventFd(VringEventFd.ERR, queue, err);
    }

    /** SET_VRING_KICK, SET_VRING_CALL or SET_VRING_ERR: sends the fd (or NOFD) and records a duplicate of it. */
    private void setVringEventFd(VringEventFd which, int queue, Optional<Fd> fd) throws VhostException {
        checkQueue(queue);
        engine.send(which.message(queue, fd), record);
    }

    @Override
    public boolean isConnected() {
        FrontendSession s = link.session();
        return !link.isClosed() && s != null && !s.isBroken();
    }

    // ------------------------------------------------------------------------------------------ vhost-user only

    @Override
    public FeatureSet getProtocolFeatures() throws VhostException {
        FeatureSet raw = new FeatureSet(engine.u64(GET_PROTOCOL_FEATURES_MESSAGE));
        FeatureSet known = raw.intersect(new FeatureSet(ProtocolFeature.knownMask()));
        if (!known.equals(raw)) {
            LOG.log(Level.DEBUG, "{0}: ignoring unknown protocol feature bits 0x{1} offered by the back-end", name(),
                    Long.toHexString(raw.minus(known).bits()));
        }
        return known;
    }

    @Override
    public void setProtocolFeatures(FeatureSet features) throws VhostException {
        Objects.requireNonNull(features, "features");
        engine.send(new FrontendMessage.SetProtocolFeatures(features.bits()), () -> {
            negotiation.protocolAcked(features);
            record.protocolFeatures = features;
        });
    }

    @Override
    public long getQueueNum() throws VhostException {
        return engine.u64(GET_QUEUE_NUM_MESSAGE);
    }

    @Override
    public void setVringEnable(int queue, boolean enable) throws VhostException {
        checkQueue(queue);
        engine.send(new FrontendMessage.SetVringEnable(new VringState(queue, enable ? 1 : 0)), record);
    }

    @Override
    public void sendRarp(MacAddress mac) throws VhostException {
        engine.send(new FrontendMessage.SendRarp(mac));
    }

    @Override
    public void setMtu(int mtu) throws VhostException {
        engine.send(new FrontendMessage.NetSetMtu(mtu));
    }

    @Override
    public void setBackendReqFd(Fd socket) throws VhostException {
        engine.send(new FrontendMessage.SetBackendReqFd(socket));
    }

    @Override
    public void openBackendChannel(BackendRequestHandler handler) throws VhostException {
        Objects.requireNonNull(handler, "handler");
        engine.locked(() -> {
            FrontendSession s = link.session();
            if (s == null) {
                throw new PeerDisconnectedException(name() + ": no back-end is connected; call reconnect()");
            }
            BackendChannel channel = BackendChannel.open(name(), link.kind(), handler, negotiation, s.metrics(),
                    theirs -> engine.send(new FrontendMessage.SetBackendReqFd(theirs)));
            link.replaceBackendChannel(channel);
            channel.start(s);
            record.backendHandler = handler;
        });
    }

    @Override
    public void iotlbMessage(IotlbMessage message) throws VhostException {
        engine.status(new FrontendMessage.IotlbMsg(message));
    }

    @Override
    public void setVringEndian(int queue, int endian) throws VhostException {
        checkQueue(queue);
        if (endian != VRING_LITTLE_ENDIAN && endian != VRING_BIG_ENDIAN) {
            throw new IllegalArgumentException("SET_VRING_ENDIAN " + endian + " for queue " + queue
                    + " is neither 0 (little) nor 1 (big)");
        }
        engine.send(new FrontendMessage.SetVringEndian(new VringState(queue, endian)));
    }

    @Override
    public ConfigSpace getConfig(long offset, int sizeBytes) throws VhostException {
        if (sizeBytes <= 0 || sizeBytes > ConfigSpace.MAX_BYTES) {
            throw new IllegalArgumentException("GET_CONFIG size " + sizeBytes + " is outside 1.." + ConfigSpace.MAX_BYTES);
        }
        FrontendMessage m = new FrontendMessage.GetConfig(new ConfigSpace(offset, 0, new byte[sizeBytes]));
        try (Reply reply = engine.exchange(m)) {
            return switch (reply) {
                case Reply.Config(ConfigSpace c) when c.sizeBytes() == sizeBytes -> c;
                case Reply.Config(ConfigSpace c) -> throw new ProtocolViolationException(name() + ": GET_CONFIG of "
                        + sizeBytes + " bytes at offset " + offset + " was answered with " + c.sizeBytes()
                        + " bytes; the sizes must match");
                case Reply.Empty e -> throw new RequestRejectedException(name() + ": the back-end refused GET_CONFIG of "
                        + sizeBytes + " bytes at offset " + offset + " (empty reply = error)");
                default -> throw new ProtocolViolationException(name() + ": GET_CONFIG expected a config reply, got "
                        + reply);
            };
        }
    }

    @Override
    public void setConfig(ConfigSpace config) throws VhostException {
        engine.send(new FrontendMessage.SetConfig(config));
    }

    @Override
    public CryptoSession createCryptoSession(CryptoSession request) throws VhostException {
        try (Reply reply = engine.exchange(new FrontendMessage.CreateCryptoSession(request))) {
            if (reply instanceof Reply.CryptoSessionReply(CryptoSession s)) {
                return s;
            }
            throw new ProtocolViolationException(name() + ": CREATE_CRYPTO_SESSION expected a session reply, got "
                    + reply);
        }
    }

    @Override
    public void closeCryptoSession(long sessionId) throws VhostException {
        engine.send(new FrontendMessage.CloseCryptoSession(sessionId));
    }

    @Override
    public Fd postcopyAdvise() throws VhostException {
        Reply reply = engine.exchange(POSTCOPY_ADVISE_MESSAGE);
        if (reply instanceof Reply.U64(long value, Optional<Fd> fd) && fd.isPresent()) {
            return fd.get();
        }
        throw rejected(reply, "POSTCOPY_ADVISE returned no userfaultfd");
    }

    @Override
    public void postcopyListen() throws VhostException {
        engine.send(POSTCOPY_LISTEN_MESSAGE);
        negotiation.postcopyListening(true);
    }

    @Override
    public void postcopyEnd() throws VhostException {
        engine.status(POSTCOPY_END_MESSAGE);
        negotiation.postcopyListening(false);
    }

    @Override
    public InflightArea getInflightFd(int numQueues, int queueSize) throws VhostException {
        FrontendMessage m = new FrontendMessage.GetInflightFd(new InflightRegion(0, 0, numQueues, queueSize));
        return engine.locked(() -> {
            Reply reply = engine.exchange(m);
            if (reply instanceof Reply.Inflight(InflightRegion region, Fd fd)) {
                boolean ok = false;
                try {
                    record.inflight(region, fd);
                    ok = true;
                } finally {
                    if (!ok) {
                        fd.close();
                    }
                }
                return new InflightArea(region, fd);
            }
            throw rejected(reply, "GET_INFLIGHT_FD returned no inflight area");
        });
    }

    @Override
    public void setInflightFd(InflightRegion region, Fd fd) throws VhostException {
        engine.send(new FrontendMessage.SetInflightFd(region, fd), () -> record.inflight(region, fd));
    }

    @Override
    public void gpuSetSocket(Fd socket) throws VhostException {
        engine.send(new FrontendMessage.GpuSetSocket(socket));
    }

    @Override
    public void resetDevice() throws VhostException {
        engine.send(RESET_DEVICE_MESSAGE, record::resetRings);
    }

    @Override
    public void vringKick(int queue) throws VhostException {
        checkQueue(queue);
        engine.send(new FrontendMessage.VringKick(new VringState(queue, 0)));
    }

    @Override
    public long getMaxMemSlots() throws VhostException {
        return engine.u64(GET_MAX_MEM_SLOTS_MESSAGE);
    }

    @Override
    public void addMemReg(SharedRegion region) throws VhostException {
        engine.locked(() -> {
            try (Reply reply = engine.exchange(new FrontendMessage.AddMemReg(region.region(), region.fd()))) {
                if (reply != null) {
                    LOG.log(Level.DEBUG, "{0}: postcopy ADD_MEM_REG reply {1}", name(), reply);
                }
            }
            record.addRegion(region);
        });
    }

    @Override
    public void remMemReg(MemoryRegion region) throws VhostException {
        engine.send(new FrontendMessage.RemMemReg(region, Optional.empty()), () -> record.removeRegion(region));
    }

    @Override
    public void setStatus(int status) throws VhostException {
        engine.send(new FrontendMessage.SetStatus(status), () -> record.status = status);
    }

    @Override
    public int getStatus() throws VhostException {
        return (int) engine.u64(GET_STATUS_MESSAGE);
    }

    @Override
    public Fd getSharedObject(SharedObject object) throws VhostException {
        Reply reply = engine.exchange(new FrontendMessage.GetSharedObject(object));
        if (reply instanceof Reply.U64(long value, Optional<Fd> fd) && value == 0 && fd.isPresent()) {
            return fd.get();
        }
        throw rejected(reply, "the back-end has no shared object " + object.uuid());
    }

    @Override
    public Optional<Fd> setDeviceStateFd(DeviceStateParams params, Fd pipe) throws VhostException {
        Reply reply = engine.exchange(new FrontendMessage.SetDeviceStateFd(params, pipe));
        if (reply instanceof Reply.U64(long value, Optional<Fd> fd)) {
            long status = value & 0xFF;
            boolean noFd = (value & VringFd.NOFD_MASK) != 0;
            if (status != 0) {
                reply.close();
                throw new RequestRejectedException(name() + ": the back-end refused SET_DEVICE_STATE_FD " + params
                        + ": status " + status);
            }
            if (noFd) {
                reply.close();
                return Optional.empty();
            }
            if (fd.isEmpty()) {
                throw new ProtocolViolationException(name() + ": SET_DEVICE_STATE_FD reply 0x"
                        + Long.toHexString(value) + " announces an fd but carried none");
            }
            return fd;
        }
        if (reply != null) {
            reply.close();
        }
        throw new ProtocolViolationException(name() + ": SET_DEVICE_STATE_FD expected a u64 reply, got " + reply);
    }

    /** Closes a reply that did not carry what was asked for and says so: "{@code what} (reply)". */
    private RequestRejectedException rejected(Reply reply, String what) {
        if (reply != null) {
            reply.close();
        }
        return new RequestRejectedException(name() + ": " + what + " (" + reply + ")");
    }

    @Override
    public void checkDeviceState() throws VhostException {
        engine.status(CHECK_DEVICE_STATE_MESSAGE);
    }

    @Override
    public ShmemConfig getShmemConfig() throws VhostException {
        try (Reply reply = engine.exchange(GET_SHMEM_CONFIG_MESSAGE)) {
            if (reply instanceof Reply.ShmemConfigReply(ShmemConfig c)) {
                return c;
            }
            throw new ProtocolViolationException(name() + ": GET_SHMEM_CONFIG expected a config reply, got " + reply);
        }
    }

    @Override
    public void setLogBase(LogRegion log, Fd fd) throws VhostException {
        engine.locked(() -> {
            try (Reply reply = engine.exchange(new FrontendMessage.SetLogBase(log, fd))) {
                // 0 bytes (DPDK) or a u64 (libvhost-user): both accepted; a non-zero u64 is a failure.
                if (reply instanceof Reply.U64 u && u.value() != 0) {
                    throw new RequestRejectedException(name() + ": the back-end refused SET_LOG_BASE " + log
                            + ": status " + u.value());
                }
            }
            record.log(log, fd);
        });
    }

    @Override
    public void setLogFd(Fd fd) throws VhostException {
        engine.send(new FrontendMessage.SetLogFd(fd));
    }

    // ------------------------------------------------------------------------------------------ reconnect

    @Override
    public void addReconnectListener(ReconnectListener l) {
        link.addListener(l);
    }

    @Override
    public void reconnect() throws VhostException {
        engine.locked(() -> {
            if (link.isClosed()) {
                throw new IllegalStateException(name() + ": reconnect() after close()");
            }
            link.disconnect();
            negotiation.reset();
            link.connect();
            record.replay(this, negotiation, link.listeners());
        });
        link.reconnected();
    }

    @Override
    public void close() {
        if (!link.beginClose()) {
            return;
        }
        engine.locked(() -> {
            link.disconnect();
            record.close();
        });
        link.endClose();
    }

    @Override
    public String toString() {
        return "VhostUserFrontend[" + name() + "]";
    }
}
