package io.vhost.impl.backend;

import io.vhost.api.Fd;
import io.vhost.api.backend.BackendHandler;
import io.vhost.api.backend.BackendHandler.InflightArea;
import io.vhost.api.backend.BackendHandler.StopMode;
import io.vhost.api.error.FeatureNotNegotiatedException;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.Recovery;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.CryptoSession;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendMessage.*;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.Gate;
import io.vhost.api.message.HeaderFlags;
import io.vhost.api.message.Reply;
import io.vhost.api.message.VringState;
import io.vhost.impl.codec.CodecOptions;
import io.vhost.impl.codec.Expect;
import io.vhost.impl.codec.Header;
import io.vhost.impl.codec.OutBuffer;
import io.vhost.impl.codec.VhostUserCodec;
import io.vhost.impl.metrics.SessionMetrics;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.TransportKind;
import io.vhost.impl.transport.Transports;
import io.vhost.impl.sys.OwnedFd;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Optional;

/**
 * The back-end protocol engine of one connection: receive, validate, dispatch, reply. Runs on the session's reader
 * thread; only that thread mutates the negotiated state, device threads read it through volatile fields.
 *
 * <p>NEED_REPLY. A request without a reply body that sets NEED_REPLY gets a u64 ack (0 success, non-zero failure);
 * a request with a reply body gets only that body (never two replies). The negotiated REPLY_ACK state,
 * {@link #replyAck()}, decides whether the back-end channel asks the front-end for acks.
 *
 * <p>Error policy. A malformed message (bad header, size, fd count or payload syntax) ends the session: the framing
 * can no longer be trusted. An unknown request id is skipped: NACKed when NEED_REPLY is set, otherwise logged. A well-formed request that cannot be honoured (feature not negotiated, queue index out of range,
 * device refusal) is rejected: requests without a reply body get a non-zero ack when one was asked for; requests
 * with a reply body get their defined error reply (empty GET_CONFIG, non-zero u64, crypto session id -1), and where
 * the spec defines none (GET_VRING_BASE, GET_INFLIGHT_FD, ...) the session ends, so the peer is never left waiting.
 */
final class RequestEngine implements ChannelSender.Negotiated {

    private static final Logger LOG = System.getLogger(RequestEngine.class.getName());

    private static final long PROTOCOL_FEATURES_BIT = VirtioFeature.PROTOCOL_FEATURES.mask();
    private static final long KNOWN_PROTOCOL_FEATURES = knownProtocolFeatures();
    private static final long ENGINE_PROTOCOL_FEATURES = ProtocolFeature.MQ.mask() | ProtocolFeature.REPLY_ACK.mask();

    /** Thrown inside dispatch to end the session with a cause; never escapes this class unwrapped. */
    private static final class EndSession extends Exception {
        private static final long serialVersionUID = 1L;

        EndSession(VhostException cause) {
            super(cause.getMessage(), cause, false, false);
        }

        VhostException vhostCause() {
            return (VhostException) getCause();
        }
    }

    private final String name;
    private final Connection connection;
    private final BackendHandler handler;
    private final SessionMetrics metrics;
    private final TransportKind transport;
    private final int queueCount;
    private final int maxQueueSize;
    // Native order, as the codec reads and writes: it then works on these buffers in place, without slices.
    private final ByteBuffer header = ByteBuffer.allocateDirect(VhostUserCodec.HEADER_BYTES)
            .order(ByteOrder.nativeOrder());
    // Small at first: nearly every request fits (a SET_MEM_TABLE of 8 regions is 264 bytes); grown once to the largest
    // payload by the first request that does not (see receiveLargerPayload).
    private ByteBuffer payload = ByteBuffer.allocateDirect(OutBuffer.INITIAL_BYTES).order(ByteOrder.nativeOrder());
    private final OutBuffer out = new OutBuffer();
    private final boolean[] enabled;
    private final boolean[] started;

    private volatile long ackedFeatures;
    private volatile long ackedProtocolFeatures;
    private volatile boolean protocolNegotiated;
    private boolean featuresSet;
    private boolean postcopyListening;
    private boolean postcopyAckDue;
    private CodecOptions codecOptions = CodecOptions.DEFAULT;
    private Reply.U64 lastU64 = Reply.ack(true); // the last value reply built; see u64(long)
    private volatile ChannelSender channel;
    private long requests;

