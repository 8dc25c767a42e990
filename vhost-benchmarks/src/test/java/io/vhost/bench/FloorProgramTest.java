package io.vhost.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The C floor that {@code bench.sh} builds with gcc: every mode runs, stops by itself and prints the JSON line that
 * {@link Report} reads. Runs are a few tens of milliseconds; no figure is judged.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FloorProgramTest {

    private static final Path SOURCE = Path.of("src/main/c/vhost_floor.c");
    private static final Pattern FIELD = Pattern.compile("\"(\\w+)\":(\"[^\"]*\"|[-0-9.]+)");

    @TempDir
    static Path dir;
    private static Path floor;

    @BeforeAll
    static void build() throws Exception {
        assumeTrue(Files.exists(SOURCE), "run from the vhost-benchmarks module");
        floor = dir.resolve("vhost_floor");
        Process gcc;
        try {
            gcc = new ProcessBuilder("gcc", "-O2", "-Wall", "-Werror", "-pthread", "-o", floor.toString(),
                    SOURCE.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "gcc is not installed: " + e.getMessage());
            return;
        }
        String out = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, gcc.waitFor(), "gcc failed:\n" + out);
    }

    @Test
    void roundTripsReportTheirFdsAndReceiveTimeout() throws Exception {
        String plain = runOne("rt");
        assertEquals("\"rt\"", field(plain, "bench"));
        assertEquals("0", field(plain, "fds"));
        assertEquals("0", field(plain, "rcvtimeo_us"));
        assertTrue(Double.parseDouble(field(plain, "median_us")) > 0, plain);

        assertEquals("1", field(runOne("rt", "--fd"), "fds"));

        String timed = runOne("rt", "--rcvtimeo-us", "4000");
        assertEquals("4000", field(timed, "rcvtimeo_us"));
        assertTrue(Long.parseLong(field(timed, "ops")) > 0, timed);
    }

    @Test
    void oneWayAndEventfdModesRun() throws Exception {
        assertTrue(Double.parseDouble(field(runOne("oneway"), "ops_per_s")) > 0);
        assertTrue(Long.parseLong(field(runOne("efd"), "ops")) > 0);
    }

    @Test
    void badArgumentsAreRefusedWithStatus2() throws Exception {
        assertEquals(2, run("rt", "--rcvtimeo-us", "-1").status());
        assertEquals(2, run("rt", "--bogus").status());
        assertEquals(2, run("nomode").status());
    }

    private static String runOne(String... args) throws Exception {
        Result r = run(args);
        assertEquals(0, r.status(), r.output());
        String[] lines = r.output().strip().split("\n");
        assertEquals(1, lines.length, r.output());
        return lines[0];
    }

    private record Result(int status, String output) {
    }

    private static Result run(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(floor.toString()));
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("--seconds", "0.05", "--warmup", "0.01"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) { // a line or two of output: the pipe cannot fill meanwhile
            p.destroyForcibly();
            throw new AssertionError("vhost_floor " + String.join(" ", args) + " did not stop by itself");
        }
        return new Result(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    private static String field(String json, String name) {
        Matcher m = FIELD.matcher(json);
        while (m.find()) {
            if (m.group(1).equals(name)) {
                return m.group(2);
            }
        }
        throw new AssertionError("no field " + name + " in " + json);
    }
}
