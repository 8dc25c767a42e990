package io.vhost.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * DPDK 22.11 {@code dpdk-testpmd} with a {@code net_vhost} port in server mode (the vhost-user back-end), no
 * hugepages, no PCI (flags from PEERS.md section 4). Stop it with {@link #stop()} (SIGINT) to get the final
 * forward statistics. Package dpdk-dev.
 */
public final class DpdkTestpmd extends PeerProcess {

    /** The program name. */
    public static final String COMMAND = "dpdk-testpmd";

    private static final Pattern ACCUMULATED = Pattern.compile(
            "Accumulated forward statistics for all ports\\+*\\s*\\n\\s*RX-packets:\\s*(\\d+)\\s+RX-dropped:\\s*(\\d+)"
                    + "\\s+RX-total:\\s*(\\d+)\\s*\\n\\s*TX-packets:\\s*(\\d+)\\s+TX-dropped:\\s*(\\d+)");

    private final Path socket;

    private DpdkTestpmd(List<String> command, Path log, Path socket) throws IOException {
        super(COMMAND, command, log);
        this.socket = socket;
    }

    /**
     * Tells whether dpdk-testpmd is installed.
     *
     * @return {@code true} if found on the PATH
     */
    public static boolean installed() {
        return onPath(COMMAND);
    }

    /**
     * Starts testpmd with one vhost port listening on {@code socket} and waits until the socket exists.
     *
     * @param socket the vhost-user socket testpmd creates
     * @param forwardMode {@code rxonly}, {@code txonly}, {@code io}...
     * @param extraArgs more testpmd application arguments (after {@code --}), e.g. {@code --txpkts=64}
     * @return the running testpmd
     * @throws IOException if it cannot be started
     */
    public static DpdkTestpmd start(Path socket, String forwardMode, String... extraArgs) throws IOException {
        Path log = socket.resolveSibling(socket.getFileName() + ".testpmd.log");
        String prefix = "vhostjava" + ProcessHandle.current().pid() + "x" + Long.toHexString(System.nanoTime());
        List<String> command = new ArrayList<>(List.of(COMMAND,
                "--lcores", "0@0,1@0", "--no-huge", "-m", "256", "--no-pci", "--file-prefix=" + prefix,
                "--vdev", "net_vhost0,iface=" + socket + ",client=0,queues=1",
                "--", "--forward-mode=" + forwardMode, "--nb-cores=1", "--total-num-mbufs=8192"));
        command.addAll(List.of(extraArgs));
        DpdkTestpmd pmd = new DpdkTestpmd(command, log, socket);
        boolean ok = false;
        try {
            pmd.awaitSocket(socket, Duration.ofSeconds(60));
            ok = true;
        } finally {
            if (!ok) {
                pmd.close();
            }
        }
        return pmd;
    }

    /** @return the vhost-user socket testpmd listens on */
    public Path socket() {
        return socket;
    }

    /**
     * Stops testpmd with SIGINT and waits (bounded) until it has printed its final statistics.
     *
     * @return the exit code, or -1 if it had to be killed
     * @throws IOException if the signal cannot be sent
     * @throws InterruptedException if interrupted while waiting
     */
    public int stop() throws IOException, InterruptedException {
        return interrupt(Duration.ofSeconds(30));
    }

    /**
     * Parses the "Accumulated forward statistics for all ports" RX-packets figure of the final statistics.
     *
     * @return the count, or empty if testpmd printed no final statistics
     */
    public OptionalLong accumulatedRxPackets() {
        Matcher m = ACCUMULATED.matcher(output());
        return m.find() ? OptionalLong.of(Long.parseLong(m.group(1))) : OptionalLong.empty();
    }

    /**
     * Parses the "Accumulated forward statistics for all ports" TX-packets figure of the final statistics.
     *
     * @return the count, or empty if testpmd printed no final statistics
     */
    public OptionalLong accumulatedTxPackets() {
        Matcher m = ACCUMULATED.matcher(output());
        return m.find() ? OptionalLong.of(Long.parseLong(m.group(4))) : OptionalLong.empty();
    }
}