    RequestEngine(String name, Connection connection, BackendHandler handler, SessionMetrics metrics,
            TransportKind transport) {
        this.name = name;
        this.connection = connection;
        this.handler = handler;
        this.metrics = metrics;
        this.transport = transport;
        int count = handler.queueCount();
        if (count < 1 || count > 256) {
            throw new IllegalArgumentException(name + ": BackendHandler.queueCount() returned " + count
                    + "; a vhost-user device has 1 to 256 queues");
        }
        int max = handler.maxQueueSize();
        if (max < 1 || Integer.bitCount(max) != 1 || max > BackendHandler.MAX_SPLIT_QUEUE_SIZE) {
            throw new IllegalArgumentException(name + ": BackendHandler.maxQueueSize() returned " + max
                    + "; it must be a power of two from 1 to " + BackendHandler.MAX_SPLIT_QUEUE_SIZE);
        }
        this.queueCount = count;
        this.maxQueueSize = max;
        this.enabled = new boolean[count];
        this.started = new boolean[count];
    }

    // ---- negotiated state, read by the channel and the session context ----------------------------------------------

    @Override
    public long ackedProtocolFeatures() {
        return ackedProtocolFeatures;
    }

    @Override
    public long ackedFeatures() {
        return ackedFeatures;
    }

    /**
     * REPLY_ACK is in effect when the front-end negotiated protocol features (it sent SET_PROTOCOL_FEATURES, which
     * it may only do after seeing bit 30 offered, or acked bit 30 in SET_FEATURES) and acked REPLY_ACK. Whether
     * GET_PROTOCOL_FEATURES was ever called does not matter (rust-vmm #290); SET_FEATURES need not have come yet
     * (QEMU expects the ack of SET_BACKEND_REQ_FD before it sends SET_FEATURES).
     */
    @Override
    public boolean replyAck() {
        return protocolNegotiated && (ackedProtocolFeatures & ProtocolFeature.REPLY_ACK.mask()) != 0;
    }

    Optional<ChannelSender> channel() {
        return Optional.ofNullable(channel);
    }

    boolean ringEnabled(int queue) {
        return enabled[queue];
    }

    boolean ringStarted(int queue) {
        return started[queue];
    }

    long requestsHandled() {
        return requests;
    }

    /** Closes the back-end channel, if open. Called by the session after the reader ended. */
    void closeChannel() {
        ChannelSender c = channel;
        channel = null;
        if (c != null) {
            c.close();
        }
    }

    // ---- the loop --------------------------------------------------------------------------------------------------

    /**
     * Serves requests until the front-end closes the connection (returns normally) or a failure ends the session
     * (throws).
     *
     * @throws IOException the cause that ended the session: a protocol violation, a disconnect inside a message, a
     *     local shutdown
     */
    void run() throws IOException {
        while (serveOne()) {
            requests++;
        }
    }

