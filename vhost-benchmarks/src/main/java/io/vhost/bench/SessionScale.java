package io.vhost.bench;

import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.backend.BackendOptions;
import io.vhost.impl.backend.BackendServer;
import io.vhost.impl.backend.BackendSession;
import io.vhost.impl.daemon.DeviceBackend;
import io.vhost.impl.frontend.DriverQueue;
import io.vhost.impl.frontend.FrontendOptions;
import io.vhost.impl.frontend.VhostUserFrontends;
import io.vhost.impl.frontend.VmmMemory;
import io.vhost.impl.transport.TransportKind;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Session scale: N idle sessions between our front-end and our back-end in one JVM. Each session is set up as a VMM
 * would set up a one-queue device: SET_OWNER, feature and protocol-feature negotiation with REPLY_ACK, SET_MEM_TABLE
 * (one 64 KiB memfd region), and a 64-entry queue (NUM, BASE, ADDR, CALL, KICK, ENABLE) served by the daemon
 * framework's queue worker for an {@link EchoDevice}; then it stays idle. Measures the platform threads, heap
 * (after GC), RSS and fds added per session and the time to set them all up (sequentially) and to close them.
 * <p>Usage: {@code SessionScale SESSIONS [ffm|junixsocket]}; prints one JSON line. Bounded: gives up after 120 s.
 */
public final class SessionScale {

    private static final int MAX_SESSIONS = 5000;

    private SessionScale() {
    }

