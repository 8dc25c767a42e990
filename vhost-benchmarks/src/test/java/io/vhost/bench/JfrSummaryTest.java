package io.vhost.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.bench.JfrSummary.Profile;
import io.vhost.bench.JfrSummary.Sample;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The JFR summary charges each sample to the nearest frame of ours and reads real recordings. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JfrSummaryTest {

    @TempDir
    Path dir;

    private static volatile Object sink;

    @Test
    void samplesAreChargedToTheNearestFrameOfOursAndCallsIntoCAreMarked() {
        List<String> inSendmsg = List.of("java.lang.invoke.LambdaForm$MH.0x00007f0001234000.invoke",
                "io.vhost.impl.sys.Sockets.sendmsg", "io.vhost.impl.transport.FfmConnection.send");
        List<String> inCodec = List.of("java.nio.DirectByteBuffer.getInt", "io.vhost.impl.codec.VhostUserCodec.decode",
                "io.vhost.impl.frontend.FrontendSession.call");
        List<String> inSysJava = List.of("io.vhost.impl.sys.MessageBuffers.prepare",
                "io.vhost.impl.sys.MessageBuffers.send");
        List<String> afterTheCall = List.of("jdk.internal.foreign.SharedSession.release0",
                "io.vhost.impl.sys.Sockets.recvmsg", "io.vhost.impl.sys.MessageBuffers.receive");
        List<String> notOurs = List.of("java.util.DualPivotQuicksort.sort", "java.util.Arrays.sort");
        assertEquals("Sockets.sendmsg (in C)", JfrSummary.nearestOurs(inSendmsg));
        assertEquals("VhostUserCodec.decode", JfrSummary.nearestOurs(inCodec));
        assertEquals("MessageBuffers.prepare", JfrSummary.nearestOurs(inSysJava), "our own Java code in sys is not C");
        assertEquals("DualPivotQuicksort.sort (not ours)", JfrSummary.nearestOurs(notOurs));
        assertEquals("Sockets.recvmsg", JfrSummary.nearestOurs(afterTheCall), "JDK Java code after the call is not C");
        assertEquals("ForkJoinPool-#-worker-#", JfrSummary.threadGroup("ForkJoinPool-1-worker-3", false));
        assertEquals("bench[ffm sock#1 (fd 14)]-reader", JfrSummary.threadGroup("bench[ffm sock#1 (fd 14)]-reader", true));
        assertEquals("(virtual, unnamed)", JfrSummary.threadGroup("", true));
        assertEquals("long[]", JfrSummary.typeName("[J"));
        assertEquals("java.lang.String[][]", JfrSummary.typeName("[[Ljava.lang.String;"));
        assertEquals("io.vhost.api.message.Reply$U64", JfrSummary.typeName("io.vhost.api.message.Reply$U64"));
        assertEquals("LambdaForm$MH.invoke", JfrSummary.shortName(inSendmsg.getFirst()));
        assertEquals("BackendSession$$Lambda.run",
                JfrSummary.shortName("io.vhost.impl.backend.BackendSession$$Lambda.0x000000005910c668.run"));

        List<Sample> samples = List.of(new Sample("caller", inSendmsg, 3e6), new Sample("reader", inCodec, 1e6),
                new Sample("caller", inSendmsg, 2e6), new Sample("caller", notOurs, 1e6));
        Map<String, Double> by = JfrSummary.aggregate(samples, s -> JfrSummary.nearestOurs(s.frames()));
        assertEquals(List.of("Sockets.sendmsg (in C)", "DualPivotQuicksort.sort (not ours)", "VhostUserCodec.decode"),
                new ArrayList<>(by.keySet()), "largest first, ties by name");
        assertEquals(5e6, by.get("Sockets.sendmsg (in C)"), "weights (sampling periods) are summed, not counted");
        Map<String, Double> inclusive = JfrSummary.inclusive(samples);
        assertFalse(inclusive.containsKey("FfmConnection.send"), "samples inside C calls are left out: " + inclusive);
        assertEquals(1e6, inclusive.get("FrontendSession.call"));
        assertFalse(inclusive.containsKey("Arrays.sort"), "only our frames in the inclusive table");

        String md = JfrSummary.markdown(new Profile("fork-1/profile.jfr", samples, 0, Map.of("byte[]", 3.0 * (1 << 20),
                "io.vhost.api.message.Reply$U64", 1.0 * (1 << 20)), 2, Duration.ofMillis(3)));
        assertTrue(md.contains("4 samples, 7.0 ms of CPU time (CPU-time sampler). By thread: caller 85.7 %, reader 14.3 %"),
                md);
        assertTrue(md.contains("| 71.4 % | Sockets.sendmsg (in C) |"), md);
        assertTrue(md.contains("| 14.3 % | FrontendSession.call |"), md);
        assertTrue(md.contains("| 71.4 % | in C: Sockets.sendmsg |"), md);
        assertTrue(md.contains("| 14.3 % | DirectByteBuffer.getInt |"), md);
        assertTrue(md.contains("Allocated (sampled weight): 4.0 MiB, most: byte[] 75 %, io.vhost.api.message.Reply$U64 25 %"),
                md);
        assertTrue(md.contains("Collections: 2, 3.0 ms of pauses."), md);
    }

    @Test
    void aRealRecordingShowsTheMethodThatSpentTheCpuAndWhatItAllocated() throws Exception {
        Path settings = JfrSummary.settings(dir);
        Path file = dir.resolve("spin.jfr");
        try (Recording r = new Recording(Configuration.create(settings))) {
            r.start();
            spinAndAllocate(TimeUnit.MILLISECONDS.toNanos(400));
            r.stop();
            r.dump(file);
        }
        Profile p = JfrSummary.read(file, "spin.jfr");
        assertFalse(p.cpu().isEmpty(), "the recording has stack samples");
        Map<String, Double> by = JfrSummary.aggregate(p.cpu(), s -> JfrSummary.nearestOurs(s.frames()));
        assertEquals("JfrSummaryTest.spinAndAllocate", by.keySet().iterator().next(), by.toString());
        assertTrue(p.allocation().containsKey("long[]"), p.allocation().toString());
        String md = JfrSummary.markdown(p);
        assertTrue(md.startsWith("### spin.jfr\n"), md);
        assertTrue(md.contains("JfrSummaryTest.spinAndAllocate |"), md);
    }

    /** Spins for {@code cpuNanos} of this thread's CPU time, allocating 64 KiB arrays as it goes. */
    private static void spinAndAllocate(long cpuNanos) {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long end = threads.getCurrentThreadCpuTime() + cpuNanos;
        long x = 0;
        while (threads.getCurrentThreadCpuTime() < end) {
            long[] a = new long[8192];
            for (int i = 0; i < 20_000; i++) {
                x = x * 31 + i;
            }
            a[(int) (x & 8191)] = x;
            sink = a;
        }
    }

    @Test
    void aDirectoryOfRecordingsIsSummarisedFileByFile() throws Exception {
        Path fork = Files.createDirectories(dir.resolve("pinned-control-virtual/fork"));
        try (Recording r = new Recording(Configuration.create(JfrSummary.settings(dir)))) {
            r.start();
            spinAndAllocate(TimeUnit.MILLISECONDS.toNanos(50));
            r.stop();
            r.dump(fork.resolve("profile.jfr"));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        try (PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            System.setOut(ps);
            JfrSummary.main(new String[] {dir.toString()});
        } finally {
            System.setOut(old);
        }
        String md = out.toString(StandardCharsets.UTF_8);
        assertTrue(md.startsWith("### pinned-control-virtual/fork/profile.jfr\n"), md);
    }
}
