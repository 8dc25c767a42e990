package io.vhost.bench;

import io.vhost.devices.net.NetDevice;
import io.vhost.impl.daemon.VhostUserDaemon;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Net data plane against DPDK: DPDK's virtio-user driver ({@code dpdk-testpmd --forward-mode=txonly}, fixed frame
 * size, burst 32) transmits as fast as it can into (a) our vhost-user-net device in sink mode, in this JVM, or (b)
 * DPDK's own vhost back-end ({@code net_vhost}, a second testpmd in {@code rxonly} mode). The rate is the front-end
 * testpmd's per-second {@code Tx-pps}: a frame counts once the back-end has made room for it in the ring, so in
 * steady state it is the rate at which the back-end takes frames. Each run's figure is the median of its samples
 * after the first (start-up); targets alternate run by run so that both see the same load.
 *
 * <p>Placement: the {@code pinned} regime expects this JVM under {@code taskset -c 0} (bench.sh does that) and runs
 * two placements: {@code shared}, front-end and back-end on CPU 0 (testpmd {@code --lcores 0@0,1@0}); {@code split},
 * the front-end on CPU 1 and the back-end on CPU 0, as DPDK's own vhost/virtio-user measurements are made. The
 * {@code unpinned} regime runs {@code float}: every process may run on CPUs 0-1.
 *
 * <p>Usage: {@code NetBench --regime pinned|unpinned --out FILE.jsonl [--sizes 64,1500] [--runs 3]
 * [--samples 3] [--placements shared=64;split=64,1500] [--busy-poll-us N]} (the placements default to the
 * regime's, each with {@code --sizes}; with {@code --busy-poll-us}, our device runs a second time per run with that
 * busy-poll window, target {@code vhost-java-poll}). Writes one JSON line per run: {@code suite=net}, {@code placement}, {@code target}
 * ({@code vhost-java} or {@code dpdk}), {@code frame}, {@code run}, {@code ops_per_s} (frames/s), the samples, the
 * load average, testpmd's TX-packets and the frames the back-end counted.
 */
public final class NetBench {

    private static final Logger LOG = System.getLogger(NetBench.class.getName());
    private static final byte[] MAC = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    private static final Duration START = Duration.ofSeconds(60);

    private final String regime;
    private String placement;
    private String frontCpus;
    private String backCpus;
    private final Path out;
    private final Path work;
    private final int samples;
    private final long busyPollMicros;

    private NetBench(String regime, Path out, Path work, int samples, long busyPollMicros) {
        this.regime = regime;
        this.out = out;
        this.work = work;
        this.samples = samples;
        this.busyPollMicros = busyPollMicros;
    }

