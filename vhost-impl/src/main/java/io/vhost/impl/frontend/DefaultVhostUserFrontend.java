package io.vhost.impl.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.FeatureNotNegotiatedException;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.Recovery;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
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
import io.vhost.api.message.Gate;
import io.vhost.api.message.HeaderFlags;
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
import io.vhost.impl.codec.CodecOptions;
import io.vhost.impl.daemon.Supervisor;
import io.vhost.impl.metrics.SessionMetrics;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.Connector;
import io.vhost.impl.transport.Listener;
import io.vhost.impl.transport.TransportKind;
import io.vhost.impl.transport.Transports;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The vhost-user front-end: typed requests over one {@link FrontendSession} at a time, serialised by a fair lock so
 * that one request is in flight; REPLY_ACK handled here; the set-up recorded for replay. Thread-safe.
 */
final class DefaultVhostUserFrontend implements VhostUserFrontend {

    private static final System.Logger LOG = System.getLogger(DefaultVhostUserFrontend.class.getName());
    private static final int MAX_INTEGRAL_QUEUE = 255; // vring fd u64 keeps the index in bits 0-7

    /** How the caller gets its answer. */
    private enum ReplyMode { NONE, ACK, BODY }

    private final Path path;
    private final Listener listener; // server mode only; owned
    private final FrontendOptions options;
    private final TransportKind kind = TransportKind.configured();
    private final ReentrantLock lock = new ReentrantLock(true);
    private final List<ReconnectListener> listeners = new CopyOnWriteArrayList<>();
    private final SetupRecord record = new SetupRecord();
    private final Supervisor notifier;
    private final AtomicInteger generation = new AtomicInteger();

    private volatile FrontendSession session;
    private BackendChannel backendChannel; // guarded by lock
    private volatile FeatureSet offered; // null until GET_FEATURES
    private volatile FeatureSet acked = FeatureSet.EMPTY;
    private volatile FeatureSet ackedProtocol = FeatureSet.EMPTY;
    private volatile boolean featuresSet;
    private volatile boolean postcopyListening;
    private volatile boolean closed; // set once by close()
    private final java.util.concurrent.atomic.AtomicBoolean closeOnce = new java.util.concurrent.atomic.AtomicBoolean();

    private DefaultVhostUserFrontend(Path path, Listener listener, FrontendOptions options) {
        this.path = path;
        this.listener = listener;
        this.options = options;
        this.notifier = new Supervisor("vhost-frontend[" + path.getFileName() + "]");
    }

    static DefaultVhostUserFrontend connect(Path path, FrontendOptions options) throws VhostException {
        DefaultVhostUserFrontend f = new DefaultVhostUserFrontend(path, null, options);
        boolean ok = false;
        try {
            f.session = f.openSession();
            ok = true;
            return f;
        } finally {
            if (!ok) {
                f.close();
            }
        }
    }

    static DefaultVhostUserFrontend listen(Path path, FrontendOptions options) throws VhostException {
        Listener l;
        try {
            l = Listener.bind(path, TransportKind.configured());
        } catch (VhostException e) {
            throw e;
        } catch (IOException e) {
            throw new PeerDisconnectedException("cannot listen on " + path + ": " + e, e, Recovery.FAIL);
        }
        DefaultVhostUserFrontend f = new DefaultVhostUserFrontend(path, l, options);
        boolean ok = false;
        try {
            f.session = f.openSession();
            ok = true;
            return f;
        } finally {
            if (!ok) {
                f.close();
            }
        }
    }

    private FrontendSession openSession() throws VhostException {
        Connection c;
        try {
            if (listener != null) {
                c = listener.accept();
            } else {
                c = Connector.connect(path, kind, options.connectTimeout(), Integer.MAX_VALUE);
            }
        } catch (VhostException e) {
            throw e;
        } catch (IOException e) {
            throw new PeerDisconnectedException("cannot " + (listener != null ? "accept a back-end on " : "connect to ")
                    + path + ": " + e, e);
        }
        int n = generation.incrementAndGet();
        String name = path + "#" + n;
        LOG.log(Level.DEBUG, "{0}: connected to the back-end ({1})", name, c.description());
        SessionMetrics metrics = options.metrics().session("frontend", "vhost[" + name + "]");
        return new FrontendSession(name, c, options.replyTimeout(), options.idleMonitor(), this::codecOptions,
                metrics, cause -> onSessionFailure(n, cause));
    }

