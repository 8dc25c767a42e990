package io.vhost.impl.frontend;

import io.vhost.api.error.VhostException;
import io.vhost.api.frontend.VhostUserFrontend;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Opens vhost-user front-ends: the entry point a VMM uses.
 *
 * <pre>{@code
 * try (VhostUserFrontend fe = VhostUserFrontends.connect(Path.of("/run/blk0.sock"))) {
 *     FeatureSet offered = fe.getFeatures();
 *     ...
 * }
 * }</pre>
 */
public final class VhostUserFrontends {

    private VhostUserFrontends() {
    }

    /**
     * Connects as a client to a back-end listening on {@code socket}, retrying with backoff for 10 s.
     *
     * @param socket the back-end's socket path
     * @return the connected front-end, owned by the caller
     * @throws VhostException if no connection could be made in time
     */
    public static VhostUserFrontend connect(Path socket) throws VhostException {
        return connect(socket, FrontendOptions.defaults());
    }

    /**
     * Connects as a client, retrying with backoff (10 ms doubling to 1 s) for {@code options.connectTimeout()}.
     *
     * @param socket the back-end's socket path
     * @param options timeouts and metrics
     * @return the connected front-end, owned by the caller
     * @throws VhostException if no connection could be made in time
     */
    public static VhostUserFrontend connect(Path socket, FrontendOptions options) throws VhostException {
        return DefaultVhostUserFrontend.connect(Objects.requireNonNull(socket, "socket"),
                Objects.requireNonNull(options, "options"));
    }

    /**
     * Listens on {@code socket} (server mode, as QEMU's {@code server=on}) and waits for a back-end to connect. The
     * listening socket stays open for {@link VhostUserFrontend#reconnect()}, which accepts the next back-end, and
     * is removed on close. Blocks until a back-end connects (as QEMU's {@code server=on,wait=on}); run it on a thread
     * you can interrupt if you need to give up.
     *
     * @param socket the path to create (a stale socket file is replaced)
     * @param options timeouts and metrics
     * @return the front-end with a back-end connected, owned by the caller
     * @throws VhostException if the path cannot be bound or accepting fails
     */
    public static VhostUserFrontend listen(Path socket, FrontendOptions options) throws VhostException {
        return DefaultVhostUserFrontend.listen(Objects.requireNonNull(socket, "socket"),
                Objects.requireNonNull(options, "options"));
    }
}
