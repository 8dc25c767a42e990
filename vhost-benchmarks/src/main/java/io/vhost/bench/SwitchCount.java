package io.vhost.bench;

import io.vhost.api.Fd;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.api.frontend.SharedRegion;
import io.vhost.impl.frontend.FrontendOptions;
import io.vhost.impl.frontend.VmmMemory;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.transport.TransportKind;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Explains a round trip's cost: runs one control-plane operation between our front-end and back-end (caller on a
 * virtual or platform thread) and prints the context switches (voluntary and involuntary, summed over all threads of
 * this process, from {@code /proc/self/task/N/status}), the user and system CPU time per operation, and the latency
 * percentiles of a second, separately timed pass. A C request/reply between two threads costs two switches (each side
 * blocks once). Meant to run under {@code taskset -c 0}, {@code perf record} or {@code strace -f -c}.
 *
 * <p>Usage: {@code SwitchCount [ffm|junixsocket] [virtual|platform] [OPERATIONS] [OPERATION]} where OPERATION is
 * {@code getFeatures} (default), {@code getFeaturesBare} (a bare caller on a raw connection, no front-end engine), {@code setVringNumAck}, {@code setVringKickAck}, {@code setMemTableAck} (8 regions),
 * their {@code ...NoReplay} forms (a front-end without the set-up record) or {@code setVringNumOneway}; prints one JSON
 * line. With {@code -Dswitchcount.threads=true} it also prints, on standard error, the switches per operation of each
 * thread that switched at least once per hundred operations (name from {@code /proc/self/task/N/comm}).
 */
public final class SwitchCount {

    private SwitchCount() {
    }

    /** One operation on a prepared front-end. */
    @FunctionalInterface
    private interface Op {
        void run() throws Exception;
    }

    /**
     * Entry point.
     *
     * @param args transport, caller kind, operations, operation name
     * @throws Exception if the session fails
     */
    public static void main(String[] args) throws Exception {
        TransportKind kind = TransportKind.valueOf((args.length > 0 ? args[0] : "ffm").toUpperCase(Locale.ROOT));
        boolean virtual = !(args.length > 1 && args[1].equals("platform"));
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 50_000;
        String name = args.length > 3 ? args[3] : "getFeatures";
        boolean lean = name.endsWith("NoReplay");
        boolean acked = !name.equals("getFeatures") && !name.equals("setVringNumOneway");
        FrontendOptions options = FrontendOptions.defaults().withReplaySetup(!lean);
        long region = 64 * 1024;
        boolean bare = name.equals("getFeaturesBare");
        try (Loopback pair = Loopback.start(kind, ctx -> new NullBackend(), options);
                Loopback.Raw raw = bare ? Loopback.startRaw(kind, ctx -> new NullBackend()) : null;
                Fd kick = EventFds.create(EventFds.EFD_CLOEXEC, "switch-count kick eventfd");
                VmmMemory memory = VmmMemory.create(0, region, region, region, region, region, region, region,
                        region)) {
            VhostUserFrontend fe = pair.negotiate(acked);
            List<SharedRegion> regions = memory.regions();
            Op op = switch (name.replace("NoReplay", "")) {
                case "getFeatures" -> fe::getFeatures;
                case "getFeaturesBare" -> bareGetFeatures(raw);
                case "setVringNumAck" -> () -> fe.setVringNum(0, 256);
                case "setVringKickAck" -> () -> fe.setVringKick(0, Optional.of(kick));
                case "setMemTableAck" -> () -> fe.setMemTable(regions);
                case "setVringNumOneway" -> () -> {
                    for (int i = 0; i < ControlPlaneBench.ONEWAY_BATCH; i++) {
                        fe.setVringNum(0, 256);
                    }
                    fe.getFeatures();
                };
                default -> throw new IllegalArgumentException("unknown operation " + name);
            };
            int perOp = name.equals("setVringNumOneway") ? ControlPlaneBench.ONEWAY_BATCH : 1;
            int calls = Math.max(1, n / perOp);
            AtomicReference<String> result = new AtomicReference<>();
            Runnable body = () -> {
                try {
                    for (int i = 0; i < calls; i++) { // warm-up
                        op.run();
                    }
                    Map<String, long[]> t0s = perThread();
                    long[] s0 = switches(t0s);
                    long[] c0 = cpuNanos();
                    long b0 = allocatedBytes();
                    long t0 = System.nanoTime();
                    for (int i = 0; i < calls; i++) {
                        op.run();
                    }
                    long t1 = System.nanoTime();
                    long b1 = allocatedBytes();
                    long[] c1 = cpuNanos();
                    Map<String, long[]> t1s = perThread();
                    long[] s1 = switches(t1s);
                    long[] lat = new long[calls];
                    for (int i = 0; i < calls; i++) {
                        long a = System.nanoTime();
                        op.run();
                        lat[i] = System.nanoTime() - a;
                    }
                    Arrays.sort(lat);
                    if (Boolean.getBoolean("switchcount.deciles")) {
                        printDeciles(lat);
                    }
                    double ops = (double) calls * perOp;
                    if (Boolean.getBoolean("switchcount.threads")) {
                        t1s.forEach((tid, after) -> {
                            long[] before = t0s.getOrDefault(tid, new long[] {0, 0});
                            double vol = (after[0] - before[0]) / ops;
                            double invol = (after[1] - before[1]) / ops;
                            if (vol + invol >= 0.01) {
                                System.err.printf(Locale.ROOT, "thread %s: voluntary %.3f, involuntary %.3f per op%n",
                                        tid, vol, invol);
                            }
                        });
                    }
                    result.set(String.format(Locale.ROOT, "{\"bench\":\"switchCount\",\"op\":\"%s\","
                                    + "\"transport\":\"%s\",\"caller\":\"%s\",\"ops\":%d,\"us_per_op\":%.2f,"
                                    + "\"voluntary_switches_per_op\":%.2f,\"involuntary_switches_per_op\":%.2f,"
                                    + "\"user_cpu_us_per_op\":%.2f,\"system_cpu_us_per_op\":%.2f,\"threads\":%d,"
                                    + "\"heap_bytes_per_op\":%.0f,\"call_p50_us\":%.2f,\"call_p99_us\":%.2f,\"call_p999_us\":%.2f}", name, kind,
                            virtual ? "virtual" : "platform", (long) ops, (t1 - t0) / 1e3 / ops,
                            (s1[0] - s0[0]) / ops, (s1[1] - s0[1]) / ops,
                            (c1[0] - c0[0]) / 1e3 / ops, (c1[1] - c0[1]) / 1e3 / ops, (int) s1[2], (b1 - b0) / ops,
                            lat[calls / 2] / 1e3, lat[(int) (calls * 0.99)] / 1e3, lat[(int) (calls * 0.999)] / 1e3));
                } catch (Exception e) {
                    result.set("{\"error\":\"" + e + "\"}");
                }
            };
            Thread t = virtual ? Thread.ofVirtual().start(body) : Thread.ofPlatform().start(body);
            t.join();
            System.out.println(result.get());
        }
    }

