package io.vhost.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.util.Statistics;

/**
 * Runs our side of the benchmark suite (JMH groups and the session-scale program) for one CPU regime and appends one
 * JSON object per result to a file. The regime itself (pinned with {@code taskset -c 0} or not) is applied by the
 * caller, {@code vhost-benchmarks/bench.sh}; JMH forks and the scale program inherit the CPU affinity.
 * <p>Usage: {@code BenchMain --profile quick|full --regime NAME --out FILE.jsonl [--log FILE] [--jfr DIR]
 * [--only control,oneway,kick,blk,scale] [--matrix wide|narrow]}. The full profile runs both callers (virtual and
 * platform thread); the wide matrix (default of the full profile) adds the junixsocket transport and the throughput
 * mode to the FFM transport and the sample-time mode (where the rate is 1 / mean time).
 */
public final class BenchMain {

    private static final String NATIVE = "--enable-native-access=ALL-UNNAMED";
    /**
     * Three carrier threads for virtual threads in every fork, also when {@code taskset -c 0} shows the JVM one CPU (it
     * would start one carrier, and a single carrier turns off the brief kernel wait of
     * {@link io.vhost.impl.poll.BriefWait}): the benchmark's JVM holds both ends of each connection, so both the
     * caller and the back-end's reader wait briefly, and brief waits leave one carrier free (two waiters need three
     * carriers). The Rust anchor runs its front-end and back-end on two OS threads on that CPU; the third carrier is
     * idle.
     */
    private static final String CARRIERS = "-Djdk.virtualThreadScheduler.parallelism=3";
    private static final System.Logger LOG = System.getLogger(BenchMain.class.getName());
    private static final int WARMUP_ITERATIONS = 2;

    private final boolean full;
    private final boolean wide;
    private final String regime;
    private final Path out;
    private final Path log;
    private final Path jfr;
    private final List<String> only;

    private BenchMain(boolean full, boolean wide, String regime, Path out, Path log, Path jfr, List<String> only) {
        this.full = full;
        this.wide = wide;
        this.regime = regime;
        this.out = out;
        this.log = log;
        this.jfr = jfr;
        this.only = only;
    }

