package io.vhost.devices.blk;

import io.vhost.devices.cli.Serving;
import io.vhost.devices.cli.Termination;
import io.vhost.impl.backend.BackendOptions;
import io.vhost.impl.daemon.VhostUserDaemon;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The {@code vhost-device-blk} program: a vhost-user-blk back-end serving a raw image, following the vhost-user
 * spec's back-end program conventions ({@code --socket-path}, {@code --fd}, {@code --print-capabilities}; ends on
 * SIGTERM and SIGINT; never daemonizes).
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -jar vhost-device-blk.jar \
 *     --socket-path=/tmp/blk.sock --blk-file=disk.img [--read-only] [--num-queues=4] [--create=128M]
 * </pre>
 *
 * <p>It serves one front-end connection after another on the same socket until it is told to stop. Exit status: 0
 * after {@code --print-capabilities} or a normal end, 1 when the device cannot start (missing image, socket path in
 * use), 2 on a usage error; the JVM's 143/130 after SIGTERM/SIGINT, once the session is closed.
 */
@Command(name = "vhost-device-blk", mixinStandardHelpOptions = true, sortOptions = false,
        description = "vhost-user-blk back-end serving a raw image file (vhost-java).",
        version = "vhost-device-blk 0.1.0")
public final class BlkMain implements Callable<Integer> {

    private static final Logger LOG = System.getLogger(BlkMain.class.getName());

    @Option(names = "--socket-path", paramLabel = "PATH",
            description = "Listen for the front-end on this unix socket (incompatible with --fd).")
    Path socketPath;

    @Option(names = "--fd", paramLabel = "FDNUM",
            description = "Serve on this inherited unix socket (incompatible with --socket-path): a listening socket"
                    + " serves one front-end after another, a connected one serves that front-end only.")
    Integer fd;

    @Option(names = "--print-capabilities",
            description = "Print the back-end capabilities as JSON and exit; other options are ignored.")
    boolean printCapabilities;

    @Option(names = "--blk-file", paramLabel = "PATH", description = "The raw disk image.")
    Path blkFile;

    @Option(names = "--read-only", description = "Refuse writes (VIRTIO_BLK_F_RO).")
    boolean readOnly;

    @Option(names = "--create", paramLabel = "SIZE",
            description = "Create the image with this size if it does not exist (bytes, or with K, M, G, T).")
    String create;

    @Option(names = "--num-queues", paramLabel = "N", defaultValue = "1",
            description = "Number of request queues (default ${DEFAULT-VALUE}).")
    int numQueues;

    @Option(names = "--queue-size", paramLabel = "N", defaultValue = "1024",
            description = "Largest ring size accepted (default ${DEFAULT-VALUE}).")
    int queueSize;

    @Option(names = "--serial", paramLabel = "ID",
            description = "Device id answered to GET_ID (default: the image file name).")
    String serial;

    @Spec
    CommandSpec spec;

    private final Termination termination = new Termination();
    private final Serving serving = new Serving("vhost-device-blk", termination);

    /**
     * Runs the program.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        BlkMain main = new BlkMain();
        main.termination.handleSignals();
        int status = run(main, args, new PrintWriter(System.out, true), new PrintWriter(System.err, true));
        System.exit(status);
    }

    /**
     * Runs the program with explicit output streams (for tests).
     *
     * @param args the command line
     * @param out standard output
     * @param err standard error
     * @return the exit status
     */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        return run(new BlkMain(), args, out, err);
    }

    static int run(BlkMain main, String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(main);
        cli.setOut(out);
        cli.setErr(err);
        return cli.execute(args);
    }

    /**
     * Returns the capabilities JSON of {@code --print-capabilities} (QEMU's vhost-user.json schema,
     * {@code VHostUserBackendCapabilities} of type {@code block}).
     *
     * @return the JSON text
     */
    public static String capabilitiesJson() {
        return """
                {
                  "type": "block",
                  "features": [
                    "read-only",
                    "blk-file"
                  ]
                }""";
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (printCapabilities) {
            out.println(capabilitiesJson());
            out.flush();
            return 0;
        }
        if ((socketPath == null) == (fd == null)) {
            err.println("vhost-device-blk: give exactly one of --socket-path=PATH and --fd=FDNUM");
            return 2;
        }
        if (blkFile == null) {
            err.println("vhost-device-blk: --blk-file=PATH is required (the raw disk image to serve)");
            return 2;
        }
        if (create != null && !Files.exists(blkFile)) {
            long size;
            try {
                size = parseSize(create);
            } catch (IllegalArgumentException e) {
                err.println("vhost-device-blk: " + e.getMessage());
                return 2;
            }
            BlkImage.create(blkFile, size);
            LOG.log(Level.INFO, "created image {0} of {1} bytes", blkFile, size);
        }
        BlkImage image;
        try {
            image = BlkImage.open(blkFile, readOnly);
        } catch (IOException e) {
            err.println("vhost-device-blk: cannot open --blk-file " + blkFile + ": " + e.getMessage());
            return 1;
        }
        try (image) {
            BlkDevice device;
            try {
                device = new BlkDevice(image, numQueues, queueSize,
                        serial != null ? serial : blkFile.getFileName().toString());
            } catch (IllegalArgumentException e) {
                err.println("vhost-device-blk: " + e.getMessage());
                return 2;
            }
            BackendOptions options = BackendOptions.defaults().withName("vhost-blk");
            Thread hook = new Thread(this::stop, "vhost-device-blk-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                return socketPath != null
                        ? serving.listening(() -> VhostUserDaemon.bind(socketPath, device, options), image.toString(),
                                socketPath.toString())
                        : serving.inherited(fd, device, options, image.toString(), err);
            } finally {
                termination.finished();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException e) {
                    // the JVM is already shutting down
                }
            }
        } catch (IOException e) {
            err.println("vhost-device-blk: cannot listen on " + (socketPath != null ? socketPath : "--fd=" + fd)
                    + ": " + e.getMessage());
            return 1;
        }
    }

    /** SIGTERM / SIGINT: ends the serve loop or the session, waits until it is closed, then lets the JVM exit. */
    void stop() {
        termination.stop();
    }

    /**
     * Parses a size such as {@code 134217728}, {@code 128M} or {@code 1G} (binary units).
     *
     * @param text the size
     * @return bytes, a positive multiple of 512
     * @throws IllegalArgumentException if malformed
     */
    static long parseSize(String text) {
        String t = text.trim().toUpperCase(Locale.ROOT);
        long unit = 1;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'K' -> unit = 1L << 10;
                case 'M' -> unit = 1L << 20;
                case 'G' -> unit = 1L << 30;
                case 'T' -> unit = 1L << 40;
                default -> unit = 1;
            }
        }
        String digits = unit == 1 ? t : t.substring(0, t.length() - 1);
        long value;
        try {
            value = Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--create " + text + " is not a size (examples: 1048576, 128M, 2G)");
        }
        if (value <= 0 || value > Long.MAX_VALUE / unit || value * unit % 512 != 0) {
            throw new IllegalArgumentException("--create " + text + " must be a positive multiple of 512 bytes");
        }
        return value * unit;
    }
}
