package io.vhost.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Counts live threads by name prefix, virtual threads included ({@link Thread#getAllStackTraces()} does not list
 * virtual threads; the JDK's JSON thread dump does). For tests that check a session leaves no thread behind.
 */
public final class ThreadCensus {

    private ThreadCensus() {
    }

    /**
     * Counts live platform and virtual threads whose name starts with {@code prefix}.
     *
     * @param prefix the name prefix, e.g. {@code "cycle["}
     * @return the number of such threads
     */
    public static int count(String prefix) {
        try {
            Path dir = Files.createTempDirectory("threads");
            Path file = dir.resolve("dump.json");
            try {
                dumpThreadsAsJson(file);
                Matcher m = Pattern.compile("\"name\": \"" + Pattern.quote(prefix)).matcher(Files.readString(file));
                int n = 0;
                while (m.find()) {
                    n++;
                }
                return n;
            } finally {
                Files.deleteIfExists(file);
                Files.deleteIfExists(dir);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot take a thread dump", e);
        }
    }

    /**
     * Calls {@code HotSpotDiagnosticMXBean.dumpThreads(file, JSON)} reflectively: test classes are compiled into the
     * {@code io.vhost.impl} module, which does not read {@code jdk.management}; tests run on the class path.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void dumpThreadsAsJson(Path file) throws IOException {
        try {
            Class<?> bean = Class.forName("com.sun.management.HotSpotDiagnosticMXBean");
            Class<? extends Enum> format = (Class<? extends Enum>) Class.forName(
                    "com.sun.management.HotSpotDiagnosticMXBean$ThreadDumpFormat");
            Object mx = Class.forName("java.lang.management.ManagementFactory")
                    .getMethod("getPlatformMXBean", Class.class).invoke(null, bean);
            bean.getMethod("dumpThreads", String.class, format).invoke(mx, file.toString(),
                    Enum.valueOf(format, "JSON"));
        } catch (ReflectiveOperationException e) {
            throw new IOException("HotSpotDiagnosticMXBean.dumpThreads is not available: " + e, e);
        }
    }
}
