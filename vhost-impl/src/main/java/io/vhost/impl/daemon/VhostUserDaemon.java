package io.vhost.impl.daemon;

import io.vhost.api.Fd;
import io.vhost.api.device.VhostUserDevice;
import io.vhost.impl.backend.BackendOptions;
import io.vhost.impl.backend.BackendServer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The one-liner for device authors: serves a {@link VhostUserDevice} on a socket, one front-end connection after
 * another, each session handled by a {@link DeviceBackend} (rust-vmm's {@code VhostUserDaemon}).
 *
 * <pre>{@code
 * try (VhostUserDaemon daemon = VhostUserDaemon.bind(Path.of("/run/blk.sock"), myDevice)) {
 *     Runtime.getRuntime().addShutdownHook(new Thread(daemon::shutdown)); // SIGTERM ends serve()
 *     daemon.serve();
 * }
 * }</pre>
 *
 * <p>The device object is shared by the sessions, which the serve loop runs one at a time; per-session state lives
 * in the {@link DeviceBackend}. Thread-safe.
 */
public final class VhostUserDaemon implements AutoCloseable {

    private final BackendServer server;

    private VhostUserDaemon(BackendServer server) {
        this.server = server;
    }

    /**
     * Listens on a socket path (a stale socket is replaced, a path in use is refused; the path is removed on close).
     *
     * @param path the socket path the front-end connects to
     * @param device the device
     * @return the daemon, not yet serving
     * @throws IOException if the path cannot be bound
     */
    public static VhostUserDaemon bind(Path path, VhostUserDevice device) throws IOException {
        return bind(path, device, BackendOptions.defaults());
    }

    /**
     * Listens on a socket path with explicit options (name, transport, metrics).
     *
     * @param path the socket path
     * @param device the device
     * @param options the engine's options
     * @return the daemon, not yet serving
     * @throws IOException if the path cannot be bound
     */
    public static VhostUserDaemon bind(Path path, VhostUserDevice device, BackendOptions options) throws IOException {
        Objects.requireNonNull(device, "device");
        return new VhostUserDaemon(BackendServer.bind(path, ctx -> new DeviceBackend(device, ctx), options));
    }

    /**
     * Serves on an inherited listening socket (the spec's {@code --fd}); the daemon owns it from now on.
     *
     * @param listening the listening unix socket
     * @param device the device
     * @param options the engine's options
     * @return the daemon, not yet serving
     * @throws IOException if the fd is not a listening unix socket
     */
    public static VhostUserDaemon adopt(Fd listening, VhostUserDevice device, BackendOptions options)
            throws IOException {
        Objects.requireNonNull(device, "device");
        return new VhostUserDaemon(BackendServer.adopt(listening, ctx -> new DeviceBackend(device, ctx), options));
    }

    /**
     * Serves front-ends one after another until {@link #shutdown()}.
     *
     * @throws IOException if accepting fails for another reason than shutdown
     * @throws InterruptedException if the calling thread is interrupted
     */
    public void serve() throws IOException, InterruptedException {
        server.serve();
    }

    /**
     * Returns how many front-end connections were served so far.
     *
     * @return the count
     */
    public long sessionsServed() {
        return server.sessionsServed();
    }

    /** Ends {@link #serve()} from any thread: stops accepting and closes the current session. */
    public void shutdown() {
        server.shutdown();
    }

    /** Stops serving and releases the socket (and its path). */
    @Override
    public void close() {
        server.close();
    }
}
