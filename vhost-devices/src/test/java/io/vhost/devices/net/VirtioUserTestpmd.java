package io.vhost.devices.net;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * DPDK {@code dpdk-testpmd} with a {@code net_virtio_user} port: the virtio-net driver and vhost-user front-end of
 * DPDK, connecting as a client to our back-end's socket. No hugepages ({@code --no-huge -m 256}, memfd-backed), no
 * PCI, both lcores on CPU 0, a file prefix of its own, rings of {@link #QUEUE_SIZE} descriptors. Its output goes to
 * a log file; {@link #stop()} sends SIGINT, on which testpmd prints its final statistics, disables and stops the
 * rings ({@code SET_VRING_ENABLE 0}, {@code GET_VRING_BASE}) and exits; {@link #close()} always kills it. Package
 * dpdk-dev.
 */
final class VirtioUserTestpmd implements AutoCloseable {

    static final String COMMAND = "dpdk-testpmd";
    /**
     * Descriptors per ring ({@code queue_size}, virtio-user's default, set explicitly): what one ring can hold bounds
     * the frames testpmd placed in a ring but the device never took, or received but never read, when it stopped.
     */
    static final int QUEUE_SIZE = 256;

    private static final Pattern ACCUMULATED = Pattern.compile(
            "Accumulated forward statistics for all ports\\+*\\s*\\n\\s*RX-packets:\\s*(\\d+)\\s+RX-dropped:\\s*(\\d+)"
                    + "\\s+RX-total:\\s*(\\d+)\\s*\\n\\s*TX-packets:\\s*(\\d+)\\s+TX-dropped:\\s*(\\d+)");

    /** The final "Accumulated forward statistics for all ports". */
    record Totals(long rxPackets, long rxDropped, long txPackets, long txDropped) {}

    private final Process process;
    private final Path log;

    private VirtioUserTestpmd(List<String> command, Path log) throws IOException {
        this.log = log;
        // stdin stays an open pipe: testpmd without --stats-period would otherwise read EOF and quit at once
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
     * Starts testpmd against a listening back-end.
     *
     * @param socket our back-end's socket
     * @param vdevExtra more virtio-user devargs, e.g. {@code ,packed_vq=1}, or ""
     * @param appArgs testpmd application arguments (after {@code --})
     */
    static VirtioUserTestpmd start(Path socket, String vdevExtra, String... appArgs) throws IOException {
        Path log = socket.resolveSibling(socket.getFileName() + ".testpmd.log");
        String prefix = "vhostnet" + ProcessHandle.current().pid() + "x" + Long.toHexString(System.nanoTime());
        List<String> command = new ArrayList<>(List.of(COMMAND, "--lcores", "0@0,1@0", "--no-huge", "-m", "256",
                "--no-pci", "--file-prefix=" + prefix,
                "--vdev", "net_virtio_user0,path=" + socket + ",queues=1,server=0,queue_size=" + QUEUE_SIZE
                        + vdevExtra,
                "--", "--nb-cores=1", "--total-num-mbufs=8192"));
        command.addAll(List.of(appArgs));
        return new VirtioUserTestpmd(command, log);
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

    /** SIGINT, then a bounded wait; returns the exit status or -1 if it had to be killed. */
    int stop() throws IOException, InterruptedException {
        if (process.isAlive()) {
            Process kill = new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).start();
            if (!kill.waitFor(10, TimeUnit.SECONDS)) {
                kill.destroyForcibly();
            }
        }
        if (process.waitFor(30, TimeUnit.SECONDS)) {
            return process.exitValue();
        }
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        return -1;
    }

    /** Parses the final statistics; fails with the log when testpmd printed none. */
    Totals totals() {
        String out = output();
        Matcher m = ACCUMULATED.matcher(out);
        if (!m.find()) {
            throw new AssertionError("testpmd printed no final statistics; its log:\n" + out);
        }
        return new Totals(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(4)),
                Long.parseLong(m.group(5)));
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

    @Override
    public String toString() {
        return COMMAND + "[pid " + process.pid() + ", log " + log + "]";
    }
}
