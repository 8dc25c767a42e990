package io.vhost.impl.backend;

import io.vhost.api.Fd;
import io.vhost.api.backend.BackendHandler;
import io.vhost.api.backend.SessionContext;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.Listener;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * Server mode: a back-end listening on a socket path (QEMU's {@code -chardev socket,path=...} connects to it) or
 * on an inherited listening fd (the spec's {@code --fd} convention), serving one front-end connection after another
 * on the same listening socket, so no reconnecting front-end ever finds the path missing (rust-vmm #321 unlinked
 * and recreated it between connections).
 *
 * <pre>{@code
 * try (BackendServer server = BackendServer.bind(Path.of("/tmp/blk.sock"), ctx -> new MyBlkDevice(ctx),
 *         BackendOptions.defaults())) {
 *     Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown)); // SIGTERM ends serve()
 *     server.serve();                                                     // blocks until shutdown()
 * }
 * }</pre>
 *
 * <p>{@link #shutdown()} may be called from any thread: it closes the listening socket (waking a blocked accept)
 * and shuts the current session down (waking its reader blocked in a receive). Thread-safe.
 */
public final class BackendServer implements AutoCloseable {

    private static final Logger LOG = System.getLogger(BackendServer.class.getName());

    private final Listener listener;
    private final Function<SessionContext, ? extends BackendHandler> devices;
    private final BackendOptions options;
    private final ReentrantLock lock = new ReentrantLock();
    private BackendSession current;
    private boolean shuttingDown;
    private long served;

    private BackendServer(Listener listener, Function<SessionContext, ? extends BackendHandler> devices,
            BackendOptions options) {
        this.listener = listener;
        this.devices = Objects.requireNonNull(devices, "devices");
        this.options = Objects.requireNonNull(options, "options");
    }

    /**
     * Listens on a path. A stale socket nobody listens on is replaced; a path in use, or one that is not a socket,
     * is refused. The path is removed again by {@link #close()}.
     *
     * @param path the socket path
     * @param devices creates one device handler per accepted connection
     * @param options name, transport and metrics
     * @return the server, not yet serving
     * @throws IOException if the path cannot be bound
     */
    public static BackendServer bind(Path path, Function<SessionContext, ? extends BackendHandler> devices,
            BackendOptions options) throws IOException {
        return new BackendServer(Listener.bind(path, options.transport()), devices, options);
    }

    /**
     * Serves on an inherited listening socket (the spec's {@code --fd=FDNUM}); the socket is owned by the server
     * from now on, and no path is unlinked on close.
     *
     * @param listening the listening unix stream socket
     * @param devices creates one device handler per accepted connection
     * @param options name, transport and metrics
     * @return the server, not yet serving
     * @throws IOException if the fd is not a listening unix stream socket
     */
    public static BackendServer adopt(Fd listening, Function<SessionContext, ? extends BackendHandler> devices,
            BackendOptions options) throws IOException {
        return new BackendServer(Listener.adopt(listening, options.transport()), devices, options);
    }

    /**
     * Accepts one connection and starts its session; the caller owns the session.
     *
     * @return the running session
     * @throws IOException if the listener was closed or accept failed
     */
    public BackendSession accept() throws IOException {
        Connection connection = listener.accept();
        return BackendSession.start(connection, devices, options);
    }

    /**
     * Serves connections one after another until {@link #shutdown()}: accepts, runs the session until the
     * front-end goes away, closes it, accepts the next. A session that ends by a failure, or whose device factory
     * throws, is logged and the loop goes on.
     *
     * @throws InterruptedException if the calling thread is interrupted (the current session is closed)
     * @throws IOException if accepting fails for another reason than shutdown
     */
    public void serve() throws IOException, InterruptedException {
        while (true) {
            Connection connection;
            try {
                connection = listener.accept();
            } catch (IOException e) {
                if (isShuttingDown()) {
                    return;
                }
                throw e;
            }
            BackendSession session;
            try {
                session = BackendSession.start(connection, devices, options);
            } catch (RuntimeException e) {
                // start() closed the connection; a device factory that fails for one connection does not stop the
                // server from serving the next one
                LOG.log(Level.WARNING, listener.description() + ": could not start a session, connection closed", e);
                continue;
            }
            try (session) {
                if (!register(session)) {
                    return;
                }
                session.awaitEnd();
                session.failure().ifPresent(f -> LOG.log(Level.INFO, () -> session.name() + " ended: " + f));
            } finally {
                unregister(session);
            }
        }
    }

    /**
     * Returns the session being served by {@link #serve()}, if any.
     *
     * @return the current session
     */
    public Optional<BackendSession> currentSession() {
        lock.lock();
        try {
            return Optional.ofNullable(current);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Returns how many connections {@link #serve()} has served (completed or current).
     *
     * @return the count
     */
    public long sessionsServed() {
        lock.lock();
        try {
            return served;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Returns the path the server listens on.
     *
     * @return the path, or {@code null} for an inherited socket
     */
    public Path path() {
        return listener.path();
    }

    /**
     * Makes {@link #serve()} return: closes the listening socket and shuts the current session down. Idempotent,
     * safe from any thread (a signal handler's shutdown hook, a test).
     */
    public void shutdown() {
        BackendSession s;
        lock.lock();
        try {
            shuttingDown = true;
            s = current;
        } finally {
            lock.unlock();
        }
        listener.close();
        if (s != null) {
            s.shutdown();
        }
    }

    /** Shuts down and removes the socket path this server created. */
    @Override
    public void close() {
        shutdown();
    }

    private boolean isShuttingDown() {
        lock.lock();
        try {
            return shuttingDown;
        } finally {
            lock.unlock();
        }
    }

    private boolean register(BackendSession session) {
        lock.lock();
        try {
            if (shuttingDown) {
                return false;
            }
            current = session;
            served++;
            return true;
        } finally {
            lock.unlock();
        }
    }

    private void unregister(BackendSession session) {
        lock.lock();
        try {
            if (current == session) {
                current = null;
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        return "BackendServer[" + listener.description() + ", served " + sessionsServed() + "]";
    }
}
