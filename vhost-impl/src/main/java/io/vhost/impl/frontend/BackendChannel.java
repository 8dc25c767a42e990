package io.vhost.impl.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.Recovery;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.frontend.BackendRequestHandler;
import io.vhost.api.message.BackendMessage;
import io.vhost.api.message.BackendRequest;
import io.vhost.api.message.Gate;
import io.vhost.api.message.Reply;
import io.vhost.impl.codec.Expect;
import io.vhost.impl.codec.Header;
import io.vhost.impl.codec.OutBuffer;
import io.vhost.impl.codec.VhostUserCodec;
import io.vhost.impl.metrics.SessionMetrics;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.TransportKind;
import io.vhost.impl.transport.Transports;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Optional;

/**
 * The front-end's end of the back-end request channel: reads each back-end request, serves it to the
 * {@link BackendRequestHandler} and replies only where the specification requires it (a u64 ack when NEED_REPLY is
 * set and REPLY_ACK is negotiated; always for {@code SHARED_OBJECT_LOOKUP}). Runs as a child of the session's
 * supervisor; ends quietly when the back-end closes the channel, and closes the channel on a protocol violation.
 */
final class BackendChannel implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(BackendChannel.class.getName());

    /** Hands the back-end's end of a new channel to the back-end (SET_BACKEND_REQ_FD). */
    @FunctionalInterface
    interface HandOver {
        void send(Fd backendEnd) throws VhostException;
    }

    private final String name;
    private final Connection connection;
    private final BackendRequestHandler handler;
    private final Negotiation negotiation;
    private final SessionMetrics metrics;
    private final OutBuffer out = new OutBuffer();
    private volatile boolean closing;

    private BackendChannel(String name, Connection connection, BackendRequestHandler handler, Negotiation negotiation,
            SessionMetrics metrics) {
        this.name = name;
        this.connection = connection;
        this.handler = handler;
        this.negotiation = negotiation;
        this.metrics = metrics;
    }

    /**
     * Opens a channel over a new socket pair and hands the back-end's end over; that end is closed afterwards (the
     * back-end received its own copy), ours is closed if the hand-over fails. Call {@link #start} next.
     */
    static BackendChannel open(String frontendName, TransportKind kind, BackendRequestHandler handler,
            Negotiation negotiation, SessionMetrics metrics, HandOver handOver) throws VhostException {
        String name = frontendName + " back-end channel";
        OwnedFd[] ends = Sockets.socketPair(0, "back-end channel of " + frontendName);
        Connection ours;
        try {
            ours = Transports.wrap(ends[0], kind, name);
        } catch (IOException e) {
            ends[1].close();
            throw e instanceof VhostException v ? v
                    : new PeerDisconnectedException(frontendName + ": cannot set up the back-end channel: " + e, e);
        }
        BackendChannel channel = new BackendChannel(name, ours, handler, negotiation, metrics);
        boolean ok = false;
        try (Fd theirs = ends[1]) {
            handOver.send(theirs);
            ok = true;
        } finally {
            if (!ok) {
                channel.close();
            }
        }
        return channel;
    }

    /** Starts serving on a child of {@code session}'s supervisor, which shuts the channel down when it stops. */
    void start(FrontendSession session) {
        session.supervisor().onShutdown(this::shutdown);
        if (session.transportKind() == TransportKind.JUNIXSOCKET) {
            session.supervisor().forkPlatform("backend-channel", this::serve);
        } else {
            session.supervisor().fork("backend-channel", this::serve);
        }
    }

    BackendRequestHandler handler() {
        return handler;
    }

    /** The reader's body: serve requests until the channel closes. */
    void serve() {
        ByteBuffer header = ByteBuffer.allocate(VhostUserCodec.HEADER_BYTES).order(ByteOrder.nativeOrder());
        while (!closing) {
            header.clear();
            List<Fd> fds;
            try {
                fds = connection.receiveHeader(header);
            } catch (PeerDisconnectedException e) {
                LOG.log(Level.DEBUG, "{0}: back-end channel closed: {1}", name, e.getMessage());
                return;
            } catch (IOException e) {
                if (!closing) {
                    LOG.log(Level.WARNING, "{0}: back-end channel failed: {1}", name, e.getMessage());
                }
                return;
            }
            header.flip();
            try {
                serveOne(header, fds);
            } catch (IOException e) {
                FrontendSession.closeAll(fds);
                if (!closing) {
                    LOG.log(e instanceof PeerDisconnectedException ? Level.DEBUG : Level.WARNING,
                            "{0}: back-end channel closed: {1}", name, e.getMessage());
                }
                return;
            } catch (RuntimeException e) {
                FrontendSession.closeAll(fds);
                LOG.log(Level.ERROR, name + ": back-end channel reader failed; channel closed", e);
                return;
            }
        }
    }

    private void serveOne(ByteBuffer headerBytes, List<Fd> fds) throws IOException {
        Header header = VhostUserCodec.decodeHeader(headerBytes, Expect.REQUEST);
        ByteBuffer payload = ByteBuffer.allocate((int) header.size()).order(ByteOrder.nativeOrder());
        connection.receiveFully(payload);
        payload.flip();
        BackendMessage message;
        try {
            message = VhostUserCodec.decodeBackend(header, payload, fds, negotiation.codecOptions());
        } catch (ProtocolViolationException e) {
            metrics.error(e.recovery() == Recovery.RETRY ? "unknown-request" : "protocol");
            if (e.recovery() == Recovery.RETRY && header.needsReply() && negotiation.replyAckActive()) {
                LOG.log(Level.WARNING, "{0}: {1}; answered failure", name, e.getMessage());
                sendAck(header.request(), 1);
                return; // an unknown request id: NACKed, the channel goes on
            }
            if (e.recovery() == Recovery.RETRY) {
                LOG.log(Level.WARNING, "{0}: {1}; ignored", name, e.getMessage());
                return;
            }
            throw e;
        }
        BackendRequest request = message.request();
        long start = metrics.enabled() ? System.nanoTime() : 0;
        boolean ok = true;
        Optional<Fd> lookedUp = Optional.empty();
        try (message) {
            String refusal = refusal(message);
            if (refusal != null) {
                ok = false;
                LOG.log(Level.WARNING, "{0}: {1}; refused it and closed its fds", name, refusal);
            } else {
                lookedUp = dispatch(message);
            }
        } catch (VhostException | RuntimeException e) {
            ok = false;
            LOG.log(Level.DEBUG, "{0}: {1} refused by the handler: {2}", name, request.name(), e.getMessage());
        }
        if (request == BackendRequest.BACKEND_SHARED_OBJECT_LOOKUP) {
            sendReply(request, new Reply.U64(ok ? 0 : 1, ok ? lookedUp : Optional.empty()));
        } else if (header.needsReply() && negotiation.replyAckActive()) {
            sendReply(request, Reply.ack(ok));
        }
        if (metrics.enabled()) {
            metrics.handled(request, VhostUserCodec.HEADER_BYTES + header.size(), System.nanoTime() - start, ok);
        }
    }

    /** Returns why the request may not be served (its feature or fd passing not negotiated), or null. */
    private String refusal(BackendMessage message) {
        BackendRequest request = message.request();
        if (!negotiation.gateOpen(request.gate())) {
            return request.name() + " needs " + request.gate() + ", which was not negotiated";
        }
        if (!message.fds().isEmpty() && !negotiation.gateOpen(Gate.protocol(ProtocolFeature.BACKEND_SEND_FD))) {
            return request.name() + " carried " + message.fds().size() + " fds but BACKEND_SEND_FD was not negotiated";
        }
        return null;
    }

    private Optional<Fd> dispatch(BackendMessage message) throws VhostException {
        switch (message) {
            case BackendMessage.IotlbMiss m -> handler.iotlbMessage(m.message());
            case BackendMessage.ConfigChange m -> handler.configChanged();
            case BackendMessage.VringHostNotifier m -> handler.vringHostNotifier(m.area(), m.fd());
            case BackendMessage.VringCall m -> handler.vringCall((int) m.state().index());
            case BackendMessage.VringErr m -> handler.vringError((int) m.state().index());
            case BackendMessage.SharedObjectAdd m -> handler.sharedObjectAdd(m.object());
            case BackendMessage.SharedObjectRemove m -> handler.sharedObjectRemove(m.object());
            case BackendMessage.SharedObjectLookup m -> {
                return Optional.of(handler.sharedObjectLookup(m.object()));
            }
            case BackendMessage.ShmemMap m -> handler.shmemMap(m.mapping(), m.fd());
            case BackendMessage.ShmemUnmap m -> handler.shmemUnmap(m.mapping());
        }
        return Optional.empty();
    }

    private void sendAck(long requestId, long value) throws IOException {
        ByteBuffer ack = out.cleared();
        ack.putInt((int) requestId).putInt(io.vhost.api.message.HeaderFlags.VERSION
                | io.vhost.api.message.HeaderFlags.REPLY).putInt(8).putLong(value);
        ack.flip();
        connection.send(ack, List.of());
    }

    private void sendReply(BackendRequest request, Reply reply) throws IOException {
        List<Fd> fds = VhostUserCodec.encodeReply(request, reply, out, negotiation.codecOptions());
        int bytes = out.buffer().remaining();
        connection.send(out.buffer(), fds); // the fds stay owned by the handler
        if (metrics.enabled()) {
            metrics.sent(request, bytes);
        }
    }

    /** Stops serving: unblocks the reader without closing the socket (safe from a shutdown hook). Idempotent. */
    void shutdown() {
        closing = true;
        connection.shutdown();
    }

    /** Stops serving and closes the channel; call after the reader has ended. Idempotent. */
    @Override
    public void close() {
        closing = true;
        connection.shutdown();
        connection.close();
    }
}
