package io.vhost.impl.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.testing.NoFdLeaks;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Without {@code --enable-native-access}, the first use fails and names the option to add. */
@NoFdLeaks
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NativeAccessTest {

    /** Child-JVM entry point: makes one eventfd and prints its number. */
    public static final class Probe {
        private Probe() {
        }

        /**
         * Creates one eventfd.
         *
         * @param args unused
         * @throws Exception if it fails
         */
        public static void main(String[] args) throws Exception {
            try (OwnedFd fd = EventFds.create(0, "probe")) {
                System.out.println("fd " + fd.number());
            }
        }
    }

    private static Process run(List<String> flags) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new java.util.ArrayList<>(List.of(java));
        command.addAll(flags);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), Probe.class.getName()));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectInput(new File("/dev/null")).start();
    }

    @Test
    void missingNativeAccessNamesTheOption() throws Exception {
        Process p = run(List.of());
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertNotEquals(0, p.exitValue(), out);
        assertTrue(out.contains("--enable-native-access=io.vhost.impl"), out);
        assertTrue(out.contains("--enable-native-access=ALL-UNNAMED"), out);
    }

    @Test
    void withNativeAccessItWorks() throws Exception {
        Process p = run(List.of("--enable-native-access=ALL-UNNAMED"));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.startsWith("fd "), out);
    }
}
