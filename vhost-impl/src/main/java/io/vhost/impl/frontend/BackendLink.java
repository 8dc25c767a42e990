package io.vhost.impl.frontend;

import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.Recovery;
import io.vhost.api.error.VhostException;
import io.vhost.api.frontend.ReconnectListener;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.codec.CodecOptions;
import io.vhost.impl.daemon.Supervisor;
import io.vhost.impl.metrics.SessionMetrics;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.Connector;
import io.vhost.impl.transport.Listener;
import io.vhost.impl.transport.TransportKind;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The front-end's link to its back-end over time: connects (client mode) or accepts (server mode, owning the
 * listening socket) one {@link FrontendSession} at a time, numbers them, holds the current one with its back-end
 * channel, tells the {@link ReconnectListener}s when a back-end is lost or a reconnect succeeded, and closes it all.
 * Methods that change the current session or channel are called under the front-end's request lock.
 */
final class BackendLink {

    private static final System.Logger LOG = System.getLogger(BackendLink.class.getName());

    private final Path path;
    private final Listener listener; // server mode only; owned
    private final FrontendOptions options;
    private final TransportKind kind = TransportKind.configured();
    private final List<ReconnectListener> listeners = new CopyOnWriteArrayList<>();
    private final Supervisor notifier;
    private final AtomicInteger generation = new AtomicInteger();
    private final AtomicBoolean closeOnce = new AtomicBoolean();
    private final VhostUserFrontend owner; // passed to the listeners
    private final Supplier<CodecOptions> codecOptions;

    private volatile FrontendSession session;
    private BackendChannel backendChannel; // guarded by the request lock
    private volatile boolean closed; // set once by beginClose()

    private BackendLink(Path path, Listener listener, FrontendOptions options, VhostUserFrontend owner,
            Supplier<CodecOptions> codecOptions) {
        this.path = path;
        this.listener = listener;
        this.options = options;
        this.owner = owner;
        this.codecOptions = codecOptions;
        this.notifier = new Supervisor("vhost-frontend[" + path.getFileName() + "]");
    }

    /** Client mode: {@link #connect()} dials {@code path}. */
    static BackendLink client(Path path, FrontendOptions options, VhostUserFrontend owner,
            Supplier<CodecOptions> codecOptions) {
        return new BackendLink(path, null, options, owner, codecOptions);
    }

    /** Server mode: binds {@code path} now; {@link #connect()} accepts the next back-end on it. */
    static BackendLink server(Path path, FrontendOptions options, VhostUserFrontend owner,
            Supplier<CodecOptions> codecOptions) throws VhostException {
        Listener l;
        try {
            l = Listener.bind(path, TransportKind.configured());
        } catch (VhostException e) {
            throw e;
        } catch (IOException e) {
            throw new PeerDisconnectedException("cannot listen on " + path + ": " + e, e, Recovery.FAIL);
        }
        return new BackendLink(path, l, options, owner, codecOptions);
    }

    /** The current session's name, or the socket path while none is connected. */
    String name() {
        FrontendSession s = session;
        return s != null ? s.name() : path.toString();
    }

    /** The session in use, or null between a failed reconnect and the next one. */
    FrontendSession session() {
        return session;
    }

    TransportKind kind() {
        return kind;
    }

    boolean isClosed() {
        return closed;
    }

    /** Connects or accepts the next back-end and makes its session the current one. Under the request lock. */
    void connect() throws VhostException {
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
        session = new FrontendSession(name, c, options.replyTimeout(), options.idleMonitor(), codecOptions,
                metrics, cause -> onSessionFailure(n, cause));
    }

    /** Closes the current session and its back-end channel, if any. Under the request lock. */
    void disconnect() {
        FrontendSession s = session;
        session = null;
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

    /** Makes {@code channel} the current session's back-end channel, closing the one it replaces. Under the lock. */
    void replaceBackendChannel(BackendChannel channel) {
        BackendChannel old = backendChannel;
        backendChannel = channel;
        if (old != null) {
            old.close();
        }
    }

    void addListener(ReconnectListener l) {
        listeners.add(Objects.requireNonNull(l, "listener"));
    }

    List<ReconnectListener> listeners() {
        return listeners;
    }

    private void onSessionFailure(int sessionGeneration, VhostException cause) {
        if (closed || sessionGeneration != generation.get()) {
            return;
        }
        if (listeners.isEmpty()) {
            return;
        }
        try {
            notifier.fork("backend-lost-" + sessionGeneration, () -> tellListeners(l -> l.backendLost(owner, cause)));
        } catch (IllegalStateException e) {
            LOG.log(Level.DEBUG, "{0}: front-end closing, back-end loss not reported", name());
        }
    }

    /** Tells the listeners a reconnect and its replay succeeded; called after the request lock is released. */
    void reconnected() {
        tellListeners(l -> l.reconnected(owner));
    }

    /** Calls every listener in turn; one that throws is logged and does not stop the others. */
    private void tellListeners(Consumer<ReconnectListener> call) {
        for (ReconnectListener l : listeners) {
            try {
                call.accept(l);
            } catch (RuntimeException e) {
                LOG.log(Level.ERROR, name() + ": reconnect listener failed", e);
            }
        }
    }

    /**
     * Starts closing, once: marks the link closed, aborts a request waiting for its reply (which releases the request
     * lock), interrupts a listener thread that is reconnecting and unblocks an accept in progress.
     *
     * @return false if the link was already closing
     */
    boolean beginClose() {
        if (!closeOnce.compareAndSet(false, true)) {
            return false;
        }
        closed = true;
        FrontendSession current = session;
        if (current != null) {
            current.abort();
        }
        notifier.shutdown();
        if (listener != null) {
            listener.close();
        }
        return true;
    }

    /** Ends closing, after {@link #disconnect()}: joins the listener threads. */
    void endClose() {
        notifier.close();
    }
}