    /**
     * Entry point.
     *
     * @param args see the class comment
     * @throws Exception if a benchmark fails
     */
    public static void main(String[] args) throws Exception {
        String profile = "quick";
        String matrix = null;
        String regime = "unpinned";
        Path out = null;
        Path log = null;
        Path jfr = null;
        List<String> only = List.of();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--profile" -> profile = v;
                case "--regime" -> regime = v;
                case "--out" -> out = Path.of(v);
                case "--log" -> log = Path.of(v);
                case "--jfr" -> jfr = Path.of(v);
                case "--only" -> only = List.of(v.split(","));
                case "--matrix" -> matrix = v;
                default -> throw new IllegalArgumentException("unknown argument " + a + "; usage: BenchMain "
                        + "--profile quick|full --regime NAME --out FILE.jsonl [--log FILE] [--jfr DIR] "
                        + "[--only control,oneway,kick,blk,scale] [--matrix wide|narrow]");
            }
            i++;
        }
        if (out == null || !(profile.equals("quick") || profile.equals("full"))) {
            throw new IllegalArgumentException("--out FILE is required and --profile must be quick or full");
        }
        if (log == null) {
            log = out.resolveSibling(out.getFileName().toString().replace(".jsonl", "") + ".jmh");
        }
        boolean full = profile.equals("full");
        boolean wide = matrix == null ? full : matrix.equals("wide");
        new BenchMain(full, wide, regime, out, log, jfr, only).run();
    }

    private static void info(String message) {
        LOG.log(System.Logger.Level.INFO, message);
    }

    private boolean wanted(String group) {
        return only.isEmpty() || only.contains(group);
    }

    private void run() throws Exception {
        Files.createDirectories(out.toAbsolutePath().getParent());
        List<String> callers = full ? List.of("VIRTUAL", "PLATFORM") : List.of("VIRTUAL");
        String[] transports = wide ? new String[] {"FFM", "JUNIXSOCKET"} : new String[] {"FFM"};
        Mode[] rtModes = wide ? new Mode[] {Mode.Throughput, Mode.SampleTime} : new Mode[] {Mode.SampleTime};
        for (String caller : callers) {
            if (wanted("control")) { // and the bare caller
                jmh("control", caller, "ControlPlaneBench\\.(getFeatures|setVringNumAck|setVringKickAck|setMemTableAck)$",
                        rtModes, b -> b.param("transport", transports));
                if (full) { // the quick profile keeps to the five operations (90 s)
                    // the front-end without set-up record: FFM only (the record costs the same on both transports)
                    jmh("lean", caller, "ControlPlaneBench\\.(setVringKickAck|setMemTableAck)NoReplay$", rtModes,
                            b -> b.param("transport", "FFM"));
                    // junixsocket refuses reads on virtual threads, and the bare caller reads on the caller's thread
                    String[] bare = caller.equals("VIRTUAL") ? new String[] {"FFM"} : transports;
                    jmh("bare", caller, "ControlPlaneBench\\.getFeaturesBareCaller$", rtModes,
                            b -> b.param("transport", bare));
                }
            }
            if (wanted("oneway")) {
                jmh("oneway", caller, "ControlPlaneBench\\.setVringNumOneway$", new Mode[] {Mode.Throughput},
                        b -> b.param("transport", transports));
            }
            if (wanted("kick")) {
                jmh("kick", caller, "KickBench\\.", rtModes, b -> b);
            }
        }
        if (wanted("blk")) {
            String[] targets = onPath("qemu-storage-daemon") ? new String[] {"vhost-java", "qsd"}
                    : new String[] {"vhost-java"};
            if (targets.length == 1) {
                info("qemu-storage-daemon is not on PATH: the data-plane comparison runs ours only");
            }
            String[] depths = full ? new String[] {"1", "16"} : new String[] {"1"};
            jmh("blk", "VIRTUAL", "BlkReadBench\\.", rtModes, b -> b.param("target", targets).param("depth", depths));
        }
        if (wanted("scale")) {
            List<String> runs = new ArrayList<>(List.of("10 FFM", "100 FFM"));
            if (full) {
                runs.addAll(List.of("1000 FFM", "1000 JUNIXSOCKET"));
            }
            for (String r : runs) {
                scale(r.split(" "));
            }
        }
    }

    private interface Customizer {
        ChainedOptionsBuilder apply(ChainedOptionsBuilder b);
    }

    private void jmh(String suite, String caller, String include, Mode[] modes, Customizer custom)
            throws RunnerException, IOException {
        info(String.format(Locale.ROOT, "[%s] %s, caller on a %s thread ...", regime, suite,
                caller.toLowerCase(Locale.ROOT)));
        for (Mode mode : modes) {
            ChainedOptionsBuilder b = new OptionsBuilder()
                    .include(BenchMain.class.getPackageName() + "\\." + include)
                    .mode(mode)
                    .timeUnit(TimeUnit.MICROSECONDS)
                    .forks(1)
                    // Two warm-up seconds: with one, the JIT was still compiling on the pinned CPU during the
                    // measurement (p99.9 of GET_FEATURES 3.3 ms after one warm-up second, 50-75 us after two).
                    .warmupIterations(WARMUP_ITERATIONS)
                    .warmupTime(TimeValue.milliseconds(1000))
                    .measurementIterations(1)
                    .measurementTime(TimeValue.milliseconds(1000))
                    .timeout(TimeValue.seconds(30))
                    .jvmArgsAppend(NATIVE, CARRIERS, "-Djmh.executor=" + caller)
                    .shouldFailOnError(false)
                    .output(logFile(suite, caller, mode).toString());
            if (jfr != null) {
                Path dir = jfr.resolve(regime + "-" + suite + "-" + caller.toLowerCase(Locale.ROOT));
                Files.createDirectories(dir);
                b.addProfiler("jfr", "dir=" + dir.toAbsolutePath() + ";configName="
                        + JfrSummary.settings(jfr).toAbsolutePath());
            }
            String load = loadAverage();
            Collection<RunResult> results = new Runner(custom.apply(b).build()).run();
            for (RunResult rr : results) {
                append(json(suite, caller, load, rr));
            }
            if (results.isEmpty()) {
                info(String.format(Locale.ROOT, "[%s] %s (%s): no result; see %s", regime, include, mode,
                        logFile(suite, caller, mode)));
            }
        }
    }

    private Path logFile(String suite, String caller, Mode mode) {
        return log.resolveSibling(log.getFileName() + "-" + suite + "-" + caller.toLowerCase(Locale.ROOT) + "-"
                + mode.shortLabel() + ".log");
    }

    private String json(String suite, String caller, String load, RunResult rr) {
        BenchmarkParams p = rr.getParams();
        String name = p.getBenchmark();
        StringBuilder s = new StringBuilder("{");
        field(s, "regime", regime);
        field(s, "suite", suite);
        field(s, "bench", name.substring(name.lastIndexOf('.') + 1));
        field(s, "caller", caller.toLowerCase(Locale.ROOT));
        for (String key : p.getParamsKeys()) {
            field(s, key, p.getParam(key));
        }
        field(s, "cpus", Runtime.getRuntime().availableProcessors());
        field(s, "load1", load);
        Result<?> r = rr.getPrimaryResult();
        Statistics st = r.getStatistics();
        if (p.getMode() == Mode.Throughput) {
            field(s, "mode", "thrpt");
            field(s, "ops_per_s", r.getScore() * 1e6);
        } else {
            field(s, "mode", "sample");
            field(s, "mean_us", st.getMean());
            field(s, "median_us", st.getPercentile(50));
            field(s, "p99_us", st.getPercentile(99));
            field(s, "ops_per_s", 1e6 / st.getMean());
            field(s, "samples", st.getN());
        }
        s.setLength(s.length() - 1);
        return s.append('}').toString();
    }

    private static void field(StringBuilder s, String key, Object value) {
        s.append('"').append(key).append("\":");
        if (value instanceof Number n) {
            double d = n.doubleValue();
            s.append(d == Math.rint(d) && Math.abs(d) < 1e15 ? String.valueOf((long) d)
                    : String.format(Locale.ROOT, "%.3f", d));
        } else {
            s.append('"').append(String.valueOf(value).replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
        }
        s.append(',');
    }

    private void scale(String[] run) throws IOException, InterruptedException {
        info(String.format(Locale.ROOT, "[%s] scale, %s idle sessions over %s ...", regime, run[0], run[1]));
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        Path err = out.resolveSibling("scale-" + regime + "-" + run[0] + "-" + run[1] + ".err");
        // A fixed, pre-touched heap: the RSS difference is then what sessions add outside the heap (stacks, mappings,
        // native buffers, metaspace), not the heap growing or shrinking around a GC; heap use is reported apart.
        Process p = new ProcessBuilder(java, NATIVE, "-Xms512m", "-Xmx512m", "-XX:+AlwaysPreTouch",
                "-cp", System.getProperty("java.class.path"),
                SessionScale.class.getName(), run[0], run[1])
                .redirectError(err.toFile()).start();
        try {
            String line = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(150, TimeUnit.SECONDS) || p.exitValue() != 0 || !line.startsWith("{")) {
                info("scale run " + String.join(" ", run) + " failed (exit "
                        + (p.isAlive() ? "timeout" : p.exitValue()) + "); see " + err);
                return;
            }
            append("{\"regime\":\"" + regime + "\",\"cpus\":" + Runtime.getRuntime().availableProcessors()
                    + ",\"load1\":\"" + loadAverage() + "\"," + line.substring(1));
        } finally {
            p.destroyForcibly();
        }
    }

    private void append(String line) throws IOException {
        Files.writeString(out, line + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (IOException e) {
            return "?";
        }
    }

    private static boolean onPath(String command) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String d : path.split(":")) {
            if (Files.isExecutable(Path.of(d, command))) {
                return true;
            }
        }
        return false;
    }
}