    /**
     * Runs the measurement.
     *
     * @param args the session count and optionally the transport
     * @throws Exception if a session cannot be set up
     */
    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            throw new IllegalArgumentException("usage: SessionScale SESSIONS [ffm|junixsocket]");
        }
        int n = Integer.parseInt(args[0]);
        if (n < 1 || n > MAX_SESSIONS) {
            throw new IllegalArgumentException("SESSIONS " + n + " is outside 1.." + MAX_SESSIONS);
        }
        TransportKind kind = args.length > 1 ? TransportKind.valueOf(args[1].toUpperCase(Locale.ROOT))
                : TransportKind.FFM;
        Thread watchdog = Thread.ofPlatform().daemon().name("scale-watchdog").start(() -> {
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(120));
                System.getLogger(SessionScale.class.getName()).log(System.Logger.Level.ERROR,
                        "still running after 120 s, giving up");
                Runtime.getRuntime().halt(3);
            } catch (InterruptedException e) {
                // finished in time
            }
        });
        System.out.println(run(n, kind));
        watchdog.interrupt();
    }

    static String run(int n, TransportKind kind) throws Exception {
        System.setProperty(TransportKind.PROPERTY, kind.name());
        // One session set up and closed first, so that class loading, JIT, the shared poller and other one-time
        // costs land in the baseline, not in the per-session figures.
        String warm = System.getProperty("vhost.scale.warmup", "1");
        if (!warm.equals("0")) {
            measure(1, kind);
        }
        return measure(n, kind);
    }

    private static String measure(int n, TransportKind kind) throws Exception {
        Snapshot before = Snapshot.take();
        Path dir = Files.createTempDirectory("vhost-scale");
        Path socket = dir.resolve("scale.sock");
        List<BackendSession> accepted = new CopyOnWriteArrayList<>();
        List<AutoCloseable> owned = new ArrayList<>();
        long setupNanos;
        long closeNanos;
        long[] phases;
        Snapshot during;
        try (BackendServer server = BackendServer.bind(socket, ctx -> new DeviceBackend(new EchoDevice(), ctx),
                BackendOptions.defaults().withName("scale").withTransport(kind))) {
            Thread acceptor = Thread.ofPlatform().daemon().name("scale-acceptor").start(() -> {
                try {
                    for (int i = 0; i < n; i++) {
                        accepted.add(server.accept());
                    }
                } catch (IOException e) {
                    System.getLogger(SessionScale.class.getName()).log(System.Logger.Level.ERROR, "accept", e);
                }
            });
            long t0 = System.nanoTime();
            long[] phase = new long[4];
            for (int i = 0; i < n; i++) {
                long p0 = System.nanoTime();
                VhostUserFrontend fe = VhostUserFrontends.connect(socket, FrontendOptions.defaults()
                        .withConnectTimeout(Duration.ofSeconds(10)));
                owned.add(fe);
                long p1 = System.nanoTime();
                fe.setOwner();
                FeatureSet offered = fe.getFeatures();
                fe.setFeatures(offered.intersect(new FeatureSet(NullBackend.FEATURES)));
                fe.setProtocolFeatures(fe.getProtocolFeatures().intersect(FeatureSet.of(ProtocolFeature.REPLY_ACK)));
                long p2 = System.nanoTime();
                VmmMemory memory = VmmMemory.create(64 * 1024);
                owned.add(memory);
                fe.setMemTable(memory.regions());
                long p3 = System.nanoTime();
                DriverQueue queue = new DriverQueue(memory, 0, 64);
                owned.add(queue);
                queue.setUp(fe);
                long p4 = System.nanoTime();
                phase[0] += p1 - p0;
                phase[1] += p2 - p1;
                phase[2] += p3 - p2;
                phase[3] += p4 - p3;
            }
            System.getLogger(SessionScale.class.getName()).log(System.Logger.Level.DEBUG, () -> String.format(
                    Locale.ROOT, "per session: connect %.0f us, negotiate %.0f us, mem table %.0f us, queue %.0f us",
                    phase[0] / 1e3 / n, phase[1] / 1e3 / n, phase[2] / 1e3 / n, phase[3] / 1e3 / n));
            phases = phase;
            setupNanos = System.nanoTime() - t0;
            acceptor.join(TimeUnit.SECONDS.toMillis(30));
            if (accepted.size() != n) {
                throw new IllegalStateException("the back-end accepted " + accepted.size() + " of " + n + " sessions");
            }
            during = Snapshot.take();
            long t1 = System.nanoTime();
            for (int i = owned.size() - 1; i >= 0; i--) {
                owned.get(i).close();
            }
            for (BackendSession s : accepted) {
                s.close();
            }
            closeNanos = System.nanoTime() - t1;
        } finally {
            for (AutoCloseable c : owned) {
                c.close();
            }
            Loopback.deleteDir(dir);
        }
        Snapshot after = Snapshot.take();
        return String.format(Locale.ROOT, "{\"suite\":\"scale\",\"bench\":\"idleSessions\",\"transport\":\"%s\","
                        + "\"sessions\":%d,\"setup_ms\":%.1f,\"setup_us_per_session\":%.1f,\"close_ms\":%.1f,"
                        + "\"platform_threads_before\":%d,\"platform_threads\":%d,\"platform_threads_after_close\":%d,"
                        + "\"heap_bytes_per_session\":%.0f,\"rss_bytes_per_session\":%.0f,"
                        + "\"rss_anon_bytes_per_session\":%.0f,\"rss_shmem_bytes_per_session\":%.0f,"
                        + "\"rss_file_bytes_per_session\":%.0f,\"fds_per_session\":%.2f,"
                        + "\"heap_mib\":%.1f,\"rss_mib\":%.1f,\"connect_us\":%.0f,\"negotiate_us\":%.0f,"
                        + "\"mem_table_us\":%.0f,\"queue_setup_us\":%.0f}",
                kind, n, setupNanos / 1e6, setupNanos / 1e3 / n, closeNanos / 1e6,
                before.threads, during.threads, after.threads,
                (double) (during.heap - before.heap) / n, (double) (during.rss - before.rss) / n,
                (double) (during.rssAnon - before.rssAnon) / n, (double) (during.rssShmem - before.rssShmem) / n,
                (double) (during.rssFile - before.rssFile) / n, (double) (during.fds - before.fds) / n,
                during.heap / 1048576.0, during.rss / 1048576.0,
                phases[0] / 1e3 / n, phases[1] / 1e3 / n, phases[2] / 1e3 / n, phases[3] / 1e3 / n);
    }

    /** Platform threads, heap used after GC, resident set size and open fds of this process. */
    private record Snapshot(int threads, long heap, long rss, long rssAnon, long rssShmem, long rssFile, int fds) {

        static Snapshot take() throws IOException, InterruptedException {
            MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            for (int i = 0; i < 3; i++) {
                System.gc();
            }
            long heap = mem.getHeapMemoryUsage().getUsed();
            long rss = 0;
            long anon = 0;
            long shmem = 0;
            long file = 0;
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                long kib = line.startsWith("VmRSS:") || line.startsWith("Rss") ? kib(line) : 0;
                if (line.startsWith("VmRSS:")) {
                    rss = kib * 1024;
                } else if (line.startsWith("RssAnon:")) {
                    anon = kib * 1024;
                } else if (line.startsWith("RssShmem:")) {
                    shmem = kib * 1024;
                } else if (line.startsWith("RssFile:")) {
                    file = kib * 1024;
                }
            }
            int fds;
            try (var list = Files.list(Path.of("/proc/self/fd"))) {
                fds = (int) list.count();
            }
            return new Snapshot(threads.getThreadCount(), heap, rss, anon, shmem, file, fds);
        }

        private static long kib(String statusLine) {
            return Long.parseLong(statusLine.replaceAll("[^0-9]", ""));
        }
    }

}
