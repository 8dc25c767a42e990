package io.vhost.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code dpdk-testpmd} process of the net benchmark (DPDK 22.11, package dpdk-dev): no hugepages, no PCI, a
 * file prefix of its own, both EAL lcores on the CPUs given. Output goes to a log file. {@link #stop()} sends
 * SIGINT (testpmd then prints its final statistics); {@link #close()} always kills it.
 */
final class Testpmd implements AutoCloseable {

    static final String COMMAND = "dpdk-testpmd";

    private static final Pattern TX_PPS = Pattern.compile("Tx-pps:\\s*(\\d+)");
    private static final Pattern ACCUMULATED = Pattern.compile(
            "Accumulated forward statistics for all ports\\+*\\s*\\n\\s*RX-packets:\\s*(\\d+)[^\\n]*\\n"
                    + "\\s*TX-packets:\\s*(\\d+)");

    private final Process process;
    private final Path log;

    private Testpmd(List<String> command, Path log) throws IOException {
        this.log = log;
        // stdin stays an open pipe: testpmd without --stats-period waits on it until signalled
        this.process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    static boolean installed() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, COMMAND))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Starts testpmd.
     *
     * @param cpus the CPU list both lcores may run on: {@code 0} (pinned) or {@code 0-1}
     * @param vdev the {@code --vdev} argument
     * @param log where its output goes
     * @param appArgs testpmd arguments after {@code --}
     */
    static Testpmd start(String cpus, String vdev, Path log, String... appArgs) throws IOException {
        String set = cpus.contains("-") || cpus.contains(",") ? "(" + cpus + ")" : cpus;
        String prefix = "vhostbench" + ProcessHandle.current().pid() + "x" + Long.toHexString(System.nanoTime());
        List<String> command = new ArrayList<>(List.of(COMMAND, "--lcores", "0@" + set + ",1@" + set, "--no-huge",
                "-m", "256", "--no-pci", "--file-prefix=" + prefix, "--vdev", vdev,
                "--", "--nb-cores=1", "--total-num-mbufs=8192"));
        command.addAll(List.of(appArgs));
        return new Testpmd(command, log);
    }

    boolean isAlive() {
        return process.isAlive();
    }

    String output() {
        try {
            return Files.readString(log, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }

    /** The per-period {@code Tx-pps} figures printed so far (one per port and period; one port here). */
    List<Long> txPpsSamples() {
        List<Long> samples = new ArrayList<>();
        Matcher m = TX_PPS.matcher(output());
        while (m.find()) {
            samples.add(Long.parseLong(m.group(1)));
        }
        return samples;
    }

    /** The final accumulated TX-packets, or -1 if testpmd printed no final statistics. */
    long accumulatedTxPackets() {
        Matcher m = ACCUMULATED.matcher(output());
        return m.find() ? Long.parseLong(m.group(2)) : -1;
    }

    /** The final accumulated RX-packets, or -1 if testpmd printed no final statistics. */
    long accumulatedRxPackets() {
        Matcher m = ACCUMULATED.matcher(output());
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    /** Waits until a path exists, failing early with the log when testpmd exits first. */
    void awaitPath(Path path, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!Files.exists(path)) {
            if (!process.isAlive()) {
                throw new IOException(COMMAND + " exited with " + process.exitValue() + " before creating " + path
                        + "; its log " + log + ":\n" + output());
            }
            if (System.nanoTime() > deadline) {
                throw new IOException(COMMAND + " did not create " + path + " within " + timeout + "; log " + log);
            }
            Thread.sleep(20);
        }
    }

    /** SIGINT and a bounded wait for the exit (killed after 20 s). */
    void stop() throws IOException, InterruptedException {
        if (process.isAlive()) {
            Process kill = new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).start();
            if (!kill.waitFor(10, TimeUnit.SECONDS)) {
                kill.destroyForcibly();
            }
        }
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            process.getOutputStream().close();
        } catch (IOException ignored) {
            // gone with the process
        }
    }
}
