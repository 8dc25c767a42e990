package io.vhost.impl.backend;

import io.vhost.api.Fd;
import io.vhost.api.backend.BackendHandler;
import io.vhost.api.backend.FrontendChannel;
import io.vhost.api.backend.SessionContext;
import io.vhost.impl.daemon.Supervisor;
import io.vhost.impl.metrics.SessionMetrics;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.Connector;
import io.vhost.impl.transport.TransportKind;
import io.vhost.impl.transport.Transports;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * One back-end session: a connection to a front-end, the device handler serving it and the threads that belong to
 * it, all owned by a {@link Supervisor}. The reader (a virtual thread with the FFM transport, a platform thread with
 * junixsocket) reads and answers requests until the front-end disconnects, a malformed message arrives, or
 * {@link #shutdown()} is called; device workers started through {@link SessionContext} are its siblings.
 *
 * <pre>{@code
 * try (BackendSession session = BackendSession.connect(Path.of("/tmp/vhost.sock"), Duration.ofSeconds(30),
 *         ctx -> new MyDevice(ctx), BackendOptions.defaults())) {   // client mode: QEMU listens (server=on)
 *     session.awaitEnd();
 * }
 * }</pre>
 *
 * <p>{@link #close()} ends the session if it still runs, joins every thread, then closes the back-end channel, the
 * connection, the handler and the metrics, in that order. Thread-safe.
 */
public final class BackendSession implements AutoCloseable {

    private static final Logger LOG = System.getLogger(BackendSession.class.getName());

    private final String name;
    private final Supervisor supervisor;
    private final Connection connection;
    private final BackendHandler handler;
    private final RequestEngine engine;
    private final SessionMetrics metrics;
    private final Thread reader;
    private final AtomicBoolean closed = new AtomicBoolean();

    private BackendSession(String name, Supervisor supervisor, Connection connection, BackendHandler handler,
            RequestEngine engine, SessionMetrics metrics, TransportKind transport) {
        this.name = name;
        this.supervisor = supervisor;
        this.connection = connection;
        this.handler = handler;
        this.engine = engine;
        this.metrics = metrics;
        Supervisor.Task body = () -> {
            engine.run();
            // a normal end (the front-end closed the connection) ends the session too: stop the device workers.
            // A failure is thrown instead, so that the supervisor records it as the cause before it shuts down.
            supervisor.shutdown();
        };
        this.reader = transport == TransportKind.FFM ? supervisor.fork("reader", body)
                : supervisor.forkPlatform("reader", body);
    }

    /**
     * Starts a session on a connected socket. The session owns the connection from now on, also when this method
     * fails.
     *
     * @param connection the connection to the front-end
     * @param devices creates the device handler of this session; it may start workers through the context
     * @param options name, transport and metrics
     * @return the running session
     * @throws IllegalArgumentException if the handler reports an impossible queue count or size
     */
    public static BackendSession start(Connection connection, Function<SessionContext, ? extends BackendHandler> devices,
            BackendOptions options) {
        Objects.requireNonNull(connection, "connection");
        Objects.requireNonNull(devices, "devices");
        Objects.requireNonNull(options, "options");
        String name = options.name() + "[" + connection.description() + "]";
        Supervisor supervisor = new Supervisor(name);
        supervisor.onShutdown(connection::shutdown);
        SessionMetrics metrics = options.metrics().session("backend", name);
        Context context = new Context(name, supervisor);
        BackendHandler handler = null;
        try {
            handler = Objects.requireNonNull(devices.apply(context), "the device factory returned null");
            RequestEngine engine = new RequestEngine(name, connection, handler, metrics, options.transport());
            context.engine = engine;
            BackendSession session = new BackendSession(name, supervisor, connection, handler, engine, metrics,
                    options.transport());
            LOG.log(Level.DEBUG, () -> name + ": session started");
            return session;
        } catch (RuntimeException | Error e) {
            supervisor.close();
            connection.close();
            if (handler != null) {
                handler.close();
            }
            metrics.close();
            throw e;
        }
    }

    /**
     * Client mode: connects to a front-end that listens on {@code path} (QEMU's {@code -chardev socket,server=on}),
     * retrying while the path does not exist or nobody listens yet, and starts a session.
     *
     * @param path the front-end's socket
     * @param timeout how long to keep trying
     * @param devices creates the device handler of this session
     * @param options name, transport and metrics
     * @return the running session
     * @throws IOException if no connection could be made within the timeout
     */
    public static BackendSession connect(Path path, Duration timeout,
            Function<SessionContext, ? extends BackendHandler> devices, BackendOptions options) throws IOException {
        Connection connection = Connector.connect(path, options.transport(), timeout, Integer.MAX_VALUE);
        return start(connection, devices, options);
    }

    /**
     * Starts a session on an inherited, already connected socket (for example one end of a socketpair a parent
     * process passed down).
     *
     * @param connected the connected unix stream socket; owned by the session from now on
     * @param devices creates the device handler of this session
     * @param options name, transport and metrics
     * @return the running session
     * @throws IOException if the socket cannot be set up
     */
    public static BackendSession adopt(Fd connected, Function<SessionContext, ? extends BackendHandler> devices,
            BackendOptions options) throws IOException {
        Fd taken = connected.take("inherited connection fd " + connected.number());
        if (!(taken instanceof OwnedFd owned)) {
            taken.close();
            throw new IllegalArgumentException("cannot adopt " + taken.role() + ": only descriptors owned by an "
                    + "io.vhost.impl.sys.OwnedFd can be adopted; wrap the number with OwnedFd.of first");
        }
        Connection connection = Transports.wrap(owned, options.transport(), "inherited fd " + owned.number());
        return start(connection, devices, options);
    }

    /**
     * Returns the session name, e.g. {@code vhost[/tmp/blk.sock#1]}; thread names start with it.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * Tells whether the session still runs (its reader has not ended).
     *
     * @return {@code true} while requests are served
     */
    public boolean isRunning() {
        return reader.isAlive() && !supervisor.isShuttingDown();
    }

    /**
     * Waits until the session has ended and all its threads are gone: the front-end disconnected, a failure ended
     * it, or {@link #shutdown()} was called. Does not close it.
     *
     * @throws InterruptedException if interrupted while waiting
     */
    public void awaitEnd() throws InterruptedException {
        reader.join();
        supervisor.join();
    }

    /**
     * Waits up to a bound until the session has ended.
     *
     * @param timeout the bound
     * @return {@code true} if it ended
     * @throws InterruptedException if interrupted while waiting
     */
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        if (!reader.join(timeout)) {
            return false;
        }
        return supervisor.join(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    /**
     * Ends the session without waiting: shuts the connection down (which wakes the reader blocked in a receive),
     * runs the shutdown actions and interrupts the workers. Safe from any thread, idempotent.
     */
    public void shutdown() {
        supervisor.shutdown();
    }

    /**
     * Returns why the session ended, if it ended by a failure (a protocol violation, a disconnect inside a message,
     * a device worker's exception). A front-end that closes the connection between messages is a normal end.
     *
     * @return the first failure, or empty
     */
    public Optional<Throwable> failure() {
        return supervisor.failure();
    }

    /**
     * Returns how many requests the session has handled so far (for tests and diagnostics; read racily).
     *
     * @return the count
     */
    public long requestsHandled() {
        return engine.requestsHandled();
    }

    RequestEngine engine() {
        return engine;
    }

    /** Ends the session, joins all its threads and closes channel, connection, handler and metrics. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        supervisor.close();
        engine.closeChannel();
        connection.close();
        try {
            handler.close();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, name + ": the device handler failed to close", e);
        }
        metrics.close();
        LOG.log(Level.DEBUG, () -> name + ": session closed after " + engine.requestsHandled() + " requests"
                + supervisor.failure().map(f -> ", ended by: " + f).orElse(""));
    }

    @Override
    public String toString() {
        return "BackendSession[" + name + (isRunning() ? ", running" : ", ended") + "]";
    }

    /** The {@link SessionContext} handed to the device factory. */
    private static final class Context implements SessionContext {
        private final String name;
        private final Supervisor supervisor;
        private volatile RequestEngine engine;

        Context(String name, Supervisor supervisor) {
            this.name = name;
            this.supervisor = supervisor;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Thread startWorker(String role, Worker worker) {
            return supervisor.fork(role, worker::run);
        }

        @Override
        public Thread startPlatformWorker(String role, Worker worker) {
            return supervisor.forkPlatform(role, worker::run);
        }

        @Override
        public void onShutdown(Runnable action) {
            supervisor.onShutdown(action);
        }

        @Override
        public void shutdown() {
            supervisor.shutdown();
        }

        @Override
        public long ackedFeatures() {
            RequestEngine e = engine;
            return e == null ? 0 : e.ackedFeatures();
        }

        @Override
        public long ackedProtocolFeatures() {
            RequestEngine e = engine;
            return e == null ? 0 : e.ackedProtocolFeatures();
        }

        @Override
        public Optional<FrontendChannel> frontendChannel() {
            RequestEngine e = engine;
            return e == null ? Optional.empty() : e.channel().map(c -> c);
        }
    }
}