    /**
     * Prints the shape of the timed calls' latencies (sorted): deciles, p95, the mean, and how much of the mean's
     * excess over the median comes from calls above p90 and above p99 (for {@code -Dswitchcount.deciles=true}).
     */
    private static void printDeciles(long[] sorted) {
        int n = sorted.length;
        double mean = Arrays.stream(sorted).average().orElse(0);
        long median = sorted[n / 2];
        StringBuilder sb = new StringBuilder("latency us:");
        for (int d = 1; d <= 9; d++) {
            sb.append(String.format(Locale.ROOT, " p%d0 %.2f", d, sorted[n * d / 10] / 1e3));
        }
        sb.append(String.format(Locale.ROOT, " p95 %.2f mean %.3f", sorted[(int) (n * 0.95)] / 1e3, mean / 1e3));
        double above90 = 0;
        double above99 = 0;
        for (int i = n * 9 / 10; i < n; i++) {
            above90 += sorted[i] - median;
            if (i >= (int) (n * 0.99)) {
                above99 += sorted[i] - median;
            }
        }
        sb.append(String.format(Locale.ROOT, "; mean - median %.3f, of it from calls above p90 %.3f, above p99 %.3f",
                (mean - median) / 1e3, above90 / n / 1e3, above99 / n / 1e3));
        System.err.println(sb);
    }

    /**
     * GET_FEATURES from a bare caller, as {@link ControlPlaneBench#getFeaturesBareCaller()}: 12 header bytes on a raw
     * connection of our transport, the 20-byte reply read back with one receive; no front-end engine.
     */
    private static Op bareGetFeatures(Loopback.Raw raw) {
        java.nio.ByteBuffer request = java.nio.ByteBuffer.allocateDirect(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        java.nio.ByteBuffer reply = java.nio.ByteBuffer.allocateDirect(20).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        request.putInt(0, 1).putInt(4, 1).putInt(8, 0); // GET_FEATURES, version 1, no payload
        return () -> {
            raw.connection().send(request.clear(), List.of());
            List<Fd> fds = raw.connection().receiveAtLeast(reply.clear(), 20);
            if (!fds.isEmpty() || reply.position() != 20 || reply.getInt(0) != 1 || reply.getInt(8) != 8) {
                fds.forEach(Fd::close);
                throw new IllegalStateException("unexpected GET_FEATURES reply");
            }
        };
    }

    /** Heap bytes allocated so far by all platform threads (virtual threads allocate in their carriers' buffers). */
    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getTotalThreadAllocatedBytes();
    }

    /**
     * Voluntary and involuntary context switches summed over the threads of a {@link #perThread()} snapshot, and the
     * thread count.
     */
    private static long[] switches(Map<String, long[]> threads) {
        long vol = 0;
        long invol = 0;
        for (long[] counts : threads.values()) {
            vol += counts[0];
            invol += counts[1];
        }
        return new long[] {vol, invol, threads.size()};
    }

    /** Voluntary and involuntary switches of each thread, keyed by "tid name". */
    private static Map<String, long[]> perThread() throws IOException {
        Map<String, long[]> all = new TreeMap<>();
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                try {
                    long[] counts = new long[2];
                    for (String line : Files.readAllLines(task.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            counts[0] = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                            counts[1] = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                    all.put(task.getFileName() + " " + Files.readString(task.resolve("comm")).trim(), counts);
                } catch (IOException e) {
                    // the thread ended meanwhile
                }
            }
        }
        return all;
    }

    /** User and system CPU time of the whole process, from {@code /proc/self/stat}, in nanoseconds. */
    private static long[] cpuNanos() throws IOException {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // utime and stime are fields 14 and 15 of stat(5), in USER_HZ (100) ticks
        return new long[] {Long.parseLong(f[11]) * 10_000_000L, Long.parseLong(f[12]) * 10_000_000L};
    }
}