    private boolean serveOne() throws IOException {
        header.clear();
        payload.clear();
        List<Fd> fds;
        try {
            fds = connection.receiveMessage(header, payload); // the payload too, when its size fits
        } catch (PeerDisconnectedException e) {
            if (connection.closedAtMessageBoundary()) {
                LOG.log(Level.DEBUG, () -> name + ": the front-end closed the connection after " + requests
                        + " requests");
                return false;
            }
            metrics.error("disconnect");
            throw e;
        }
        header.flip();
        Header h;
        try {
            h = VhostUserCodec.decodeHeader(header, Expect.REQUEST);
            if (h.size() > payload.capacity()) {
                receiveLargerPayload((int) h.size()); // decodeHeader refused sizes beyond the largest payload
            }
            Optional<FrontendRequest> known = h.frontendRequest();
            if (known.isPresent()) {
                VhostUserCodec.checkSize(known.get(), Expect.REQUEST, h.size());
            }
            payload.flip(); // complete: read with the message, or just now into the grown buffer
        } catch (IOException | RuntimeException e) {
            fds.forEach(Fd::close);
            if (e instanceof ProtocolViolationException) {
                metrics.error("protocol");
                LOG.log(Level.WARNING, () -> name + ": malformed message, closing the connection: " + e.getMessage()
                        + (fds.isEmpty() ? "" : " (closed the " + fds.size() + " fds it carried)"));
            }
            throw e;
        }
        if (postcopyAckDue && h.frontendRequest().orElse(null) == FrontendRequest.SET_MEM_TABLE
                && h.size() == Long.BYTES && fds.isEmpty()) {
            // spec §SET_MEM_TABLE note: after our postcopy reply the front-end acknowledges with a SET_MEM_TABLE
            // carrying a u64 (QEMU sends 0); only then may the guest fault on the regions
            postcopyAckDue = false;
            long result = payload.duplicate().order(ByteOrder.nativeOrder()).getLong(0);
            LOG.log(result == 0 ? Level.DEBUG : Level.WARNING, () -> name + ": the front-end acknowledged the postcopy "
                    + "memory table with " + result);
            return true;
        }
        long start = metrics.enabled() ? System.nanoTime() : 0;
        FrontendMessage message;
        try {
            message = VhostUserCodec.decodeFrontend(h, payload, fds, codecOptions);
        } catch (ProtocolViolationException e) {
            if (e.recovery() == Recovery.RETRY) {
                metrics.error("unknown-request");
                boolean nack = h.needsReply();
                LOG.log(Level.WARNING, () -> name + ": " + e.getMessage() + "; "
                        + (nack ? "answered with a non-zero ack" : "ignored") + ", the session goes on");
                if (nack) {
                    sendUnknownNack(h.request());
                }
                return true;
            }
            metrics.error("protocol");
            LOG.log(Level.WARNING, () -> name + ": malformed message, closing the connection: " + e.getMessage());
            throw e;
        }
        try {
            boolean ok = dispatch(h, message);
            if (metrics.enabled()) {
                metrics.handled(message.request(), VhostUserCodec.HEADER_BYTES + h.size(), System.nanoTime() - start,
                        ok);
            }
        } catch (EndSession e) {
            metrics.error("unanswerable");
            throw e.vhostCause();
        } finally {
            closeUnclaimed(message);
        }
        return true;
    }

    /**
     * Closes the descriptors a request brought that its handler did not take: a memory table's (up to 8, usually
     * consecutive numbers) in one system call where possible ({@link OwnedFd#closeAll}), the others as the message
     * closes them.
     */
    private static void closeUnclaimed(FrontendMessage message) {
        if (message instanceof FrontendMessage.SetMemTable table) {
            OwnedFd.closeAll(table.fds());
        } else {
            message.close();
        }
    }

    /**
     * Grows the payload buffer to the largest payload and receives the one {@code receiveMessage} left unread because
     * it did not fit the small buffer.
     */
    private void receiveLargerPayload(int size) throws IOException {
        payload = ByteBuffer.allocateDirect(VhostUserCodec.MAX_PAYLOAD_BYTES).order(ByteOrder.nativeOrder());
        payload.limit(size);
        connection.receivePayload(payload);
    }

    /** Handles one request and sends its reply, if any. Returns false when the request was rejected. */
    private boolean dispatch(Header h, FrontendMessage message) throws IOException, EndSession {
        FrontendRequest request = message.request();
        Reply reply;
        boolean ok = true;
        try {
            checkGate(request);
            reply = handle(message);
        } catch (VhostException e) {
            ok = false;
            reply = errorReply(message, e);
            LOG.log(Level.WARNING, () -> name + ": rejected " + request.name() + ": " + e.getMessage());
        }
        if (reply != null) {
            try (Reply sent = reply) {
                send(request, sent);
            }
        } else if (h.needsReply()) {
            // a front-end that sets NEED_REPLY waits for an answer: give it one even if it never negotiated
            // REPLY_ACK (libvhost-user and DPDK do the same), so it is never left waiting
            send(request, Reply.ack(ok));
        }
        return ok;
    }

    private void send(FrontendRequest request, Reply reply) throws IOException {
        List<Fd> fds = VhostUserCodec.encodeReply(request, reply, out, codecOptions);
        int bytes = out.buffer().remaining();
        connection.send(out.buffer(), fds);
        if (metrics.enabled()) {
            metrics.sent(request, bytes);
        }
    }

