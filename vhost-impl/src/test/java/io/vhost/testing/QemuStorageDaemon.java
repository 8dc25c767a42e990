package io.vhost.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * qemu-storage-daemon exporting a raw image as a vhost-user-blk back-end (server mode) on a unix socket; it runs
 * until {@link #close()} (SIGTERM, then SIGKILL). Package qemu-system-common (through qemu-system-x86).
 *
 * <pre>{@code
 * try (var qsd = QemuStorageDaemon.start(image, dir.resolve("blk.sock"), 1)) {
 *     // connect a front-end to qsd.socket()
 * }
 * }</pre>
 */
public final class QemuStorageDaemon extends PeerProcess {

    /** The program name. */
    public static final String COMMAND = "qemu-storage-daemon";

    private final Path socket;
    private final Path image;

    private QemuStorageDaemon(List<String> command, Path log, Path socket, Path image) throws IOException {
        super(COMMAND, command, log);
        this.socket = socket;
        this.image = image;
    }

    /**
     * Tells whether qemu-storage-daemon is installed.
     *
     * @return {@code true} if found on the PATH
     */
    public static boolean installed() {
        return onPath(COMMAND);
    }

    /**
     * Starts the daemon and waits until its socket exists.
     *
     * @param image a raw image file (writable)
     * @param socket where the daemon listens
     * @param numQueues the number of virtqueues the export offers
     * @return the running daemon
     * @throws IOException if it cannot be started
     */
    public static QemuStorageDaemon start(Path image, Path socket, int numQueues) throws IOException {
        Path log = socket.resolveSibling(socket.getFileName() + ".qsd.log");
        List<String> command = List.of(COMMAND,
                "--blockdev", "driver=file,node-name=file0,filename=" + image + ",cache.direct=off",
                "--export", "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=" + socket
                        + ",writable=on,num-queues=" + numQueues);
        QemuStorageDaemon qsd = new QemuStorageDaemon(command, log, socket, image);
        boolean ok = false;
        try {
            qsd.awaitSocket(socket, Duration.ofSeconds(30));
            ok = true;
        } finally {
            if (!ok) {
                qsd.close();
            }
        }
        return qsd;
    }

    /** @return the vhost-user socket the daemon listens on */
    public Path socket() {
        return socket;
    }

    /** @return the exported image file */
    public Path image() {
        return image;
    }
}
