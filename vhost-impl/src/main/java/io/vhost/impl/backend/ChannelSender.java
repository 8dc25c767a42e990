package io.vhost.impl.backend;

import io.vhost.api.Fd;
import io.vhost.api.backend.FrontendChannel;
import io.vhost.api.error.FeatureNotNegotiatedException;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.message.BackendMessage;
import io.vhost.api.message.BackendRequest;
import io.vhost.api.message.Gate;
import io.vhost.api.message.HeaderFlags;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.Reply;
import io.vhost.api.message.ReplyKind;
import io.vhost.api.message.SharedObject;
import io.vhost.api.message.ShmemMapping;
import io.vhost.api.message.VringArea;
import io.vhost.api.message.VringState;
import io.vhost.impl.codec.CodecOptions;
import io.vhost.impl.codec.Expect;
import io.vhost.impl.codec.Header;
import io.vhost.impl.codec.OutBuffer;
import io.vhost.impl.codec.VhostUserCodec;
import io.vhost.impl.metrics.SessionMetrics;
import io.vhost.impl.transport.Connection;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The back-end to front-end sender over the socket of {@code SET_BACKEND_REQ_FD}. One lock covers the feature check,
 * the send and the reply read, so concurrent device threads never interleave on the socket (rust-vmm #338 took two
 * locks and deadlocked).
 */
final class ChannelSender implements FrontendChannel, AutoCloseable {

    /** The negotiated state the sender checks; read on every call, so changes apply at once. */
    interface Negotiated {
        /**
         * Returns the acked protocol features.
         *
         * @return the feature word
         */
        long ackedProtocolFeatures();

        /**
         * Returns the acked virtio features.
         *
         * @return the feature word
         */
        long ackedFeatures();

        /**
         * Tells whether REPLY_ACK is in effect.
         *
         * @return {@code true} if the front-end acks requests that set NEED_REPLY
         */
        boolean replyAck();
    }

    private final Connection connection;
    private final String name;
    private final Negotiated negotiated;
    private final SessionMetrics metrics;
    private final ReentrantLock lock = new ReentrantLock();
    private final OutBuffer out = new OutBuffer();
    private final ByteBuffer header = ByteBuffer.allocate(VhostUserCodec.HEADER_BYTES);
    private final ByteBuffer payload = ByteBuffer.allocate(VhostUserCodec.MAX_PAYLOAD_BYTES);

    ChannelSender(Connection connection, String name, Negotiated negotiated, SessionMetrics metrics) {
        this.connection = connection;
        this.name = name;
        this.negotiated = negotiated;
        this.metrics = metrics;
    }

    @Override
    public void iotlbMessage(IotlbMessage message) throws VhostException {
        send(new BackendMessage.IotlbMiss(message));
    }

    @Override
    public void configChanged() throws VhostException {
        send(new BackendMessage.ConfigChange());
    }

    @Override
    public void vringHostNotifier(VringArea area, Optional<Fd> fd) throws VhostException {
        send(new BackendMessage.VringHostNotifier(area, fd));
    }

    @Override
    public void vringCall(int queue) throws VhostException {
        send(new BackendMessage.VringCall(new VringState(queue, 0)));
    }

    @Override
    public void vringErr(int queue) throws VhostException {
        send(new BackendMessage.VringErr(new VringState(queue, 0)));
    }

    @Override
    public void sharedObjectAdd(UUID uuid) throws VhostException {
        send(new BackendMessage.SharedObjectAdd(new SharedObject(uuid)));
    }

    @Override
    public void sharedObjectRemove(UUID uuid) throws VhostException {
        send(new BackendMessage.SharedObjectRemove(new SharedObject(uuid)));
    }

    @Override
    public Optional<Fd> sharedObjectLookup(UUID uuid) throws VhostException {
        return send(new BackendMessage.SharedObjectLookup(new SharedObject(uuid)));
    }

    @Override
    public void shmemMap(ShmemMapping mapping, Fd fd) throws VhostException {
        send(new BackendMessage.ShmemMap(mapping, fd));
    }

    @Override
    public void shmemUnmap(ShmemMapping mapping) throws VhostException {
        send(new BackendMessage.ShmemUnmap(mapping));
    }