    /**
     * NACKs a request whose id is not in the table. The codec cannot encode a reply for an unknown request, so the
     * 20 bytes are written here: header (id, version 1 | REPLY, size 8) and the u64 1.
     */
    private void sendUnknownNack(long id) throws IOException {
        ByteBuffer nack = ByteBuffer.allocate(VhostUserCodec.HEADER_BYTES + 8).order(ByteOrder.nativeOrder());
        nack.putInt((int) id).putInt(HeaderFlags.VERSION | HeaderFlags.REPLY).putInt(8).putLong(1).flip();
        connection.send(nack, List.of());
    }

    // ---- gates -----------------------------------------------------------------------------------------------------

    private void checkGate(FrontendRequest request) throws FeatureNotNegotiatedException {
        switch (request.gate()) {
            case Gate.None none -> {
            }
            case Gate.Protocol p -> {
                if (!protocolNegotiated || (ackedProtocolFeatures & p.protocolFeature().mask()) == 0) {
                    throw new FeatureNotNegotiatedException(request.name() + " needs protocol feature "
                            + p.protocolFeature().name() + ", which was not negotiated (acked protocol features 0x"
                            + Long.toHexString(ackedProtocolFeatures) + "); offer it in protocolFeatures() and "
                            + "have the front-end ack it with SET_PROTOCOL_FEATURES");
                }
            }
            case Gate.Virtio v -> {
                if (v.virtioFeature() == VirtioFeature.PROTOCOL_FEATURES) {
                    // GET/SET_PROTOCOL_FEATURES work before SET_FEATURES: we always offer bit 30.
                    if (request != FrontendRequest.GET_PROTOCOL_FEATURES
                            && request != FrontendRequest.SET_PROTOCOL_FEATURES && !protocolNegotiated) {
                        throw new FeatureNotNegotiatedException(request.name()
                                + " needs VHOST_USER_F_PROTOCOL_FEATURES (bit 30), which was not negotiated: no "
                                + "SET_PROTOCOL_FEATURES came and SET_FEATURES did not ack bit 30");
                    }
                } else if ((ackedFeatures & v.virtioFeature().mask()) == 0) {
                    throw new FeatureNotNegotiatedException(request.name() + " needs virtio feature "
                            + v.virtioFeature().name() + ", which SET_FEATURES did not ack (acked 0x"
                            + Long.toHexString(ackedFeatures) + ")");
                }
            }
        }
    }

    // ---- dispatch: one arm per request -------------------------------------------------------------------------------