    /**
     * Entry point.
     *
     * @param args see the class comment
     * @throws Exception if a run fails
     */
    public static void main(String[] args) throws Exception {
        String regime = "unpinned";
        Path out = null;
        List<Integer> sizes = List.of(64, 1500);
        int runs = 3;
        int samples = 3;
        String placementArg = null;
        long busyPollMicros = 0;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--regime" -> regime = args[i + 1];
                case "--out" -> out = Path.of(args[i + 1]);
                case "--sizes" -> sizes = java.util.Arrays.stream(args[i + 1].split(",")).map(Integer::valueOf)
                        .toList();
                case "--runs" -> runs = Integer.parseInt(args[i + 1]);
                case "--samples" -> samples = Integer.parseInt(args[i + 1]);
                case "--placements" -> placementArg = args[i + 1];
                case "--busy-poll-us" -> busyPollMicros = Long.parseLong(args[i + 1]);
                default -> throw new IllegalArgumentException("NetBench: unknown option " + args[i]);
            }
        }
        if (out == null) {
            throw new IllegalArgumentException("usage: NetBench --regime pinned|unpinned --out FILE.jsonl "
                    + "[--sizes 64,1500] [--runs 3] [--samples 4] [--busy-poll-us 0]");
        }
        if (!Testpmd.installed()) {
            LOG.log(Level.WARNING, "net data plane skipped: dpdk-testpmd is not on the PATH (Debian package dpdk-dev)");
            return;
        }
        Path work = Files.createTempDirectory("vhost-bench-net");
        try {
            NetBench bench = new NetBench(regime, out, work, samples, busyPollMicros);
            java.util.Map<String, List<Integer>> placements = new java.util.LinkedHashMap<>();
            if (placementArg == null) {
                for (String p : regime.equals("pinned") ? List.of("shared", "split") : List.of("float")) {
                    placements.put(p, sizes);
                }
            } else {
                for (String entry : placementArg.split(";")) {
                    String[] kv = entry.split("=", 2);
                    placements.put(kv[0], kv.length == 1 ? sizes : java.util.Arrays.stream(kv[1].split(","))
                            .map(Integer::valueOf).toList());
                }
            }
            bench.place(placements.keySet().iterator().next());
            bench.ours(64, 0, 1, 0); // JIT warm-up of our device; not recorded
            for (var placement : placements.entrySet()) {
                bench.place(placement.getKey());
                for (int size : placement.getValue()) {
                    for (int run = 1; run <= runs; run++) {
                        bench.record(size, run, "vhost-java", bench.ours(size, run, samples, 0));
                        if (busyPollMicros > 0) {
                            bench.record(size, run, "vhost-java-poll",
                                    bench.ours(size, run, samples, busyPollMicros));
                        }
                        bench.record(size, run, "dpdk", bench.dpdk(size, run));
                    }
                }
            }
        } finally {
            Loopback.deleteDir(work);
        }
    }

    private void place(String name) {
        placement = name;
        switch (name) {
            case "shared" -> {
                frontCpus = "0";
                backCpus = "0";
            }
            case "split" -> {
                frontCpus = "1";
                backCpus = "0";
            }
            case "float" -> {
                frontCpus = "0-1";
                backCpus = "0-1";
            }
            default -> throw new IllegalArgumentException("placement " + name + " is not shared, split or float");
        }
    }

    /** The outcome of one run. */
    private record Result(List<Long> samples, double rate, long frontendTx, long backendFrames, String load) {}

    private Result ours(int size, int run, int wanted, long pollMicros) throws IOException, InterruptedException {
        NetDevice device = new NetDevice(NetDevice.Mode.SINK, 1, 1024, MAC, 9216, Duration.ofNanos(pollMicros * 1_000));
        String tag = (pollMicros > 0 ? "ours-poll-" : "ours-") + placement + "-" + size + "-" + run;
        Path sock = work.resolve(tag + ".sock");
        String load = loadAverage();
        try (VhostUserDaemon daemon = VhostUserDaemon.bind(sock, device)) {
            Thread server = Thread.ofVirtual().name("net-bench-daemon").start(() -> {
                try {
                    daemon.serve();
                } catch (Exception e) {
                    LOG.log(Level.DEBUG, "serve loop ended: " + e);
                }
            });
            try (Testpmd front = frontend(sock, size, tag)) {
                List<Long> s = measure(front, wanted);
                front.stop();
                long tx = front.accumulatedTxPackets();
                // testpmd stops the transmit ring (GET_VRING_BASE) before it exits; frames it put in the ring after
                // our last pass are not ours to take, so our count may end below its TX-packets (by at most a ring).
                // Once the stop is recorded, our count is final.
                long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (device.lastVringBase(1).isEmpty() && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                return new Result(s, median(s.subList(1, s.size())), tx, device.stats().txFrames(), load);
            } finally {
                daemon.shutdown();
                server.join(Duration.ofSeconds(20));
            }
        }
    }

    private Result dpdk(int size, int run) throws IOException, InterruptedException {
        String name = placement + "-" + size + "-" + run;
        Path sock = work.resolve("dpdk-" + name + ".sock");
        String load = loadAverage();
        try (Testpmd back = Testpmd.start(backCpus, "net_vhost0,iface=" + sock + ",queues=1,client=0",
                logOf("dpdk-backend-" + name), "--forward-mode=rxonly")) {
            back.awaitPath(sock, START);
            try (Testpmd front = frontend(sock, size, "dpdk-" + name)) {
                List<Long> s = measure(front, samples);
                front.stop();
                back.stop();
                return new Result(s, median(s.subList(1, s.size())), front.accumulatedTxPackets(),
                        back.accumulatedRxPackets(), load);
            }
        }
    }

    private Testpmd frontend(Path sock, int size, String name) throws IOException {
        return Testpmd.start(frontCpus, "net_virtio_user0,path=" + sock + ",queues=1,server=0", logOf("frontend-" + name),
                "--forward-mode=txonly", "--txpkts=" + size, "--burst=32", "--stats-period=1");
    }

    private Path logOf(String name) throws IOException {
        Path dir = out.toAbsolutePath().getParent().resolve("net-" + regime);
        Files.createDirectories(dir);
        return dir.resolve(name + ".log");
    }

    /** Waits for 1 + {@code wanted} per-second samples (the first is start-up), bounded. */
    private static List<Long> measure(Testpmd front, int wanted) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + START.toNanos() + Duration.ofSeconds(2L * wanted).toNanos();
        while (true) {
            List<Long> s = front.txPpsSamples();
            // the first line is printed before the port is up; the second covers the start
            if (s.size() >= wanted + 2) {
                return s.subList(1, wanted + 2);
            }
            if (!front.isAlive()) {
                throw new IOException("testpmd front-end exited early:\n" + front.output());
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("testpmd front-end printed " + s.size() + " samples, not " + (wanted + 2)
                        + ", in time:\n" + front.output());
            }
            Thread.sleep(50);
        }
    }

    private void record(int size, int run, String target, Result r) throws IOException {
        String line = String.format(Locale.ROOT, "{\"suite\":\"net\",\"bench\":\"txonly\",\"placement\":\"%s\","
                        + "\"target\":\"%s\","
                        + "\"frame\":\"%d\",\"run\":\"%d\",\"ops_per_s\":%.0f,\"samples\":\"%s\","
                        + "\"frontend_tx\":%d,\"backend_frames\":%d,\"busy_poll_us\":%d,\"load\":\"%s\"}%n",
                placement, target, size, run, r.rate(), r.samples().toString().replace(" ", ""), r.frontendTx(),
                r.backendFrames(), target.endsWith("-poll") ? busyPollMicros : 0, r.load());
        Files.writeString(out, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        LOG.log(Level.INFO, String.format(Locale.ROOT, "net %s/%s %d B run %d %s: %.2f Mpps (samples %s, load %s)",
                regime, placement, size, run, target, r.rate() / 1e6, r.samples(), r.load()));
    }

    private static double median(List<Long> values) {
        List<Long> v = new ArrayList<>(values);
        v.sort(null);
        int n = v.size();
        return n == 0 ? Double.NaN : n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2.0;
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "?";
        }
    }
}
