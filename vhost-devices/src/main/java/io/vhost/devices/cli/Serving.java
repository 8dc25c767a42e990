package io.vhost.devices.cli;

import io.vhost.api.device.VhostUserDevice;
import io.vhost.api.error.NativeCallException;
import io.vhost.impl.backend.BackendOptions;
import io.vhost.impl.backend.BackendSession;
import io.vhost.impl.daemon.DeviceBackend;
import io.vhost.impl.daemon.VhostUserDaemon;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;

/**
 * How a device program serves its device, the same for every program: on a listening socket (a {@code --socket-path}
 * it binds, or a listening {@code --fd}) one connection after another, or on a connected {@code --fd} one session;
 * each through its {@link Termination}, so that SIGTERM and SIGINT close what is served.
 *
 * <p>Internal to the device programs (this package is not exported).
 */
public final class Serving {

    private static final Logger LOG = System.getLogger(Serving.class.getName());

    private final String program;
    private final Termination termination;

    /**
     * Creates the serving side of one program.
     *
     * @param program the program's name, for error messages ("vhost-device-blk")
     * @param termination its signal handling
     */
    public Serving(String program, Termination termination) {
        this.program = program;
        this.termination = termination;
    }

    /**
     * Serves connections one after another until stopped.
     *
     * @param opener binds or adopts the listening socket
     * @param what the device, for the log ("net (LOOPBACK, ...)")
     * @param where the socket path or {@code fd N}, for the log
     * @return the exit status, 0
     * @throws IOException if the socket cannot be opened
     * @throws InterruptedException if interrupted while serving
     */
    public int listening(Termination.Opener<VhostUserDaemon> opener, String what, String where)
            throws IOException, InterruptedException {
        VhostUserDaemon daemon = termination.start(opener, d -> d::shutdown);
        if (daemon == null) {
            return 0; // a signal came first: the program is exiting
        }
        try (daemon) {
            LOG.log(Level.INFO, "serving {0} on {1}", what, where);
            daemon.serve();
        }
        return 0;
    }

    /**
     * {@code --fd}: a listening socket is served like a path; a connected one is one session.
     *
     * @param fd the inherited descriptor
     * @param device the device
     * @param options the engine's options
     * @param what the device, for the log
     * @param err where usage errors go
     * @return the exit status: 0, or 2 if {@code fd} is not a socket (it is then left open: it is not ours)
     * @throws IOException if the socket cannot be adopted
     * @throws InterruptedException if interrupted while serving
     */
    public int inherited(int fd, VhostUserDevice device, BackendOptions options, String what, PrintWriter err)
            throws IOException, InterruptedException {
        OwnedFd owned = OwnedFd.of(fd, "inherited socket --fd=" + fd);
        boolean listening;
        try {
            listening = Sockets.getIntOption(fd, Sockets.SOL_SOCKET, Sockets.SO_ACCEPTCONN) != 0;
        } catch (NativeCallException e) {
            owned.release(); // not ours to close: the caller passed something that is not a socket
            err.println(program + ": --fd=" + fd + " is not a unix socket: " + e.getMessage());
            return 2;
        }
        if (listening) {
            return listening(() -> VhostUserDaemon.adopt(owned, device, options), what, "fd " + fd);
        }
        BackendSession session = termination.start(
                () -> BackendSession.adopt(owned, ctx -> new DeviceBackend(device, ctx), options), s -> s::shutdown);
        if (session == null) {
            return 0; // a signal came first: the program is exiting
        }
        try (session) {
            LOG.log(Level.INFO, "serving {0} on the connected socket fd {1}", what, fd);
            session.awaitEnd();
            session.failure().ifPresent(f -> LOG.log(Level.WARNING, "session ended: " + f));
        }
        return 0;
    }
}