    @Override
    public boolean acksReplies() {
        return negotiated.replyAck();
    }

    /** Closes the channel socket; a call blocked in a reply read fails with {@link PeerDisconnectedException}. */
    @Override
    public void close() {
        connection.close();
    }

    /**
     * Sends one request (the message's fds are borrowed and stay open) and, when a reply is due, reads it.
     *
     * @return the fd of a SHARED_OBJECT_LOOKUP reply, owned by the caller; empty otherwise
     */
    private Optional<Fd> send(BackendMessage message) throws VhostException {
        BackendRequest request = message.request();
        lock.lock();
        try {
            checkGate(request, message);
            boolean replyAck = negotiated.replyAck();
            boolean always = request.reply() == ReplyKind.ALWAYS;
            int flags = !always && replyAck ? HeaderFlags.NEED_REPLY : 0;
            CodecOptions options = CodecOptions.DEFAULT;
            List<Fd> fds = VhostUserCodec.encode(message, flags, out, options);
            int bytes = out.buffer().remaining();
            connection.send(out.buffer(), fds);
            if (metrics.enabled()) {
                metrics.sent(request, bytes);
            }
            if (!always && !replyAck) {
                return Optional.empty();
            }
            try (Reply reply = readReply(request, options)) {
                if (!(reply instanceof Reply.U64 u)) {
                    throw new RequestRejectedException(name + ": " + request.name() + " got an unexpected reply "
                            + reply.getClass().getSimpleName());
                }
                if (u.value() != 0) {
                    throw new RequestRejectedException(name + ": the front-end rejected " + request.name()
                            + " with result " + u.value());
                }
                return u.fd().map(fd -> fd.take("shared object dmabuf from " + name));
            }
        } catch (VhostException e) {
            throw e;
        } catch (IOException e) {
            throw new PeerDisconnectedException(name + ": the back-end channel failed while sending "
                    + request.name() + ": " + e.getMessage(), e);
        } finally {
            lock.unlock();
        }
    }

    private Reply readReply(BackendRequest request, CodecOptions options) throws IOException {
        header.clear();
        List<Fd> fds = connection.receiveHeader(header);
        header.flip();
        Header h;
        try {
            h = VhostUserCodec.decodeHeader(header, Expect.REPLY);
            VhostUserCodec.checkSize(request, Expect.REPLY, h.size());
            payload.clear().limit((int) h.size());
            connection.receiveFully(payload);
            payload.flip();
        } catch (IOException | RuntimeException e) {
            fds.forEach(Fd::close);
            throw e;
        }
        return VhostUserCodec.decodeReply(request, h, payload, fds, options);
    }

    private void checkGate(BackendRequest request, BackendMessage message) throws FeatureNotNegotiatedException {
        long protocol = negotiated.ackedProtocolFeatures();
        if (!has(protocol, ProtocolFeature.BACKEND_REQ)) {
            throw new FeatureNotNegotiatedException(name + ": " + request.name()
                    + " needs protocol feature BACKEND_REQ, which is no longer negotiated");
        }
        switch (request.gate()) {
            case Gate.None none -> {
            }
            case Gate.Protocol p -> {
                if (!has(protocol, p.protocolFeature())) {
                    throw new FeatureNotNegotiatedException(name + ": " + request.name() + " needs protocol feature "
                            + p.protocolFeature().name() + ", which was not negotiated (acked protocol features 0x"
                            + Long.toHexString(protocol) + "); nothing was sent");
                }
            }
            case Gate.Virtio v -> {
                if ((negotiated.ackedFeatures() & v.virtioFeature().mask()) == 0) {
                    throw new FeatureNotNegotiatedException(name + ": " + request.name() + " needs virtio feature "
                            + v.virtioFeature().name() + ", which was not acked; nothing was sent");
                }
            }
        }
        if (!message.fds().isEmpty() && !has(protocol, ProtocolFeature.BACKEND_SEND_FD)) {
            throw new FeatureNotNegotiatedException(name + ": " + request.name() + " carries an fd, which needs "
                    + "protocol feature BACKEND_SEND_FD, not negotiated; nothing was sent");
        }
    }

    private static boolean has(long word, ProtocolFeature feature) {
        return (word & feature.mask()) != 0;
    }
}
