package io.vhost.devices.net;

import io.vhost.devices.cli.Serving;
import io.vhost.devices.cli.Termination;
import io.vhost.impl.backend.BackendOptions;
import io.vhost.impl.daemon.VhostUserDaemon;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The {@code vhost-device-net} program: a vhost-user-net back-end that loops frames back or sinks them, following
 * the vhost-user spec's back-end program conventions ({@code --socket-path}, {@code --fd},
 * {@code --print-capabilities}; ends on SIGTERM and SIGINT with status 0; never daemonizes).
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -jar vhost-device-net.jar \
 *     --socket-path=/tmp/net.sock [--mode=loopback|sink] [--queue-pairs=1] [--mac=52:54:00:12:34:56]
 * </pre>
 *
 * <p>It serves one front-end connection after another on the same socket until it is told to stop, and logs the
 * counters ({@link NetStats}) at the end. Exit status: 0 after {@code --print-capabilities}, a normal end or
 * SIGTERM/SIGINT; 1 when the socket cannot be listened on; 2 on a usage error.
 */
@Command(name = "vhost-device-net", mixinStandardHelpOptions = true, sortOptions = false,
        description = "vhost-user-net back-end: loops transmitted frames back to the receive queue, or sinks them"
                + " (vhost-java).",
        version = "vhost-device-net 0.1.0")
public final class NetMain implements Callable<Integer> {

    private static final Logger LOG = System.getLogger(NetMain.class.getName());

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

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "loopback",
            description = "loopback: frames sent on TX queue 2k arrive on RX queue 2k (dropped when RX has no"
                    + " buffer); sink: frames sent are consumed and counted (default ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--queue-pairs", paramLabel = "N", defaultValue = "1",
            description = "Number of RX/TX queue pairs, 1 to 128; MQ is offered above 1 (default ${DEFAULT-VALUE}).")
    int queuePairs;

    @Option(names = "--queue-size", paramLabel = "N", defaultValue = "1024",
            description = "Largest ring size accepted (default ${DEFAULT-VALUE}).")
    int queueSize;

    @Option(names = "--mac", paramLabel = "MAC", defaultValue = "52:54:00:12:34:56",
            description = "MAC address in the config space (default ${DEFAULT-VALUE}).")
    String mac;

    @Option(names = "--max-frame", paramLabel = "BYTES", defaultValue = "9216",
            description = "Largest Ethernet frame accepted on TX, header excluded (default ${DEFAULT-VALUE}).")
    int maxFrame;

    @Option(names = "--busy-poll-us", paramLabel = "MICROS", defaultValue = "0",
            description = "After a burst, keep polling the queues this long (0 to 1000000) with the driver's kicks off"
                    + " before sleeping: more frames per second and fewer kicks for a CPU spent polling; 0 never"
                    + " polls (default ${DEFAULT-VALUE}).")
    long busyPollMicros;

    @Spec
    CommandSpec spec;

    private final Termination termination = new Termination();
    private final Serving serving = new Serving("vhost-device-net", termination);

    /**
     * Runs the program.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        NetMain main = new NetMain();
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
        return run(new NetMain(), args, out, err);
    }

    static int run(NetMain main, String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(main);
        cli.setOut(out);
        cli.setErr(err);
        return cli.execute(args);
    }

    /**
     * Returns the capabilities JSON of {@code --print-capabilities} (QEMU's vhost-user.json schema,
     * {@code VHostUserBackendCapabilities} of type {@code net}, which defines no features).
     *
     * @return the JSON text
     */
    public static String capabilitiesJson() {
        return """
                {
                  "type": "net"
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
            err.println("vhost-device-net: give exactly one of --socket-path=PATH and --fd=FDNUM");
            return 2;
        }
        NetDevice device;
        try {
            if (busyPollMicros < 0 || busyPollMicros > 1_000_000) {
                throw new IllegalArgumentException("--busy-poll-us=" + busyPollMicros + " is outside 0..1000000");
            }
            device = new NetDevice(NetDevice.Mode.parse(mode), queuePairs, queueSize, NetConfig.parseMac(mac),
                    maxFrame, java.time.Duration.ofNanos(busyPollMicros * 1_000));
        } catch (IllegalArgumentException e) {
            err.println("vhost-device-net: " + e.getMessage());
            return 2;
        }
        BackendOptions options = BackendOptions.defaults().withName("vhost-net");
        Thread hook = new Thread(this::stop, "vhost-device-net-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            String what = "net (" + device.mode() + ", " + device.config() + ")";
            return socketPath != null
                    ? serving.listening(() -> VhostUserDaemon.bind(socketPath, device, options), what,
                            socketPath.toString())
                    : serving.inherited(fd, device, options, what, err);
        } catch (IOException e) {
            err.println("vhost-device-net: cannot listen on " + (socketPath != null ? socketPath : "--fd=" + fd)
                    + ": " + e.getMessage());
            return 1;
        } finally {
            LOG.log(Level.INFO, "{0} mode, counters at exit: {1}", device.mode(), device.stats());
            termination.finished();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is already shutting down
            }
        }
    }

    /** SIGTERM / SIGINT: ends the serve loop or the session, waits until it is closed, then lets the JVM exit. */
    void stop() {
        termination.stop();
    }
}
