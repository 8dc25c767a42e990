package io.vhost.devices.guest;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Linux guest (Debian kernel, busybox initramfs, QEMU under TCG) uses vhost-user-blk-pci on our device, and
 * the same guest on qemu-storage-daemon gives the same answers (a check of the test itself). Each run: the guest's
 * md5 of sector 0 equals the host's; a pattern it writes with O_DIRECT at 1 MiB is then found in the image file;
 * a 64 MiB O_DIRECT read completes.
 */
class GuestBlkIT {

    private static final long IMAGE_BYTES = 128L << 20;
    private static final long PATTERN_OFFSET = 1L << 20;
    private static final Duration QEMU_TIMEOUT = Duration.ofSeconds(150);
    /** The crash test kills the device once it has read this much of the guest's 120 MiB read. */
    private static final long READ_BEFORE_KILL = 16L << 20;

    private static GuestVm guest;
    private static Path work;

    @BeforeAll
    static void buildGuest() throws Exception {
        assumeTrue(onPath("qemu-system-x86_64"), "qemu-system-x86_64 is not installed (package qemu-system-x86)");
        assumeTrue(GuestVm.kernelVersion() != null, "no installed kernel (package linux-image-amd64)");
        assumeTrue(onPath("busybox") && onPath("cpio"), "busybox-static and cpio are needed");
        work = Path.of(System.getProperty("vhost.guest.dir", "target/guest"));
        guest = GuestVm.build(Path.of(System.getProperty("vhost.guest.script", "src/test/guest/build-initramfs.sh")),
                work);
    }