    /** Returns the reply body, or null for requests answered only by a reply-ack. */
    private Reply handle(FrontendMessage message) throws VhostException, IOException {
        return switch (message) {
            case GetFeatures m -> u64(offeredFeatures());
            case SetFeatures m -> {
                setFeatures(m.features());
                yield null;
            }
            case SetOwner m -> {
                handler.setOwner();
                yield null;
            }
            case ResetOwner m -> {
                LOG.log(Level.DEBUG, () -> name + ": RESET_OWNER (deprecated): negotiated state kept");
                handler.resetOwner();
                yield null;
            }
            case SetMemTable m -> {
                if (postcopyListening) {
                    Reply reply = new Reply.MemoryTableReply(handler.setMemoryTablePostcopy(m.table(), m.fds()));
                    postcopyAckDue = true;
                    yield reply;
                }
                handler.setMemoryTable(m.table(), m.fds());
                yield null;
            }
            case SetLogBase m -> {
                handler.setLogBase(m.log(), m.fd());
                yield new Reply.U64(0);
            }
            case SetLogFd m -> {
                handler.setLogFd(m.fd());
                yield null;
            }
            case SetVringNum m -> {
                int q = queue(m.request(), m.state().index());
                VhostUserCodec.checkQueueSize(m.state(), maxQueueSize);
                if (Integer.bitCount((int) m.state().num()) != 1
                        && (ackedFeatures & VirtioFeature.RING_PACKED.mask()) == 0) {
                    throw new RequestRejectedException("SET_VRING_NUM " + m.state().num() + " for queue " + q
                            + " is not a power of two, as a split ring needs");
                }
                handler.setVringNum(q, (int) m.state().num());
                yield null;
            }
            case SetVringAddr m -> {
                handler.setVringAddress(queue(m.request(), m.address().index()), m.address());
                yield null;
            }
            case SetVringBase m -> {
                handler.setVringBase(queue(m.request(), m.state().index()), m.state().num());
                yield null;
            }
            case GetVringBase m -> {
                int q = queue(m.request(), m.state().index());
                StopMode mode = m.state().num() == 1
                        && (ackedProtocolFeatures & ProtocolFeature.GET_VRING_BASE_INFLIGHT.mask()) != 0
                                ? StopMode.SUSPEND_INFLIGHT : StopMode.DRAIN;
                yield stopRing(q, mode);
            }
            case SetVringKick m -> {
                int q = queue(m.request(), m.vring().index());
                handler.setVringKick(q, m.fd());
                if (m.fd().isEmpty()) {
                    started[q] = true; // no kick fd: the ring is polled, so it runs from now on
                }
                yield null;
            }
            case SetVringCall m -> {
                handler.setVringCall(queue(m.request(), m.vring().index()), m.fd());
                yield null;
            }
            case SetVringErr m -> {
                handler.setVringErr(queue(m.request(), m.vring().index()), m.fd());
                yield null;
            }
            case GetProtocolFeatures m -> u64(offeredProtocolFeatures());
            case SetProtocolFeatures m -> {
                setProtocolFeatures(m.features());
                yield null;
            }
            case GetQueueNum m -> u64(queueCount);
            case SetVringEnable m -> {
                int q = queue(m.request(), m.state().index());
                long num = m.state().num();
                if (num > 1) {
                    throw new RequestRejectedException("SET_VRING_ENABLE num " + num + " for queue " + q
                            + " is neither 0 (disable) nor 1 (enable)");
                }
                setEnabled(q, num == 1);
                yield null;
            }
            case SendRarp m -> {
                handler.sendRarp(m.mac());
                yield null;
            }
            case NetSetMtu m -> {
                handler.setMtu(m.mtu());
                yield null;
            }
            case SetBackendReqFd m -> {
                openChannel(m.fd());
                yield null;
            }
            case IotlbMsg m -> {
                handler.iotlbMessage(m.message());
                yield new Reply.U64(0);
            }
            case SetVringEndian m -> {
                int q = queue(m.request(), m.state().index());
                long num = m.state().num();
                if (num > 1) {
                    throw new RequestRejectedException("SET_VRING_ENDIAN num " + num + " for queue " + q
                            + " is neither 0 (little endian) nor 1 (big endian)");
                }
                handler.setVringEndian(q, num == 1);
                yield null;
            }
            case GetConfig m -> {
                ConfigSpace asked = m.config();
                byte[] data = handler.getConfig((int) asked.offset(), asked.sizeBytes());
                if (data == null || data.length != asked.sizeBytes()) {
                    throw new RequestRejectedException("GET_CONFIG offset " + asked.offset() + " size "
                            + asked.sizeBytes() + ": the device returned " + (data == null ? "null" : data.length
                            + " bytes") + "; the reply must have exactly the requested size");
                }
                yield new Reply.Config(new ConfigSpace(asked.offset(), asked.flags(), data));
            }
            case SetConfig m -> {
                handler.setConfig(m.config());
                yield null;
            }
            case CreateCryptoSession m -> {
                long id = handler.createCryptoSession(m.session());
                if (id < 0) {
                    throw new RequestRejectedException("CREATE_CRYPTO_SESSION: the device returned session id " + id);
                }
                yield new Reply.CryptoSessionReply(new CryptoSession(id, m.session().setup()));
            }
            case CloseCryptoSession m -> {
                handler.closeCryptoSession(m.sessionId());
                yield null;
            }
            case PostcopyAdvise m -> {
                Fd uffd = handler.postcopyAdvise();
                yield new Reply.U64(0, Optional.of(uffd));
            }
            case PostcopyListen m -> {
                handler.postcopyListen();
                postcopyListening = true;
                yield null;
            }
            case PostcopyEnd m -> {
                postcopyListening = false;
                postcopyAckDue = false;
                handler.postcopyEnd();
                yield new Reply.U64(0);
            }
            case GetInflightFd m -> {
                InflightArea area = handler.getInflightFd(m.inflight());
                yield new Reply.Inflight(area.region(), area.fd());
            }
            case SetInflightFd m -> {
                handler.setInflightFd(m.inflight(), m.fd());
                yield null;
            }
            case GpuSetSocket m -> {
                handler.setGpuSocket(m.fd());
                yield null;
            }
            case ResetDevice m -> {
                resetDevice();
                yield null;
            }
            case VringKick m -> {
                int q = queue(m.request(), m.state().index());
                started[q] = true;
                handler.vringKick(q);
                yield null;
            }
            case GetMaxMemSlots m -> u64(handler.maxMemorySlots());
            case AddMemReg m -> {
                handler.addMemoryRegion(m.region(), m.fd());
                yield postcopyListening ? new Reply.MemoryRegionReply(m.region()) : null;
            }
            case RemMemReg m -> {
                m.fd().ifPresent(Fd::close); // the spec: a back-end MAY accept an fd here and MUST close it
                handler.removeMemoryRegion(m.region());
                yield null;
            }
            case SetStatus m -> {
                if (m.status() < 0 || m.status() > 0xFF) {
                    throw new RequestRejectedException("SET_STATUS 0x" + Long.toHexString(m.status())
                            + " does not fit the 8-bit virtio device status");
                }
                handler.setStatus((int) m.status());
                yield null;
            }
            case GetStatus m -> u64(handler.getStatus() & 0xFFL);
            case GetSharedObject m -> {
                Optional<Fd> fd = handler.getSharedObject(m.object().uuid());
                yield new Reply.U64(fd.isPresent() ? 0 : 1, fd);
            }
            case SetDeviceStateFd m -> {
                Optional<Fd> own = handler.setDeviceStateFd(m.params(), m.fd());
                yield new Reply.U64(own.isPresent() ? 0 : 0x100, own);
            }
            case CheckDeviceState m -> {
                handler.checkDeviceState();
                yield new Reply.U64(0);
            }
            case GetShmemConfig m -> new Reply.ShmemConfigReply(handler.getShmemConfig());
            case GetVringBaseSkipDrain m -> stopRing(queue(m.request(), m.state().index()), StopMode.SUSPEND_INFLIGHT);
        };
    }