    private CodecOptions codecOptions() {
        return ackedProtocol.contains(ProtocolFeature.XEN_MMAP) ? new CodecOptions(true, 4096) : CodecOptions.DEFAULT;
    }

    private void onSessionFailure(int sessionGeneration, VhostException cause) {
        if (closed || sessionGeneration != generation.get()) {
            return;
        }
        if (listeners.isEmpty()) {
            return;
        }
        try {
            notifier.fork("backend-lost-" + sessionGeneration, () -> {
                for (ReconnectListener l : listeners) {
                    try {
                        l.backendLost(this, cause);
                    } catch (RuntimeException e) {
                        LOG.log(Level.ERROR, name() + ": reconnect listener failed", e);
                    }
                }
            });
        } catch (IllegalStateException e) {
            LOG.log(Level.DEBUG, "{0}: front-end closing, back-end loss not reported", name());
        }
    }

    // ------------------------------------------------------------------------------------------ request engine

    private boolean replyAckActive() {
        return featuresSet && acked.contains(VirtioFeature.PROTOCOL_FEATURES)
                && ackedProtocol.contains(ProtocolFeature.REPLY_ACK);
    }

    private boolean gateOpen(Gate gate) {
        return switch (gate) {
            case Gate.None n -> true;
            case Gate.Protocol p -> ackedProtocol.contains(p.protocolFeature());
            case Gate.Virtio v -> acked.contains(v.virtioFeature())
                    || (v.virtioFeature() == VirtioFeature.PROTOCOL_FEATURES && offered != null
                            && offered.contains(VirtioFeature.PROTOCOL_FEATURES));
        };
    }

    private ReplyMode replyMode(FrontendRequest r) {
        boolean ack = replyAckActive();
        return switch (r.reply()) {
            case ALWAYS -> ReplyMode.BODY;
            case ACK_IF_ASKED -> ack ? ReplyMode.ACK : ReplyMode.NONE;
            case IF_GATE -> gateOpen(r.gate()) ? ReplyMode.BODY : ack ? ReplyMode.ACK : ReplyMode.NONE;
            case POSTCOPY -> postcopyListening ? ReplyMode.BODY : ack ? ReplyMode.ACK : ReplyMode.NONE;
        };
    }

    /** Sends a request and returns its reply body (null for none); acks are checked here. */
    private Reply exchange(FrontendMessage message) throws VhostException {
        FrontendRequest r = message.request();
        if (!gateOpen(r.gate())) {
            throw new FeatureNotNegotiatedException(name() + ": " + r.name() + " needs " + r.gate()
                    + ", which was not negotiated (virtio acked " + acked.describe(FeatureSet::virtioFeatures)
                    + ", protocol acked " + ackedProtocol.describe(FeatureSet::protocolFeatures) + ")");
        }
        lock.lock();
        FrontendSession s = session;
        SessionMetrics metrics = s != null ? s.metrics() : SessionMetrics.NONE;
        long start = metrics.enabled() ? System.nanoTime() : 0;
        boolean ok = false;
        try {
            if (s == null || closed) {
                throw new PeerDisconnectedException(name() + ": " + r.name() + " not sent: "
                        + (closed ? "the front-end was closed" : "no back-end is connected; call reconnect()"),
                        null, closed ? Recovery.FAIL : Recovery.RECONNECT);
            }
            ReplyMode mode = replyMode(r);
            Reply reply = s.call(message, mode == ReplyMode.ACK ? HeaderFlags.NEED_REPLY : 0, mode != ReplyMode.NONE);
            if (mode == ReplyMode.ACK) {
                try (Reply ack = reply) {
                    checkStatus(r, ack, "REPLY_ACK");
                }
                ok = true;
                return null;
            }
            ok = true;
            return reply;
        } finally {
            if (metrics.enabled()) {
                metrics.handled(r, s.lastReplyBytes(), System.nanoTime() - start, ok);
            }
            lock.unlock();
        }
    }