    private static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    /** A 128 MiB image whose first MiB is random (seeded), so sector 0's md5 means something. */
    private static Path image(Path dir) throws IOException {
        Path img = dir.resolve("disk.img");
        byte[] head = new byte[1 << 20];
        new Random(0x5eed).nextBytes(head);
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
            f.write(head);
        }
        return img;
    }

    private static String md5(Path file, int bytes) throws Exception {
        byte[] b = new byte[bytes];
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            f.readFully(b);
        }
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(b));
    }

    private static String readAt(Path file, long offset, int length) throws IOException {
        byte[] b = new byte[length];
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            f.seek(offset);
            f.readFully(b);
        }
        return new String(b, StandardCharsets.US_ASCII);
    }

    private static void assertGuestUsedTheImage(GuestVm.Result r, Path img, String pattern, String backend)
            throws Exception {
        assertEquals(String.valueOf(IMAGE_BYTES / 512), r.get("size_sectors"), backend + ": capacity");
        assertEquals(md5(img, 512), r.get("md5_sector0"), backend + ": md5 of sector 0 seen by the guest");
        assertEquals("ok", r.get("write"), backend + ": O_DIRECT write");
        assertEquals(pattern, r.get("readback"), backend + ": O_DIRECT read back");
        assertEquals(pattern, readAt(img, PATTERN_OFFSET, pattern.length()), backend + ": pattern in the image");
        assertEquals("64", r.get("read_mib"), backend + ": 64 MiB O_DIRECT read");
        assertTrue(r.values().containsKey("read_ms"), backend + ": the 64 MiB read failed: " + r.values());
        System.out.printf("%s: guest boot %s ms, 64 MiB O_DIRECT read %s ms (guest time), done at %s ms, wall %d ms%n",
                backend, r.get("boot_ms"), r.get("read_ms"), r.get("done_ms"), r.wall().toMillis());
    }

    private static Process startLogged(List<String> cmd, Path log) throws IOException {
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
    }

    private static List<String> deviceCommand(String... args) {
        return deviceCommand(List.of(), args);
    }

    private static List<String> deviceCommand(List<String> jvmOptions, String... args) {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(jvmOptions);
        String jar = System.getProperty("vhost.blk.jar");
        if (jar != null && Files.exists(Path.of(jar))) {
            cmd.addAll(List.of("-jar", jar));
        } else {
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.vhost.devices.blk.BlkMain"));
        }
        cmd.addAll(List.of(args));
        return cmd;
    }

    @Test
    void aLinuxGuestBootsWithOurVhostUserBlkDevice(@TempDir Path dir) throws Exception {
        Path img = image(dir);
        Path sock = dir.resolve("blk.sock");
        Path log = dir.resolve("device.log");
        String pattern = "vhost-java-blk-" + Long.toHexString(System.nanoTime());
        Process device = startLogged(deviceCommand("--socket-path=" + sock, "--blk-file=" + img), log);
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(sock) || !device.isAlive());
            assertTrue(device.isAlive(), () -> "the device exited: " + readQuietly(log));
            GuestVm.Result r = guest.run(sock, 1, pattern, dir.resolve("qemu.log"), QEMU_TIMEOUT);
            assertGuestUsedTheImage(r, img, pattern, "vhost-device-blk (ours)");
            assertEquals('0', r.get("features").charAt(34), "packed ring without packed=on: " + r.get("features"));
            assertTrue(device.isAlive(), () -> "the device died with the guest: " + readQuietly(log));
            // A second VM on the same socket: the serve loop accepts it and the image is still usable.
            String second = pattern + "-2nd";
            GuestVm.Result r2 = guest.run(sock, 1, second, dir.resolve("qemu2.log"), QEMU_TIMEOUT);
            assertGuestUsedTheImage(r2, img, second, "vhost-device-blk (ours), second VM");
            // SIGTERM: a clean, prompt exit that removes the socket.
            device.destroy();
            assertTrue(device.waitFor(20, TimeUnit.SECONDS), () -> "no exit on SIGTERM: " + readQuietly(log));
            assertEquals(0, device.exitValue(), () -> "exit status after SIGTERM: " + readQuietly(log));
            assertFalse(Files.exists(sock), "the socket path is left behind after SIGTERM");
        } finally {
            device.destroyForcibly();
            device.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aReadOnlyMultiQueueDeviceServesReadsAndRefusesWrites(@TempDir Path dir) throws Exception {
        Path img = image(dir);
        String before = md5(img, 2 << 20);
        Path sock = dir.resolve("blk-ro.sock");
        Path log = dir.resolve("device.log");
        Process device = startLogged(deviceCommand("--socket-path=" + sock, "--blk-file=" + img, "--read-only",
                "--num-queues=2", "--serial=vht-ro"), log);
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(sock) || !device.isAlive());
            assertTrue(device.isAlive(), () -> "the device exited: " + readQuietly(log));
            GuestVm.Result r = guest.run(sock, 2, 2, "must-not-land", dir.resolve("qemu.log"), QEMU_TIMEOUT);
            assertEquals("1", r.get("read_only"), "the guest did not see VIRTIO_BLK_F_RO");
            assertEquals("2", r.get("num_queues"), "the guest did not use both queues");
            assertEquals(md5(img, 512), r.get("md5_sector0"));
            assertEquals("failed", r.get("write"), "a write to a read-only disk succeeded");
            assertEquals("", r.values().get("readback"));
            assertEquals("64", r.get("read_mib"));
            assertTrue(r.values().containsKey("read_ms"), () -> "the 64 MiB read failed: " + r.values());
            assertEquals(before, md5(img, 2 << 20), "the read-only image changed");
            System.out.printf("vhost-device-blk read-only, 2 queues, 2 vCPUs: 64 MiB O_DIRECT read %s ms (guest time),"
                    + " wall %d ms%n", r.get("read_ms"), r.wall().toMillis());
        } finally {
            device.destroyForcibly();
            device.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aGuestUsesPackedVirtqueuesOnOurDevice(@TempDir Path dir) throws Exception {
        Path img = image(dir);
        Path sock = dir.resolve("blk-packed.sock");
        Path log = dir.resolve("device.log");
        String pattern = "vhost-java-packed-" + Long.toHexString(System.nanoTime());
        Process device = startLogged(deviceCommand("--socket-path=" + sock, "--blk-file=" + img), log);
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(sock) || !device.isAlive());
            assertTrue(device.isAlive(), () -> "the device exited: " + readQuietly(log));
            GuestVm.Result r = guest.start(sock, 1, 1, pattern, 64, false, ",packed=on", dir.resolve("qemu.log"))
                    .finish(QEMU_TIMEOUT);
            assertGuestUsedTheImage(r, img, pattern, "vhost-device-blk (ours), packed virtqueue");
            assertEquals('1', r.get("features").charAt(34), "VIRTIO_F_RING_PACKED (bit 34) was not negotiated: "
                    + r.get("features"));
        } finally {
            device.destroyForcibly();
            device.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void theGuestSurvivesADeviceCrashThroughQemuReconnectAndTheInflightBuffer(@TempDir Path dir) throws Exception {
        crashAndRestartUnderTheGuest(dir, "");
    }

    /**
     * The same crash with packed virtqueues: QEMU 7.2 restores no packed ring indices after a failed GET_VRING_BASE
     * and sends its initial state (avail 0, used 0, wrap counters 1) as SET_VRING_BASE, so the new process must take
     * both ring positions and the inflight chains from the packed inflight region (QueueRegionPacked).
     */
    @Test
    void theGuestSurvivesADeviceCrashWithPackedVirtqueues(@TempDir Path dir) throws Exception {
        GuestVm.Result r = crashAndRestartUnderTheGuest(dir, ",packed=on");
        assertEquals('1', r.get("features").charAt(34), "VIRTIO_F_RING_PACKED (bit 34) was not negotiated: "
                + r.get("features"));
    }

    private GuestVm.Result crashAndRestartUnderTheGuest(Path dir, String deviceProperties) throws Exception {
        Path img = image(dir);
        Path sock = dir.resolve("blk-crash.sock");
        String pattern = "vhost-java-crash-" + Long.toHexString(System.nanoTime());
        List<String> debug = debugLogging(dir);
        Process first = startLogged(deviceCommand(debug, "--socket-path=" + sock, "--blk-file=" + img),
                dir.resolve("device1.log"));
        Process second = null;
        GuestVm.Running vm = null;
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(sock) || !first.isAlive());
            assertTrue(first.isAlive(), () -> "the device exited: " + readQuietly(dir.resolve("device1.log")));
            vm = guest.start(sock, 1, 1, pattern, 120, true, deviceProperties, dir.resolve("qemu.log"));
            GuestVm.Running running = vm;
            // Kill the device while the guest does its I/O; a new process takes over the socket; QEMU reconnects,
            // hands back the inflight buffer, and the guest's I/O completes. The kill lands inside the 120 MiB read
            // (16 MiB of it served), so a request is usually inflight: QEMU 7.2 then fails GET_VRING_BASE on the dead
            // socket ("vhost VQ 0 ring restore failed"), sends the new process SET_VRING_BASE = the used index, and
            // the device must resubmit each inflight head once (a head completed twice gave the guest "id 0 is not a
            // head!" and "I/O error, dev vda": read=failed). Killing at "write=" mostly hit an idle queue.
            await().atMost(Duration.ofSeconds(120)).until(() -> running.console().contains("VHT: readback="));
            long before = bytesRead(first);
            await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(20))
                    .until(() -> !first.isAlive() || bytesRead(first) - before > READ_BEFORE_KILL);
            first.destroyForcibly();
            assertTrue(first.waitFor(10, TimeUnit.SECONDS));
            second = startLogged(deviceCommand(debug, "--socket-path=" + sock, "--blk-file=" + img),
                    dir.resolve("device2.log"));
            GuestVm.Result r = vm.finish(QEMU_TIMEOUT);
            assertEquals(md5(img, 512), r.get("md5_sector0"));
            assertEquals(pattern, r.get("readback"), "O_DIRECT read back across the device restart");
            assertEquals(pattern, readAt(img, PATTERN_OFFSET, pattern.length()));
            assertEquals("120", r.get("read_mib"));
            assertTrue(r.values().containsKey("read_ms"), () -> "the read failed across the restart: " + r.values());
            assertTrue(r.values().containsKey("done_ms"), () -> "the guest did not finish: " + r.values());
            String device2 = readQuietly(dir.resolve("device2.log"));
            String resubmitted = device2.lines().filter(l -> l.contains("inflight descriptors to resubmit"))
                    .findFirst().orElse("none resubmitted");
            String resumed = device2.lines().filter(l -> l.contains("resumes at") || l.contains("next avail"))
                    .findFirst().orElse("resumed at the front-end's base");
            System.out.printf("device killed and restarted under the guest%s: 120 MiB O_DIRECT read %s ms (guest time),"
                    + " wall %d ms; %s; %s%n", deviceProperties, r.get("read_ms"), r.wall().toMillis(), resubmitted,
                    resumed);
            return r;
        } catch (Throwable t) {
            keepLogs(dir, "device1.log", "device2.log", "qemu.log");
            throw t;
        } finally {
            if (vm != null) {
                vm.kill();
            }
            first.destroyForcibly();
            first.waitFor(10, TimeUnit.SECONDS);
            if (second != null) {
                second.destroyForcibly();
                second.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void theSameGuestOnQemuStorageDaemonGivesTheSameAnswers(@TempDir Path dir) throws Exception {
        assumeTrue(onPath("qemu-storage-daemon"), "qemu-storage-daemon is not installed (package qemu-system-x86)");
        Path img = image(dir);
        Path sock = dir.resolve("qsd.sock");
        Path log = dir.resolve("qsd.log");
        String pattern = "vhost-java-qsd-" + Long.toHexString(System.nanoTime());
        Process qsd = startLogged(List.of("qemu-storage-daemon",
                "--blockdev", "driver=file,node-name=file0,filename=" + img + ",cache.direct=off",
                "--export", "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=" + sock
                        + ",writable=on,num-queues=1"), log);
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(sock) || !qsd.isAlive());
            assertTrue(qsd.isAlive(), () -> "qemu-storage-daemon exited: " + readQuietly(log));
            GuestVm.Result r = guest.run(sock, 1, pattern, dir.resolve("qemu.log"), QEMU_TIMEOUT);
            assertGuestUsedTheImage(r, img, pattern, "qemu-storage-daemon");
        } finally {
            qsd.destroyForcibly();
            qsd.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** Bytes a process has read so far ({@code rchar} of /proc/PID/io: the image reads dominate). */
    private static long bytesRead(Process p) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(p.pid()), "io"))) {
            if (line.startsWith("rchar:")) {
                return Long.parseLong(line.substring(6).trim());
            }
        }
        throw new IOException("no rchar in /proc/" + p.pid() + "/io");
    }

    /** JUL configuration: the daemon's DEBUG lines (ring set-up, inflight recovery) go to the device's log. */
    private static List<String> debugLogging(Path dir) throws IOException {
        Path props = dir.resolve("logging.properties");
        Files.writeString(props, """
                handlers=java.util.logging.ConsoleHandler
                java.util.logging.ConsoleHandler.level=FINE
                java.util.logging.SimpleFormatter.format=%1$tT.%1$tL %4$s %3$s: %5$s%6$s%n
                io.vhost.level=FINE
                """);
        return List.of("-Djava.util.logging.config.file=" + props);
    }

    /** Copies a failed run's logs to target/failed-runs/ and prints where; the @TempDir goes away. */
    private static void keepLogs(Path dir, String... names) {
        Path keep = Path.of("target", "failed-runs", Long.toHexString(System.nanoTime()));
        try {
            Files.createDirectories(keep);
            for (String name : names) {
                if (Files.exists(dir.resolve(name))) {
                    Files.copy(dir.resolve(name), keep.resolve(name));
                }
            }
            System.out.println("logs of the failed run kept in " + keep.toAbsolutePath());
        } catch (IOException e) {
            System.out.println("could not keep the logs of " + dir + ": " + e);
        }
    }

    private static String readQuietly(Path log) {
        try {
            return Files.readString(log, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }
}