    /**
     * Returns a u64 reply without fd: the last one built when the value is the same (answers to GET_FEATURES and the
     * other queries rarely change; the reply is immutable and closing it does nothing).
     */
    private Reply.U64 u64(long value) {
        Reply.U64 reply = lastU64;
        if (reply.value() != value) {
            reply = new Reply.U64(value);
            lastU64 = reply;
        }
        return reply;
    }

    /**
     * Returns the defined error reply of a rejected request, null when only a reply-ack is due, or ends the session
     * when a reply is due but the spec defines no error form for it.
     */
    private Reply errorReply(FrontendMessage message, VhostException cause) throws EndSession {
        FrontendRequest request = message.request();
        boolean bodyDue = switch (request.reply()) {
            case ALWAYS -> true;
            case ACK_IF_ASKED -> false;
            case IF_GATE -> request.gate().feature().map(f -> f instanceof ProtocolFeature p
                    && (ackedProtocolFeatures & p.mask()) != 0).orElse(false);
            case POSTCOPY -> postcopyListening;
        };
        if (!bodyDue) {
            return null;
        }
        return switch (message) {
            case GetConfig m -> new Reply.Empty();
            case SetLogBase m -> new Reply.U64(1);
            case IotlbMsg m -> new Reply.U64(1);
            case PostcopyEnd m -> new Reply.U64(1);
            case CheckDeviceState m -> new Reply.U64(1);
            case GetSharedObject m -> new Reply.U64(1);
            case SetDeviceStateFd m -> new Reply.U64(0x101); // error 1 in bits 0-7, bit 8: no fd
            case CreateCryptoSession m -> new Reply.CryptoSessionReply(new CryptoSession(-1, m.session().setup()));
            default -> {
                LOG.log(Level.WARNING, () -> name + ": " + request.name() + " failed and has no defined error reply;"
                        + " closing the connection so the front-end is not left waiting");
                throw new EndSession(new ProtocolViolationException(request.name() + " failed and the protocol has "
                        + "no error reply for it: " + cause.getMessage(), cause, Recovery.RECONNECT));
            }
        };
    }

    // ---- state machine ---------------------------------------------------------------------------------------------

    private long offeredFeatures() {
        return handler.features() | PROTOCOL_FEATURES_BIT;
    }

    private long offeredProtocolFeatures() {
        return (handler.protocolFeatures() & KNOWN_PROTOCOL_FEATURES) | ENGINE_PROTOCOL_FEATURES;
    }

