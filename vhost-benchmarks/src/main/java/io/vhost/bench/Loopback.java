package io.vhost.bench;

import io.vhost.api.backend.BackendHandler;
import io.vhost.api.backend.SessionContext;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.backend.BackendOptions;
import io.vhost.impl.backend.BackendServer;
import io.vhost.impl.backend.BackendSession;
import io.vhost.impl.frontend.FrontendOptions;
import io.vhost.impl.frontend.VhostUserFrontends;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.Connector;
import io.vhost.impl.transport.TransportKind;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * Our front-end connected to our back-end over a real unix socket in one JVM: a {@link BackendServer} bound to a
 * path in a fresh temporary directory accepts exactly one session, and a front-end connects to it. Owns the server,
 * the session, the front-end and the directory; {@link #close()} releases them in reverse order.
 */
final class Loopback implements AutoCloseable {

    /** Virtio features the benchmarks ack: bits 0 and 1 (as the Rust anchor), VERSION_1 and PROTOCOL_FEATURES. */
    static final FeatureSet ACKED = new FeatureSet(NullBackend.FEATURES);

    private final Path dir;
    private final BackendServer server;
    private final BackendSession session;
    private final VhostUserFrontend frontend;

    private Loopback(Path dir, BackendServer server, BackendSession session, VhostUserFrontend frontend) {
        this.dir = dir;
        this.server = server;
        this.session = session;
        this.frontend = frontend;
    }

    /**
     * Binds a back-end, connects our front-end to it and waits until the back-end accepted.
     *
     * @param transport the transport of both ends (the front-end reads it from {@code -Dvhost.transport})
     * @param devices the back-end's handler factory
     * @return the connected pair
     * @throws IOException if binding, connecting or accepting fails within 10 seconds
     */
    static Loopback start(TransportKind transport, Function<SessionContext, ? extends BackendHandler> devices)
            throws IOException {
        return start(transport, devices, FrontendOptions.defaults());
    }

    /**
     * As {@link #start(TransportKind, Function)}, with front-end options (connect and reply timeouts are set here).
     *
     * @param transport the transport of both ends
     * @param devices the back-end's handler factory
     * @param options the front-end's options
     * @return the connected pair
     * @throws IOException if binding, connecting or accepting fails within 10 seconds
     */
    static Loopback start(TransportKind transport, Function<SessionContext, ? extends BackendHandler> devices,
            FrontendOptions options) throws IOException {
        System.setProperty(TransportKind.PROPERTY, transport.name());
        Path dir = Files.createTempDirectory("vhost-bench");
        Path socket = dir.resolve("backend.sock");
        BackendServer server = null;
        VhostUserFrontend frontend = null;
        BackendSession session = null;
        try {
            server = BackendServer.bind(socket, devices, BackendOptions.defaults().withName("bench")
                    .withTransport(transport));
            BackendServer s = server;
            CompletableFuture<BackendSession> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.accept();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, r -> Thread.ofPlatform().daemon().name("bench-accept").start(r));
            frontend = VhostUserFrontends.connect(socket, options
                    .withConnectTimeout(Duration.ofSeconds(10)).withReplyTimeout(Duration.ofSeconds(30)));
            session = accepted.get(10, TimeUnit.SECONDS);
            Loopback pair = new Loopback(dir, server, session, frontend);
            server = null;
            frontend = null;
            session = null;
            return pair;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the back-end accepted", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("the back-end did not accept our front-end on " + socket + " within 10 s", e);
        } finally {
            if (frontend != null) {
                frontend.close();
            }
            if (session != null) {
                session.close();
            }
            if (server != null) {
                server.close();
                deleteDir(dir);
            }
        }
    }

    /**
     * A bare caller: our back-end session on one end, a raw {@link Connection} of our transport on the other, no
     * front-end engine. For measuring what the transport and the back-end cost without the front-end.
     */
    record Raw(Path dir, BackendServer server, BackendSession session, Connection connection) implements AutoCloseable {

        @Override
        public void close() {
            bounded("raw connection close", connection::close);
            bounded("back-end session close", session::close);
            bounded("back-end server close", server::close);
            deleteDir(dir);
        }
    }

    /**
     * Binds a back-end and connects a raw connection of the same transport to it.
     *
     * @param transport the transport of both ends
     * @param devices the back-end's handler factory
     * @return the connected pair
     * @throws IOException if binding, connecting or accepting fails within 10 seconds
     */
    static Raw startRaw(TransportKind transport, Function<SessionContext, ? extends BackendHandler> devices)
            throws IOException {
        Path dir = Files.createTempDirectory("vhost-bench");
        Path socket = dir.resolve("backend.sock");
        BackendServer server = BackendServer.bind(socket, devices, BackendOptions.defaults().withName("bench-raw")
                .withTransport(transport));
        Connection connection = null;
        try {
            BackendServer s = server;
            CompletableFuture<BackendSession> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.accept();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, r -> Thread.ofPlatform().daemon().name("bench-accept").start(r));
            connection = Connector.connect(socket, transport, Duration.ofSeconds(10), 100);
            Raw raw = new Raw(dir, server, accepted.get(10, TimeUnit.SECONDS), connection);
            server = null;
            connection = null;
            return raw;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the back-end accepted", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("the back-end did not accept a raw connection on " + socket + " within 10 s", e);
        } finally {
            if (connection != null) {
                connection.close();
            }
            if (server != null) {
                server.close();
                deleteDir(dir);
            }
        }
    }

    /**
     * Negotiates like the Rust anchor: SET_OWNER, GET_FEATURES, SET_FEATURES, GET_PROTOCOL_FEATURES,
     * SET_PROTOCOL_FEATURES with REPLY_ACK (every set-type request then waits for the back-end's ack) or with
     * nothing (set-type requests are one-way).
     *
     * @param replyAck whether to negotiate REPLY_ACK
     * @return the front-end
     * @throws VhostException if the back-end refuses a step
     */
    VhostUserFrontend negotiate(boolean replyAck) throws VhostException {
        frontend.setOwner();
        FeatureSet offered = frontend.getFeatures();
        frontend.setFeatures(offered.intersect(ACKED));
        FeatureSet protocol = frontend.getProtocolFeatures();
        frontend.setProtocolFeatures(replyAck ? protocol.intersect(FeatureSet.of(ProtocolFeature.REPLY_ACK))
                : FeatureSet.EMPTY);
        if (replyAck != frontend.ackedProtocolFeatures().contains(ProtocolFeature.REPLY_ACK)) {
            throw new IllegalStateException("REPLY_ACK " + (replyAck ? "not " : "") + "negotiated: "
                    + frontend.ackedProtocolFeatures());
        }
        return frontend;
    }

    VhostUserFrontend frontend() {
        return frontend;
    }

    BackendSession session() {
        return session;
    }

    /**
     * Closes the front-end, the back-end session and the server, each bounded to {@link #CLOSE_WAIT}: a close that
     * does not return in time is logged and abandoned on its daemon thread (benchmarks must stop by themselves; with
     * the junixsocket transport, closing a session was seen to wait forever for a reader blocked in a native read).
     */
    @Override
    public void close() {
        bounded("front-end close", frontend::close);
        bounded("back-end session close", session::close);
        bounded("back-end server close", server::close);
        deleteDir(dir);
    }

    static final Duration CLOSE_WAIT = Duration.ofSeconds(5);

    static void bounded(String what, Runnable action) {
        Thread t = Thread.ofPlatform().daemon().name("bench-" + what.replace(' ', '-')).start(action);
        try {
            if (!t.join(CLOSE_WAIT)) {
                System.getLogger(Loopback.class.getName()).log(System.Logger.Level.WARNING, what
                        + " did not return within " + CLOSE_WAIT.toSeconds() + " s; abandoned (library bug: a session "
                        + "reader was not woken by the close)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void deleteDir(Path dir) {
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            System.getLogger(Loopback.class.getName()).log(System.Logger.Level.DEBUG, "cannot delete " + dir, e);
        }
    }
}
