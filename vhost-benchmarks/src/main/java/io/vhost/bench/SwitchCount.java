package io.vhost.bench;

import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.transport.TransportKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Explains a round trip's cost: runs GET_FEATURES round trips between our front-end and back-end (caller on a
 * virtual or platform thread) and prints the context switches (voluntary and involuntary, summed over all threads of
 * this process, from {@code /proc/self/task/N/status}) and the user and system CPU time per round trip. A C request/reply between two
 * threads costs two voluntary switches (each side blocks once).
 * <p>Usage: {@code SwitchCount [ffm|junixsocket] [virtual|platform] [ROUND_TRIPS]}; prints one JSON line.
 */
public final class SwitchCount {

    private SwitchCount() {
    }

    /**
     * Entry point.
     *
     * @param args transport, caller kind, round trips
     * @throws Exception if the session fails
     */
    public static void main(String[] args) throws Exception {
        TransportKind kind = TransportKind.valueOf((args.length > 0 ? args[0] : "ffm").toUpperCase(Locale.ROOT));
        boolean virtual = !(args.length > 1 && args[1].equals("platform"));
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 50_000;
        try (Loopback pair = Loopback.start(kind, ctx -> new NullBackend())) {
            VhostUserFrontend fe = pair.negotiate(false);
            AtomicReference<String> result = new AtomicReference<>();
            Runnable body = () -> {
                try {
                    for (int i = 0; i < n; i++) { // warm-up
                        fe.getFeatures();
                    }
                    long[] s0 = switches();
                    long[] c0 = cpuNanos();
                    long t0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        fe.getFeatures();
                    }
                    long t1 = System.nanoTime();
                    long[] c1 = cpuNanos();
                    long[] s1 = switches();
                    result.set(String.format(Locale.ROOT, "{\"bench\":\"switchCount\",\"transport\":\"%s\","
                                    + "\"caller\":\"%s\",\"round_trips\":%d,\"us_per_rt\":%.2f,"
                                    + "\"voluntary_switches_per_rt\":%.2f,\"involuntary_switches_per_rt\":%.2f,"
                                    + "\"user_cpu_us_per_rt\":%.2f,\"system_cpu_us_per_rt\":%.2f,\"threads\":%d}", kind,
                            virtual ? "virtual" : "platform", n, (t1 - t0) / 1e3 / n,
                            (double) (s1[0] - s0[0]) / n, (double) (s1[1] - s0[1]) / n,
                            (c1[0] - c0[0]) / 1e3 / n, (c1[1] - c0[1]) / 1e3 / n, (int) s1[2]));
                } catch (Exception e) {
                    result.set("{\"error\":\"" + e + "\"}");
                }
            };
            Thread t = virtual ? Thread.ofVirtual().start(body) : Thread.ofPlatform().start(body);
            t.join();
            System.out.println(result.get());
        }
    }

    /** Voluntary and involuntary context switches summed over this process's threads, and the thread count. */
    private static long[] switches() throws IOException {
        long vol = 0;
        long invol = 0;
        long threads = 0;
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                try {
                    for (String line : Files.readAllLines(task.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            vol += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                            invol += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                    threads++;
                } catch (IOException e) {
                    // the thread ended meanwhile
                }
            }
        }
        return new long[] {vol, invol, threads};
    }

    /** User and system CPU time of the whole process, from {@code /proc/self/stat}, in nanoseconds. */
    private static long[] cpuNanos() throws IOException {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // utime and stime are fields 14 and 15 of stat(5), in USER_HZ (100) ticks
        return new long[] {Long.parseLong(f[11]) * 10_000_000L, Long.parseLong(f[12]) * 10_000_000L};
    }
}