    private void checkStatus(FrontendRequest r, Reply reply, String what) throws VhostException {
        if (!(reply instanceof Reply.U64 u)) {
            throw new ProtocolViolationException(name() + ": " + r.name() + " expected a u64 " + what + ", got "
                    + reply.getClass().getSimpleName());
        }
        if (u.value() != 0) {
            throw new RequestRejectedException(name() + ": the back-end refused " + r.name() + ": " + what + " "
                    + Long.toUnsignedString(u.value()) + " (non-zero = failure)");
        }
    }

    private long u64(FrontendMessage m) throws VhostException {
        try (Reply reply = exchange(m)) {
            if (reply instanceof Reply.U64 u) {
                return u.value();
            }
            throw new ProtocolViolationException(name() + ": " + m.request().name() + " expected a u64 reply, got "
                    + reply);
        }
    }

    private void status(FrontendMessage m) throws VhostException {
        try (Reply reply = exchange(m)) {
            checkStatus(m.request(), reply, "status");
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
        FrontendSession s = session;
        return s != null ? s.name() : path.toString();
    }

    @Override
    public FeatureSet ackedFeatures() {
        return acked;
    }

    @Override
    public FeatureSet ackedProtocolFeatures() {
        return ackedProtocol;
    }

    @Override
    public void setOwner() throws VhostException {
        exchange(new FrontendMessage.SetOwner());
        lock.lock();
        try {
            record.owner = true;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void resetOwner() throws VhostException {
        exchange(new FrontendMessage.ResetOwner());
        lock.lock();
        try {
            record.owner = false;
            record.resetRings();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public FeatureSet getFeatures() throws VhostException {
        FeatureSet f = new FeatureSet(u64(new FrontendMessage.GetFeatures()));
        offered = f;
        return f;
    }

    @Override
    public void setFeatures(FeatureSet features) throws VhostException {
        Objects.requireNonNull(features, "features");
        FeatureSet known = offered;
        if (known != null && !known.containsAll(features)) {
            throw new IllegalArgumentException(name() + ": SET_FEATURES " + features.describe(FeatureSet::virtioFeatures)
                    + " acks bits the back-end did not offer: " + features.minus(known)
                    .describe(FeatureSet::virtioFeatures));
        }
        lock.lock();
        try {
            exchange(new FrontendMessage.SetFeatures(features.bits()));
            acked = features;
            featuresSet = true;
            record.features = features;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void setMemTable(List<SharedRegion> regions) throws VhostException {
        Objects.requireNonNull(regions, "regions");
        List<MemoryRegion> descs = new ArrayList<>();
        List<Fd> fds = new ArrayList<>();
        for (SharedRegion r : regions) {
            descs.add(r.region());
            fds.add(r.fd());
        }
        FrontendMessage.SetMemTable m = new FrontendMessage.SetMemTable(new MemoryTable(descs), fds);
        lock.lock();
        try {
            boolean listening = postcopyListening;
            try (Reply reply = exchange(m)) {
                if (listening && reply instanceof Reply.MemoryTableReply mapped) {
                    // Postcopy: the back-end replied with its mapped bases; an empty SET_MEM_TABLE acknowledges them,
                    // after which the guest may fault on the memory (spec: SET_MEM_TABLE note).
                    LOG.log(Level.DEBUG, "{0}: postcopy SET_MEM_TABLE mapped {1}", name(), mapped.table());
                    FrontendSession s = session;
                    if (s != null) {
                        s.sendEmpty(FrontendRequest.SET_MEM_TABLE);
                    }
                }
            }
            record.memTable(regions);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void setVringNum(int queue, int size) throws VhostException {
        checkQueue(queue);
        lock.lock();
        try {
            exchange(new FrontendMessage.SetVringNum(new VringState(queue, size)));
            record.vring(queue).size = size;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void setVringAddr(VringAddress address) throws VhostException {
        Objects.requireNonNull(address, "address");
        checkQueue((int) address.index());
        lock.lock();
        try {
            exchange(new FrontendMessage.SetVringAddr(address));
            record.vring((int) address.index()).address = address;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void setVringBase(int queue, long base) throws VhostException {
        checkQueue(queue);
        lock.lock();
        try {
            exchange(new FrontendMessage.SetVringBase(new VringState(queue, base)));
            record.vring(queue).base = base;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public long getVringBase(int queue) throws VhostException {
        checkQueue(queue);
        lock.lock();
        try {
            long base = vringState(new FrontendMessage.GetVringBase(new VringState(queue, 0)), queue);
            record.vring(queue).base = base;
            return base;
        } finally {
            lock.unlock();
        }
    }

    private long vringState(FrontendMessage m, int queue) throws VhostException {
        try (Reply reply = exchange(m)) {
            if (reply instanceof Reply.VringBase(VringState state)) {
                if (state.index() != queue) {
                    throw new ProtocolViolationException(name() + ": " + m.request().name() + " for queue " + queue
                            + " was answered for queue " + state.index());
                }
                return state.num();
            }
            throw new ProtocolViolationException(name() + ": " + m.request().name() + " expected a vring state reply,"
                    + " got " + reply);
        }
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
        FrontendMessage m = which.message(queue, fd);
        lock.lock();
        try {
            exchange(m);
            record.eventFd(which, queue, fd);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean isConnected() {
        FrontendSession s = session;
        return !closed && s != null && !s.isBroken();
    }

    // ------------------------------------------------------------------------------------------ vhost-user only

    @Override
    public FeatureSet getProtocolFeatures() throws VhostException {
        FeatureSet raw = new FeatureSet(u64(new FrontendMessage.GetProtocolFeatures()));
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
        lock.lock();
        try {
            exchange(new FrontendMessage.SetProtocolFeatures(features.bits()));
            ackedProtocol = features;
            record.protocolFeatures = features;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public long getQueueNum() throws VhostException {
        return u64(new FrontendMessage.GetQueueNum());
    }

    @Override
    public void setVringEnable(int queue, boolean enable) throws VhostException {
        checkQueue(queue);
        lock.lock();
        try {
            exchange(new FrontendMessage.SetVringEnable(new VringState(queue, enable ? 1 : 0)));
            record.vring(queue).enabled = enable;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void sendRarp(MacAddress mac) throws VhostException {
        exchange(new FrontendMessage.SendRarp(mac));
    }

    @Override
    public void setMtu(int mtu) throws VhostException {
        exchange(new FrontendMessage.NetSetMtu(mtu));
    }

    @Override
    public void setBackendReqFd(Fd socket) throws VhostException {
        exchange(new FrontendMessage.SetBackendReqFd(socket));
    }

    @Override
    public void openBackendChannel(BackendRequestHandler handler) throws VhostException {
        Objects.requireNonNull(handler, "handler");
        lock.lock();
        try {
            FrontendSession s = session;
            if (s == null) {
                throw new PeerDisconnectedException(name() + ": no back-end is connected; call reconnect()");
            }
            OwnedFd[] ends = Sockets.socketPair(0, "back-end channel of " + name());
            Connection ours;
            try {
                ours = Transports.wrap(ends[0], kind, name() + " back-end channel");
            } catch (IOException e) {
                ends[1].close();
                throw e instanceof VhostException v ? v
                        : new PeerDisconnectedException(name() + ": cannot set up the back-end channel: " + e, e);
            }
            BackendChannel channel = new BackendChannel(name() + " back-end channel", ours, handler,
                    this::replyAckActive, this::gateOpen, this::codecOptions, s.metrics());
            boolean ok = false;
            try (Fd theirs = ends[1]) {
                exchange(new FrontendMessage.SetBackendReqFd(theirs));
                ok = true;
            } finally {
                if (!ok) {
                    channel.close();
                }
            }
            BackendChannel old = backendChannel;
            backendChannel = channel;
            if (old != null) {
                old.close();
            }
            s.supervisor().onShutdown(channel::shutdown);
            if (s.transportKind() == TransportKind.JUNIXSOCKET) {
                s.supervisor().forkPlatform("backend-channel", channel::serve);
            } else {
                s.supervisor().fork("backend-channel", channel::serve);
            }
            record.backendHandler = handler;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void iotlbMessage(IotlbMessage message) throws VhostException {
        status(new FrontendMessage.IotlbMsg(message));
    }

    @Override
    public void setVringEndian(int queue, int endian) throws VhostException {
        checkQueue(queue);
        if (endian != VRING_LITTLE_ENDIAN && endian != VRING_BIG_ENDIAN) {
            throw new IllegalArgumentException("SET_VRING_ENDIAN " + endian + " for queue " + queue
                    + " is neither 0 (little) nor 1 (big)");
        }
        exchange(new FrontendMessage.SetVringEndian(new VringState(queue, endian)));
    }

    @Override
    public ConfigSpace getConfig(long offset, int sizeBytes) throws VhostException {
        if (sizeBytes <= 0 || sizeBytes > ConfigSpace.MAX_BYTES) {
            throw new IllegalArgumentException("GET_CONFIG size " + sizeBytes + " is outside 1.." + ConfigSpace.MAX_BYTES);
        }
        try (Reply reply = exchange(new FrontendMessage.GetConfig(new ConfigSpace(offset, 0, new byte[sizeBytes])))) {
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
        exchange(new FrontendMessage.SetConfig(config));
    }

    @Override
    public CryptoSession createCryptoSession(CryptoSession request) throws VhostException {
        try (Reply reply = exchange(new FrontendMessage.CreateCryptoSession(request))) {
            if (reply instanceof Reply.CryptoSessionReply(CryptoSession s)) {
                return s;
            }
            throw new ProtocolViolationException(name() + ": CREATE_CRYPTO_SESSION expected a session reply, got "
                    + reply);
        }
    }

    @Override
    public void closeCryptoSession(long sessionId) throws VhostException {
        exchange(new FrontendMessage.CloseCryptoSession(sessionId));
    }

    @Override
    public Fd postcopyAdvise() throws VhostException {
        Reply reply = exchange(new FrontendMessage.PostcopyAdvise());
        if (reply instanceof Reply.U64(long value, Optional<Fd> fd) && fd.isPresent()) {
            return fd.get();
        }
        if (reply != null) {
            reply.close();
        }
        throw new RequestRejectedException(name() + ": POSTCOPY_ADVISE returned no userfaultfd (" + reply + ")");
    }

    @Override
    public void postcopyListen() throws VhostException {
        exchange(new FrontendMessage.PostcopyListen());
        postcopyListening = true;
    }

    @Override
    public void postcopyEnd() throws VhostException {
        status(new FrontendMessage.PostcopyEnd());
        postcopyListening = false;
    }

    @Override
    public InflightArea getInflightFd(int numQueues, int queueSize) throws VhostException {
        lock.lock();
        try {
            Reply reply = exchange(new FrontendMessage.GetInflightFd(new InflightRegion(0, 0, numQueues, queueSize)));
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
            if (reply != null) {
                reply.close();
            }
            throw new RequestRejectedException(name() + ": GET_INFLIGHT_FD returned no inflight area (" + reply + ")");
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void setInflightFd(InflightRegion region, Fd fd) throws VhostException {
        lock.lock();
        try {
            exchange(new FrontendMessage.SetInflightFd(region, fd));
            record.inflight(region, fd);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void gpuSetSocket(Fd socket) throws VhostException {
        exchange(new FrontendMessage.GpuSetSocket(socket));
    }

    @Override
    public void resetDevice() throws VhostException {
        lock.lock();
        try {
            exchange(new FrontendMessage.ResetDevice());
            record.resetRings();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void vringKick(int queue) throws VhostException {
        checkQueue(queue);
        exchange(new FrontendMessage.VringKick(new VringState(queue, 0)));
    }

    @Override
    public long getMaxMemSlots() throws VhostException {
        return u64(new FrontendMessage.GetMaxMemSlots());
    }

    @Override
    public void addMemReg(SharedRegion region) throws VhostException {
        lock.lock();
        try {
            try (Reply reply = exchange(new FrontendMessage.AddMemReg(region.region(), region.fd()))) {
                if (reply != null) {
                    LOG.log(Level.DEBUG, "{0}: postcopy ADD_MEM_REG reply {1}", name(), reply);
                }
            }
            record.addRegion(region);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void remMemReg(MemoryRegion region) throws VhostException {
        lock.lock();
        try {
            exchange(new FrontendMessage.RemMemReg(region, Optional.empty()));
            record.removeRegion(region);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void setStatus(int status) throws VhostException {
        lock.lock();
        try {
            exchange(new FrontendMessage.SetStatus(status));
            record.status = status;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int getStatus() throws VhostException {
        return (int) u64(new FrontendMessage.GetStatus());
    }

    @Override
    public Fd getSharedObject(SharedObject object) throws VhostException {
        Reply reply = exchange(new FrontendMessage.GetSharedObject(object));
        if (reply instanceof Reply.U64(long value, Optional<Fd> fd) && value == 0 && fd.isPresent()) {
            return fd.get();
        }
        if (reply != null) {
            reply.close();
        }
        throw new RequestRejectedException(name() + ": the back-end has no shared object " + object.uuid() + " ("
                + reply + ")");
    }

    @Override
    public Optional<Fd> setDeviceStateFd(DeviceStateParams params, Fd pipe) throws VhostException {
        Reply reply = exchange(new FrontendMessage.SetDeviceStateFd(params, pipe));
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

    @Override
    public void checkDeviceState() throws VhostException {
        status(new FrontendMessage.CheckDeviceState());
    }

    @Override
    public ShmemConfig getShmemConfig() throws VhostException {
        try (Reply reply = exchange(new FrontendMessage.GetShmemConfig())) {
            if (reply instanceof Reply.ShmemConfigReply(ShmemConfig c)) {
                return c;
            }
            throw new ProtocolViolationException(name() + ": GET_SHMEM_CONFIG expected a config reply, got " + reply);
        }
    }

    @Override
    public long getVringBaseSkipDrain(int queue) throws VhostException {
        checkQueue(queue);
        lock.lock();
        try {
            long base = vringState(new FrontendMessage.GetVringBaseSkipDrain(new VringState(queue, 0)), queue);
            record.vring(queue).base = base;
            return base;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void setLogBase(LogRegion log, Fd fd) throws VhostException {
        lock.lock();
        try {
            try (Reply reply = exchange(new FrontendMessage.SetLogBase(log, fd))) {
                // 0 bytes (DPDK) or a u64 (libvhost-user): both accepted; a non-zero u64 is a failure.
                if (reply instanceof Reply.U64 u && u.value() != 0) {
                    throw new RequestRejectedException(name() + ": the back-end refused SET_LOG_BASE " + log
                            + ": status " + u.value());
                }
            }
            record.log(log, fd);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void setLogFd(Fd fd) throws VhostException {
        exchange(new FrontendMessage.SetLogFd(fd));
    }

    // ------------------------------------------------------------------------------------------ reconnect

    @Override
    public void addReconnectListener(ReconnectListener l) {
        listeners.add(Objects.requireNonNull(l, "listener"));
    }

    @Override
    public void reconnect() throws VhostException {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException(name() + ": reconnect() after close()");
            }
            FrontendSession old = session;
            session = null;
            closeSession(old);
            offered = null;
            acked = FeatureSet.EMPTY;
            ackedProtocol = FeatureSet.EMPTY;
            featuresSet = false;
            postcopyListening = false;
            session = openSession();
            replay();
        } finally {
            lock.unlock();
        }
        for (ReconnectListener l : listeners) {
            try {
                l.reconnected(this);
            } catch (RuntimeException e) {
                LOG.log(Level.ERROR, name() + ": reconnect listener failed", e);
            }
        }
    }

    private void closeSession(FrontendSession s) {
        BackendChannel channel = backendChannel;
        backendChannel = null;
        if (channel != null) {
            channel.shutdown();
        }
        if (s != null) {
            s.close();
        }
        if (channel != null) {
            channel.close();
        }
    }

    /** Replays the recorded set-up on the new session, in the order QEMU uses on reconnect. */
    private void replay() throws VhostException {
        FeatureSet features = record.features;
        FeatureSet protocol = record.protocolFeatures;
        FeatureSet nowOffered = getFeatures();
        if (features != null && !nowOffered.containsAll(features)) {
            throw new RequestRejectedException(name() + ": the new back-end no longer offers virtio features "
                    + features.minus(nowOffered).describe(FeatureSet::virtioFeatures) + " acked before; cannot replay");
        }
        if (protocol != null && nowOffered.contains(VirtioFeature.PROTOCOL_FEATURES)) {
            FeatureSet offeredProtocol = getProtocolFeatures();
            if (!offeredProtocol.containsAll(protocol)) {
                throw new RequestRejectedException(name() + ": the new back-end no longer offers protocol features "
                        + protocol.minus(offeredProtocol).describe(FeatureSet::protocolFeatures) + "; cannot replay");
            }
            setProtocolFeatures(protocol);
        }
        if (record.owner) {
            setOwner();
        }
        if (features != null) {
            setFeatures(features);
        }
        if (record.backendHandler != null && ackedProtocol.contains(ProtocolFeature.BACKEND_REQ)) {
            openBackendChannel(record.backendHandler);
        }
        if (record.memTable != null && !record.memTable.isEmpty()) {
            setMemTable(record.memTable);
        }
        if (record.log != null && record.logFd != null) {
            setLogBase(record.log, record.logFd);
        }
        if (record.inflight != null && record.inflightFd != null) {
            setInflightFd(record.inflight, record.inflightFd);
        }
        for (Map.Entry<Integer, SetupRecord.Vring> e : List.copyOf(record.vrings.entrySet())) {
            int q = e.getKey();
            SetupRecord.Vring v = e.getValue();
            if (v.size != null) {
                setVringNum(q, v.size);
            }
            if (v.base != null) {
                long base = v.base;
                for (ReconnectListener l : listeners) {
                    base = l.replayVringBase(q, base);
                }
                setVringBase(q, base);
            }
            if (v.address != null) {
                setVringAddr(v.address);
            }
            for (VringEventFd which : VringEventFd.values()) { // call, err, kick
                Optional<Fd> fd = v.eventFds.get(which);
                if (fd != null) {
                    which.set(this, q, fd);
                }
            }
            if (v.enabled != null && gateOpen(FrontendRequest.SET_VRING_ENABLE.gate())) {
                setVringEnable(q, v.enabled);
            }
        }
        if (record.status != null && ackedProtocol.contains(ProtocolFeature.STATUS)) {
            setStatus(record.status);
        }
        LOG.log(Level.DEBUG, "{0}: set-up replayed ({1} rings)", name(), record.vrings.size());
    }

    @Override
    public void close() {
        if (!closeOnce.compareAndSet(false, true)) {
            return;
        }
        closed = true;
        FrontendSession current = session;
        if (current != null) {
            current.abort(); // a request waiting for its reply releases the lock now
        }
        notifier.shutdown(); // interrupts a listener thread that is reconnecting (backing off or accepting)
        if (listener != null) {
            listener.close(); // unblocks an accept in progress
        }
        lock.lock();
        try {
            FrontendSession s = session;
            session = null;
            closeSession(s);
            record.close();
        } finally {
            lock.unlock();
        }
        notifier.close();
    }

    @Override
    public String toString() {
        return "VhostUserFrontend[" + name() + "]";
    }
}