    private void setFeatures(long acked) throws VhostException {
        long offered = offeredFeatures();
        long extra = acked & ~offered;
        if (extra != 0) {
            throw new RequestRejectedException("SET_FEATURES 0x" + Long.toHexString(acked) + " acks bits 0x"
                    + Long.toHexString(extra) + " that were never offered (offered 0x" + Long.toHexString(offered)
                    + "); features unchanged");
        }
        handler.setFeatures(acked);
        ackedFeatures = acked;
        featuresSet = true;
        if ((acked & PROTOCOL_FEATURES_BIT) != 0) {
            protocolNegotiated = true;
        } else {
            // spec §Ring states: without PROTOCOL_FEATURES every ring is enabled at once. Never disable here.
            for (int q = 0; q < queueCount; q++) {
                setEnabled(q, true);
            }
        }
    }

    private void setProtocolFeatures(long acked) throws VhostException {
        long offered = offeredProtocolFeatures();
        long extra = acked & ~offered;
        if (extra != 0) {
            throw new RequestRejectedException("SET_PROTOCOL_FEATURES 0x" + Long.toHexString(acked) + " acks bits 0x"
                    + Long.toHexString(extra) + " that were never offered (offered 0x" + Long.toHexString(offered)
                    + "); protocol features unchanged");
        }
        long inband = ProtocolFeature.INBAND_NOTIFICATIONS.mask();
        long needed = ProtocolFeature.BACKEND_REQ.mask() | ProtocolFeature.REPLY_ACK.mask();
        if ((acked & inband) != 0 && (acked & needed) != needed) {
            throw new RequestRejectedException("SET_PROTOCOL_FEATURES 0x" + Long.toHexString(acked)
                    + " acks INBAND_NOTIFICATIONS without both BACKEND_REQ and REPLY_ACK, which it requires");
        }
        handler.setProtocolFeatures(acked);
        ackedProtocolFeatures = acked;
        protocolNegotiated = true;
        codecOptions = new CodecOptions((acked & ProtocolFeature.XEN_MMAP.mask()) != 0, ConfigSpace.MAX_BYTES);
    }

    private void setEnabled(int queue, boolean on) throws VhostException {
        if (enabled[queue] != on) {
            handler.setVringEnable(queue, on);
            enabled[queue] = on;
        }
    }

    private Reply stopRing(int queue, StopMode mode) throws VhostException {
        started[queue] = false;
        long base = handler.getVringBase(queue, mode);
        return new Reply.VringBase(new VringState(queue, base & 0xFFFF_FFFFL));
    }

    private void resetDevice() throws VhostException {
        for (int q = 0; q < queueCount; q++) {
            setEnabled(q, false);
            started[q] = false;
        }
        handler.resetDevice();
        ackedFeatures = 0;
        featuresSet = false;
        postcopyListening = false;
    }

    private void openChannel(Fd fd) throws IOException {
        Fd taken = fd.take("back-end channel socket of " + name);
        if (!(taken instanceof OwnedFd owned)) {
            taken.close();
            throw new IllegalStateException(name + ": the transport delivered a received fd that is not an OwnedFd");
        }
        Connection socket = Transports.wrap(owned, transport, name + " back-end channel");
        ChannelSender fresh = new ChannelSender(socket, name, this, metrics);
        ChannelSender old = channel;
        channel = fresh;
        if (old != null) {
            LOG.log(Level.DEBUG, () -> name + ": SET_BACKEND_REQ_FD replaces the back-end channel");
            old.close();
        }
        handler.setFrontendChannel(fresh);
    }

    private int queue(FrontendRequest request, long index) throws RequestRejectedException {
        if (index < 0 || index >= queueCount) {
            throw new RequestRejectedException(request.name() + " names queue " + index + " but the device has "
                    + queueCount + " queue" + (queueCount == 1 ? " (index 0)" : "s (0.." + (queueCount - 1) + ")"));
        }
        return (int) index;
    }

    boolean featuresSet() {
        return featuresSet;
    }

    private static long knownProtocolFeatures() {
        long mask = 0;
        for (ProtocolFeature f : ProtocolFeature.values()) {
            mask |= f.mask();
        }
        return mask;
    }
}
