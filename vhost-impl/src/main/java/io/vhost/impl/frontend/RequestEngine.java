package io.vhost.impl.frontend;

import io.vhost.api.error.FeatureNotNegotiatedException;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.Recovery;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.HeaderFlags;
import io.vhost.api.message.Reply;
import io.vhost.api.message.VringState;
import io.vhost.impl.frontend.Negotiation.ReplyMode;
import io.vhost.impl.metrics.SessionMetrics;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The front-end's request engine: one request in flight at a time under a fair lock, the feature gate checked before
 * anything is sent, NEED_REPLY set and the REPLY_ACK checked when negotiated, replies of the wrong kind and non-zero
 * statuses turned into exceptions naming the request. Callers that must record what they sent hold the same lock
 * around the exchange and the record ({@link #locked}); the lock is reentrant.
 */
final class RequestEngine {

    /** Work done under the request lock. */
    @FunctionalInterface
    interface Step<X extends Exception> {
        void run() throws X;
    }

    /** Work done under the request lock that returns a value. */
    @FunctionalInterface
    interface Call<T, X extends Exception> {
        T run() throws X;
    }

    /** What a caller keeps of a request that succeeded, told while the request lock is still held. */
    @FunctionalInterface
    interface Recorder {
        void sent(FrontendMessage message) throws VhostException;
    }

    private final ReentrantLock lock = new ReentrantLock(true);
    private final BackendLink link;
    private final Negotiation negotiation;

    RequestEngine(BackendLink link, Negotiation negotiation) {
        this.link = link;
        this.negotiation = negotiation;
    }

    private String name() {
        return link.name();
    }

    /** Runs {@code step} holding the request lock: no other request is sent meanwhile. */
    <X extends Exception> void locked(Step<X> step) throws X {
        lock.lock();
        try {
            step.run();
        } finally {
            lock.unlock();
        }
    }

    /** Runs {@code call} holding the request lock and returns its result. */
    <T, X extends Exception> T locked(Call<T, X> call) throws X {
        lock.lock();
        try {
            return call.run();
        } finally {
            lock.unlock();
        }
    }

    /** Sends a request and returns its reply body (null for none); acks are checked here. */
    Reply exchange(FrontendMessage message) throws VhostException {
        FrontendRequest r = message.request();
        if (!negotiation.gateOpen(r.gate())) {
            throw new FeatureNotNegotiatedException(name() + ": " + r.name() + " needs " + r.gate()
                    + ", which was not negotiated (" + negotiation.describeAcked() + ")");
        }
        lock.lock();
        FrontendSession s = link.session();
        SessionMetrics metrics = s != null ? s.metrics() : SessionMetrics.NONE;
        long start = metrics.enabled() ? System.nanoTime() : 0;
        boolean ok = false;
        try {
            boolean closed = link.isClosed();
            if (s == null || closed) {
                throw new PeerDisconnectedException(name() + ": " + r.name() + " not sent: "
                        + (closed ? "the front-end was closed" : "no back-end is connected; call reconnect()"),
                        null, closed ? Recovery.FAIL : Recovery.RECONNECT);
            }
            ReplyMode mode = negotiation.replyMode(r);
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

    /** Sends a request that has no reply body (at most a REPLY_ACK). */
    void send(FrontendMessage message) throws VhostException {
        Reply reply = exchange(message); // null: these requests have no reply body
        if (reply != null) {
            reply.close();
        }
    }

    /** Sends a request that has no reply body and, holding the lock throughout, runs {@code then} once it succeeded. */
    void send(FrontendMessage message, Step<? extends VhostException> then) throws VhostException {
        send(message, (Recorder) sent -> then.run());
    }

    /** Like {@link #send(FrontendMessage, Step)}: tells {@code recorder} the request once it succeeded. */
    void send(FrontendMessage message, Recorder recorder) throws VhostException {
        lock.lock();
        try {
            send(message);
            recorder.sent(message);
        } finally {
            lock.unlock();
        }
    }

    /** Sends a bodiless request outside the request/reply flow (the postcopy SET_MEM_TABLE acknowledgement). */
    void sendEmpty(FrontendRequest request) throws VhostException {
        FrontendSession s = link.session();
        if (s != null) {
            s.sendEmpty(request);
        }
    }

    /** Sends a request answered by a u64 and returns it. */
    long u64(FrontendMessage m) throws VhostException {
        try (Reply reply = exchange(m)) {
            if (reply instanceof Reply.U64 u) {
                return u.value();
            }
            throw new ProtocolViolationException(name() + ": " + m.request().name() + " expected a u64 reply, got "
                    + reply);
        }
    }

    /** Sends a request answered by a u64 status; non-zero is a {@link RequestRejectedException}. */
    void status(FrontendMessage m) throws VhostException {
        try (Reply reply = exchange(m)) {
            checkStatus(m.request(), reply, "status");
        }
    }

    /** Sends GET_VRING_BASE or its skip-drain variant and returns the base, checking the answer names the queue. */
    long vringState(FrontendMessage m, int queue) throws VhostException {
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
}
