package io.vhost.devices.net;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The packaged {@code vhost-device-net.jar} as a process: it listens, and SIGTERM ends it with status 0. */
@Timeout(120)
class NetMainIT {

    @Test
    void theJarServesAndExitsWithStatusZeroOnSigterm(@TempDir Path dir) throws Exception {
        String jar = System.getProperty("vhost.net.jar");
        assertTrue(jar != null && Files.exists(Path.of(jar)), "vhost.net.jar " + jar + " is built by the package phase");
        String java = ProcessHandle.current().info().command().orElse("java");
        Path sock = dir.resolve("net.sock");
        Path log = dir.resolve("device.log");
        Process device = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-jar", jar,
                "--socket-path=" + sock, "--mode=loopback")).redirectErrorStream(true).redirectOutput(log.toFile())
                .start();
        try {
            await("the device listens on " + sock).atMost(Duration.ofSeconds(60)).until(() -> {
                assertTrue(device.isAlive(), () -> "device exited: " + read(log));
                return Files.exists(sock);
            });
            new ProcessBuilder("kill", "-TERM", Long.toString(device.pid())).start().waitFor(10, TimeUnit.SECONDS);
            assertTrue(device.waitFor(30, TimeUnit.SECONDS), "no exit within 30 s of SIGTERM");
            String out = read(log);
            assertEquals(0, device.exitValue(), out);
            assertTrue(out.contains("counters at exit"), out);
            assertFalse(Files.exists(sock), "the socket path is left behind after SIGTERM");
        } finally {
            device.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static String read(Path log) {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            return "(log unreadable: " + e.getMessage() + ")";
        }
    }
}
