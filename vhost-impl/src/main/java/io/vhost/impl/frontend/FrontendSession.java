package io.vhost.impl.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.Recovery;
import io.vhost.api.error.VhostException;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.Reply;
import io.vhost.impl.codec.CodecOptions;
import io.vhost.impl.codec.Expect;
import io.vhost.impl.codec.Header;
import io.vhost.impl.codec.OutBuffer;
import io.vhost.impl.codec.VhostUserCodec;
import io.vhost.impl.daemon.Supervisor;
import io.vhost.impl.metrics.SessionMetrics;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.TransportKind;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One connection of a front-end to a back-end: sends requests and receives their replies.
 *
 * <p>FFM transport (the default): the calling thread reads its own reply, waiting first briefly in the kernel and
 * then through the poller ({@link io.vhost.impl.poll.BriefWait}), so a reply that comes back within microseconds costs
 * no thread hand-off. One monitor thread per connection bounds the wait (the reply timeout; it shuts the socket down,
 * which wakes the caller) and, with {@link FrontendOptions#idleMonitor()}, notices at once a back-end that closes the
 * connection while no request is in flight (it watches for hang-up only, so replies never wake it) and, within one
 * reply timeout, bytes the back-end sent unasked. junixsocket: a platform reader thread receives every reply and
 * hands it to the caller, because junixsocket reads cannot run on virtual threads.
 *
 * <p>The first failure (disconnect, malformed or unexpected reply, reply timeout) breaks the session for good: the
 * socket is shut down, the waiting caller gets the failure, {@code onFailure} is told once, and every later call
 * fails fast naming the first cause. Callers serialise {@link #call}; the front-end's request lock does that.
 */
final class FrontendSession implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(FrontendSession.class.getName());
    private static final int REPLY_BUFFER_BYTES = OutBuffer.INITIAL_BYTES;

    private final String name;
    private final Connection connection;
    private final Supervisor supervisor;
    private final Duration replyTimeout;
    private final Supplier<CodecOptions> codecOptions;
    private final Consumer<VhostException> onFailure;
    private final AtomicReference<Pending> pending = new AtomicReference<>();
    private final AtomicReference<VhostException> failure = new AtomicReference<>();
    private final OutBuffer out = new OutBuffer();
    private volatile boolean closing;
    private final boolean idleMonitor;
    private final boolean direct;
    // Held by a direct-mode caller from send to reply; the monitor takes it to look at an idle socket.
    private final ReentrantLock inCall = new ReentrantLock();
    private volatile boolean hungUp;
    private final SessionMetrics metrics;
    private volatile long lastReplyBytes;
    // Direct mode (no reader thread): the request whose reply the caller is reading, and its deadline (0 = none).
    private volatile FrontendRequest directRequest;
    private volatile long directDeadline;
    // Direct mode: the whole reply, read at once (the back-end sends nothing else on this socket). Every reply fits
    // but a GET_CONFIG of more than 488 bytes and GET_SHMEM_CONFIG's 2 068; decodeReply reads the rest of those into a
    // buffer of their size.
    private final ByteBuffer directBuffer = ByteBuffer.allocateDirect(REPLY_BUFFER_BYTES).order(ByteOrder.nativeOrder());
    // Direct mode: the payload part of directBuffer (the header is at 0), a view made once for every reply.
    private final ByteBuffer directPayload = directBuffer.slice(VhostUserCodec.HEADER_BYTES,
            REPLY_BUFFER_BYTES - VhostUserCodec.HEADER_BYTES).order(ByteOrder.nativeOrder());

    /** A request waiting for its reply; {@code reply} is {@code null} in direct mode (the caller reads it). */
    private record Pending(FrontendRequest request, CompletableFuture<Reply> reply) {

        // Direct mode has no future: one shared Pending per request, so that a call allocates none.
        private static final Pending[] DIRECT = new Pending[FrontendRequest.values().length];

        static {
            for (FrontendRequest r : FrontendRequest.values()) {
                DIRECT[r.ordinal()] = new Pending(r, null);
            }
        }

        static Pending direct(FrontendRequest request) {
            return DIRECT[request.ordinal()];
        }
    }

    FrontendSession(String name, Connection connection, Duration replyTimeout, boolean idleMonitor,
            Supplier<CodecOptions> codecOptions, SessionMetrics metrics, Consumer<VhostException> onFailure) {
        this.name = name;
        this.metrics = metrics;
        this.connection = connection;
        this.replyTimeout = replyTimeout;
        this.idleMonitor = idleMonitor;
        // junixsocket receives only on platform threads, so its replies always come through a reader thread.
        this.direct = connection.kind() != TransportKind.JUNIXSOCKET;
        this.codecOptions = codecOptions;
        this.onFailure = onFailure;
        this.supervisor = new Supervisor("vhost[" + name + "]");
        supervisor.onShutdown(connection::shutdown);
        if (direct) {
            supervisor.fork("monitor", this::monitorLoop);
        } else {
            supervisor.forkPlatform("reader", this::readLoop); // junixsocket blocks in native reads
        }
    }

    String name() {
        return name;
    }

    Supervisor supervisor() {
        return supervisor;
    }

    SessionMetrics metrics() {
        return metrics;
    }

    /** @return the wire size (header included) of the last reply received */
    long lastReplyBytes() {
        return lastReplyBytes;
    }

    TransportKind transportKind() {
        return connection.kind();
    }

    boolean isBroken() {
        return failure.get() != null || closing;
    }

    /**
     * Sends a request and, if {@code expectReply}, waits for its reply.
     *
     * @param message the request (its fds stay owned by the caller)
     * @param flags 0 or NEED_REPLY
     * @param expectReply whether a reply follows
     * @return the reply (owned by the caller), or {@code null} when none was expected
     * @throws VhostException on send failure, disconnect, timeout or malformed reply (the session is then broken)
     */
    Reply call(FrontendMessage message, int flags, boolean expectReply) throws VhostException {
        FrontendRequest request = message.request();
        checkUsable(request);
        lastReplyBytes = 0;
        List<Fd> fds = VhostUserCodec.encode(message, flags, out, codecOptions.get());
        ByteBuffer sendBuffer = out.buffer();
        Pending p = !expectReply ? null : direct ? Pending.direct(request)
                : new Pending(request, new CompletableFuture<>());
        int bytes = sendBuffer.remaining();
        if (direct) {
            inCall.lock();
        }
        pending.set(p);
        try {
            try {
                connection.send(sendBuffer, fds);
                if (metrics.enabled()) {
                    metrics.sent(request, bytes);
                }
            } catch (IOException e) {
                VhostException f = disconnected(request.name() + " could not be sent", e);
                fail(f);
                throw f;
            }
            if (p == null) {
                return null;
            }
            return direct ? receiveDirect(p) : await(p);
        } finally {
            pending.compareAndSet(p, null);
            if (direct) {
                inCall.unlock();
                if (hungUp) { // the monitor saw the hang-up while this call held the socket: report it now
                    fail(disconnected("the back-end closed the connection", null));
                }
            }
        }
    }

    /**
     * Sends a header with no payload and expects no reply: the empty {@code SET_MEM_TABLE} that acknowledges a
     * postcopy memory-table reply (spec: SET_MEM_TABLE note), which no payload record can express.
     *
     * @param request the request code to send
     * @throws VhostException if sending fails (the session is then broken)
     */
    void sendEmpty(FrontendRequest request) throws VhostException {
        checkUsable(request);
        ByteBuffer empty = out.cleared();
        empty.putInt(request.id()).putInt(io.vhost.api.message.HeaderFlags.VERSION).putInt(0).flip();
        try {
            connection.send(empty, List.of());
        } catch (IOException e) {
            VhostException f = disconnected("empty " + request.name() + " could not be sent", e);
            fail(f);
            throw f;
        }
    }

    /** Direct mode: the caller reads its own reply; the monitor shuts the socket down if it takes too long. */
    private Reply receiveDirect(Pending p) throws VhostException {
        directRequest = p.request();
        directDeadline = System.nanoTime() + replyTimeout.toNanos();
        List<Fd> fds = List.of();
        try {
            directBuffer.clear();
            fds = connection.receiveAtLeast(directBuffer, VhostUserCodec.HEADER_BYTES);
            directBuffer.flip();
            return decodeReply(p, directBuffer, fds);
        } catch (IOException | RuntimeException e) {
            closeAll(fds);
            VhostException first = failure.get();
            if (first != null) {
                throw first; // the monitor's timeout, recorded first
            }
            if (closing) {
                throw new PeerDisconnectedException(name + ": the front-end was closed while " + p.request().name()
                        + " waited for its reply", null, Recovery.FAIL);
            }
            VhostException f = switch (e) {
                case VhostException v when !(v instanceof PeerDisconnectedException) -> v;
                case IOException io -> disconnected("the back-end closed the connection before replying to "
                        + p.request().name(), io);
                default -> new ProtocolViolationException(name + ": the reply to " + p.request().name()
                        + " could not be decoded (" + e + "); disconnected", e);
            };
            fail(f);
            throw f;
        } finally {
            directDeadline = 0;
        }
    }

    /**
     * Direct mode's monitor: bounds each reply wait by the reply timeout and, with the idle monitor on, watches the
     * socket for hang-up and, when idle, for unasked bytes.
     */
    private void monitorLoop() {
        long period = replyTimeout.toNanos();
        while (!closing && failure.get() == null) {
            long deadline = directDeadline;
            long wait = deadline == 0 ? period : deadline - System.nanoTime();
            if (deadline != 0 && wait <= 0) {
                if (directDeadline == deadline) {
                    fail(new ProtocolViolationException(name + ": no reply to " + directRequest.name() + " within "
                            + replyTimeout.toMillis() + " ms; the connection was shut down, reconnect to continue"));
                    return;
                }
                continue;
            }
            if (!idleMonitor) {
                LockSupport.parkNanos(this, wait);
                continue;
            }
            boolean hangup;
            try {
                hangup = connection.awaitHangup(wait);
            } catch (IOException e) {
                if (!closing) {
                    fail(disconnected("watching the connection failed", e));
                }
                return;
            }
            if (hangup) {
                hungUp = true;
                if (!closing && inCall.tryLock()) {
                    try {
                        fail(disconnected("the back-end closed the connection", null));
                    } finally {
                        inCall.unlock();
                    }
                }
                return; // a caller holding the socket reports it itself (see call)
            }
            checkUnasked();
        }
    }

    /** Fails the session if the back-end sent bytes while no request was in flight. */
    private void checkUnasked() {
        if (!inCall.tryLock()) {
            return;
        }
        try {
            int unasked = connection.available();
            if (unasked > 0 && !closing) {
                fail(new ProtocolViolationException(name + ": unsolicited message from the back-end (" + unasked
                        + " bytes) while no request waits for a reply; disconnected"));
            }
        } catch (IOException e) {
            if (!closing) {
                fail(disconnected("watching the connection failed", e));
            }
        } finally {
            inCall.unlock();
        }
    }

    private Reply await(Pending p) throws VhostException {
        try {
            return p.reply().get(replyTimeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            ProtocolViolationException f = new ProtocolViolationException(name + ": no reply to "
                    + p.request().name() + " within " + replyTimeout.toMillis()
                    + " ms; the connection was shut down, reconnect to continue");
            fail(f);
            // The reader may have completed the reply just now; a failure recorded first wins either way.
            throw f;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            PeerDisconnectedException f = new PeerDisconnectedException(name + ": interrupted while waiting for the "
                    + p.request().name() + " reply; the connection was shut down because request and reply are out of"
                    + " step");
            fail(f);
            throw f;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof VhostException v) {
                throw v;
            }
            throw new IllegalStateException(name + ": unexpected failure of the reader", e.getCause());
        }
    }

    private void checkUsable(FrontendRequest request) throws VhostException {
        VhostException f = failure.get();
        if (f != null) {
            throw new PeerDisconnectedException(name + ": " + request.name() + " not sent: the connection failed"
                    + " earlier (" + f.getMessage() + "); reconnect to continue", f, Recovery.RECONNECT);
        }
        if (closing) {
            throw new PeerDisconnectedException(name + ": " + request.name() + " not sent: the front-end was closed",
                    null, Recovery.FAIL);
        }
    }

    private void readLoop() {
        ByteBuffer header = ByteBuffer.allocate(VhostUserCodec.HEADER_BYTES).order(ByteOrder.nativeOrder());
        while (!closing && failure.get() == null) {
            header.clear();
            List<Fd> fds;
            try {
                fds = connection.receiveHeader(header);
            } catch (IOException e) {
                if (!closing) {
                    Pending p = pending.get();
                    fail(disconnected(p == null ? "the back-end closed the connection"
                            : "the back-end closed the connection before replying to " + p.request().name(), e));
                }
                return;
            }
            header.flip();
            try {
                Pending p = pending.get();
                Reply reply = decodeReply(p, header, fds);
                if (!p.reply().complete(reply)) {
                    reply.close(); // the waiter gave up (timeout) and broke the session already
                }
            } catch (IOException e) {
                closeAll(fds);
                if (!closing) {
                    fail(e instanceof VhostException v ? v : disconnected("receiving a reply failed", e));
                }
                return;
            } catch (RuntimeException e) {
                closeAll(fds);
                LOG.log(Level.ERROR, name + ": reader failed on a reply", e);
                fail(new ProtocolViolationException(name + ": a reply could not be decoded (" + e
                        + "); disconnected", e));
                return;
            }
        }
    }

    /**
     * Decodes one reply to the pending request, reading what is missing of its payload.
     *
     * @param p the pending request, {@code null} if none
     * @param received the header, possibly followed by some or all of the payload (never more)
     * @param fds the descriptors that came with the header
     * @return the reply, owned by the caller
     * @throws ProtocolViolationException if there is no pending request or the reply does not fit it
     * @throws IOException if reading the rest of the payload fails
     */
    private Reply decodeReply(Pending p, ByteBuffer received, List<Fd> fds) throws IOException {
        Header header;
        try {
            header = VhostUserCodec.decodeHeader(received, Expect.REPLY);
        } catch (ProtocolViolationException e) {
            throw new ProtocolViolationException(context(p) + e.getMessage() + closedNote(fds) + "; disconnected");
        }
        if (p == null) {
            throw new ProtocolViolationException(name + ": unsolicited message from the back-end (request code "
                    + header.request() + " " + header.frontendRequest().map(Enum::name).orElse("unknown") + ", flags 0x"
                    + Integer.toHexString(header.flags()) + ", size " + header.size() + ") while no request waits for"
                    + " a reply" + closedNote(fds) + "; disconnected");
        }
        FrontendRequest request = p.request();
        if (header.request() != request.id()) {
            throw new ProtocolViolationException(context(p) + "the reply carries request code " + header.request() + " ("
                    + header.frontendRequest().map(Enum::name).orElse("unknown") + "), expected " + request.id()
                    + closedNote(fds) + "; disconnected");
        }
        try {
            VhostUserCodec.checkSize(request, Expect.REPLY, header.size());
        } catch (ProtocolViolationException e) {
            throw new ProtocolViolationException(name + ": " + e.getMessage() + closedNote(fds) + "; disconnected");
        }
        int size = (int) header.size();
        int early = received.remaining();
        if (early > size) {
            throw new ProtocolViolationException(context(p) + "the back-end sent " + (early - size) + " bytes after the "
                    + size + "-byte reply, while it may only answer the request in flight" + closedNote(fds)
                    + "; disconnected");
        }
        ByteBuffer payload;
        if (early == size && received == directBuffer) {
            payload = directPayload.clear().limit(size); // the header came at 0, the payload right after it
        } else if (early == size) {
            payload = received.slice().order(ByteOrder.nativeOrder());
        } else {
            payload = ByteBuffer.allocate(size).order(ByteOrder.nativeOrder()).put(received);
            connection.receiveFully(payload);
            payload.flip();
        }
        Reply reply;
        try {
            reply = VhostUserCodec.decodeReply(request, header, payload, fds, codecOptions.get());
        } catch (ProtocolViolationException e) {
            throw new ProtocolViolationException(name + ": " + e.getMessage() + "; disconnected");
        }
        lastReplyBytes = VhostUserCodec.HEADER_BYTES + header.size();
        return reply;
    }

    private String context(Pending p) {
        return name + ": " + (p == null ? "" : "reply to " + p.request().name() + ": ");
    }

    private void fail(VhostException cause) {
        if (!failure.compareAndSet(null, cause)) {
            return;
        }
        connection.shutdown();
        Pending p = pending.get();
        if (p != null && p.reply() != null) {
            p.reply().completeExceptionally(cause);
        }
        if (!closing) {
            LOG.log(cause instanceof PeerDisconnectedException ? Level.DEBUG : Level.WARNING,
                    "{0}: connection failed: {1}", name, cause.getMessage());
            metrics.error(cause instanceof PeerDisconnectedException ? "backend-lost"
                    : cause.getMessage().contains("no reply to") ? "reply-timeout" : "protocol");
            onFailure.accept(cause);
        }
    }

    private PeerDisconnectedException disconnected(String what, IOException e) {
        if (e == null) {
            return new PeerDisconnectedException(name + ": " + what + "; reconnect to continue", null);
        }
        if (e instanceof PeerDisconnectedException pd) {
            return new PeerDisconnectedException(name + ": " + what + ": " + pd.getMessage()
                    + "; reconnect to continue", pd);
        }
        return new PeerDisconnectedException(name + ": " + what + ": " + e + "; reconnect to continue", e);
    }

    private static String closedNote(List<Fd> fds) {
        return fds.isEmpty() ? "" : "; closed its " + fds.size() + " fds";
    }

    static void closeAll(List<Fd> fds) {
        for (Fd fd : fds) {
            fd.close();
        }
    }

    /**
     * Fails a waiting request and shuts the socket down without blocking, so that a caller holding the front-end's
     * request lock returns at once. Idempotent.
     */
    void abort() {
        closing = true;
        Pending p = pending.get();
        if (p != null && p.reply() != null) {
            p.reply().completeExceptionally(new PeerDisconnectedException(name + ": the front-end was closed while "
                    + p.request().name() + " waited for its reply", null, Recovery.FAIL));
        }
        connection.shutdown();
    }

    /** Shuts the connection down, joins the reader and closes the socket. Idempotent. */
    @Override
    public void close() {
        abort();
        supervisor.close();
        connection.close();
        metrics.close();
    }
}
