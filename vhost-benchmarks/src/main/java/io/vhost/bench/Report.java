package io.vhost.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Collates one run of the suite into {@code results.json} (every figure, flat) and {@code results.md} (tables with
 * each of our figures next to the C floor and the Rust anchor and their ratios), from the files
 * {@code vhost-benchmarks/bench.sh} left in the run directory: {@code java-REGIME.jsonl} (ours),
 * {@code floor-REGIME.jsonl} (the C floor), {@code rust-REGIME.txt} (the Rust anchor's {@code run.sh} output, when
 * {@code ../shared} was present), {@code net-REGIME.jsonl} ({@link NetBench}: our net device and DPDK's vhost
 * back-end under the same DPDK front-end) and {@code machine.txt}.
 * <p>Ratios are time per operation, ours divided by the anchor's: 1.00 is as fast, 2.00 twice as slow. For
 * pipelined one-way messages, where only a rate exists, the ratio is the anchor's rate divided by ours, so it reads
 * the same way.
 * <p>Usage: {@code Report RUN_DIR}.
 */
public final class Report {

    private static final Pattern FIELD = Pattern.compile("\"(\\w+)\":(\"([^\"]*)\"|[-0-9.eE+]+)");
    private static final Pattern KV = Pattern.compile("(\\w+)=(\\S+)");
    private static final String[][] OPS = {
        // our benchmark, Rust op, C floor bench, C floor fds, label
        {"getFeatures", "get_features", "rt", "0", "GET_FEATURES round trip"},
        {"getFeaturesBareCaller", "get_features", "rt", "0",
            "GET_FEATURES, bare caller: raw connection of our transport, our back-end, no front-end engine"},
        {"setVringNumAck", "set_vring_num_ack", "rt", "0", "SET_VRING_NUM + REPLY_ACK"},
        {"setVringKickAck", "set_vring_kick_ack", "rt", "1", "SET_VRING_KICK (1 fd) + REPLY_ACK"},
        {"setMemTableAck", "set_mem_table_ack", "rt", "1", "SET_MEM_TABLE (8 regions, 8 fds) + REPLY_ACK"},
        {"setVringKickAckNoReplay", "set_vring_kick_ack", "rt", "1",
            "SET_VRING_KICK (1 fd) + REPLY_ACK, front-end without set-up record (no fd copy; as the Rust crate)"},
        {"setMemTableAckNoReplay", "set_mem_table_ack", "rt", "1",
            "SET_MEM_TABLE (8 fds) + REPLY_ACK, front-end without set-up record (no fd copies; as the Rust crate)"},
        {"setVringNumOneway", "set_vring_num_oneway", "oneway", "0", "SET_VRING_NUM one-way, pipelined"},
    };
    private static final String[][] CALLERS = {
        {"FFM", "virtual"}, {"FFM", "platform"}, {"JUNIXSOCKET", "virtual"}, {"JUNIXSOCKET", "platform"},
    };

    private final Path dir;
    private final List<Map<String, String>> rows = new ArrayList<>();
    private final List<String> regimes = new ArrayList<>();
    private final StringBuilder md = new StringBuilder();

    private Report(Path dir) {
        this.dir = dir;
    }

    /**
     * Entry point.
     *
     * @param args the run directory
     * @throws IOException if a file cannot be read or written
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            throw new IllegalArgumentException("usage: Report RUN_DIR");
        }
        new Report(Path.of(args[0])).run();
    }

    private void run() throws IOException {
        for (String regime : List.of("pinned", "unpinned")) {
            boolean any = false;
            any |= readJsonLines(dir.resolve("java-" + regime + ".jsonl"), "vhost-java", regime);
            any |= readJsonLines(dir.resolve("floor-" + regime + ".jsonl"), "c-floor", regime);
            any |= readRust(dir.resolve("rust-" + regime + ".txt"), regime);
            any |= readJsonLines(dir.resolve("net-" + regime + ".jsonl"), "net", regime);
            if (any) {
                regimes.add(regime);
            }
        }
        boolean headToHead = readHeadToHead();
        String machine = Files.exists(dir.resolve("machine.txt")) ? Files.readString(dir.resolve("machine.txt")) : "";
        md.append("# vhost-java benchmark results\n\n");
        md.append("Run directory `").append(dir.getFileName()).append("`, collated ").append(Instant.now())
                .append(".\n\n```\n").append(machine.strip()).append("\n```\n\n");
        md.append("Ratios are time per operation, ours ÷ anchor (1.00 = as fast, 2.00 = twice as slow); for the "
                + "one-way rows, anchor rate ÷ our rate. Round trips show the median latency (p99) and the rate.\n");
        if (headToHead) {
            headToHeadTable();
        }
        for (String regime : regimes) {
            controlTable(regime);
            kickTable(regime);
            blkTable(regime);
            netTable(regime);
        }
        scaleTable();
        Files.writeString(dir.resolve("results.md"), md.toString());
        Files.writeString(dir.resolve("results.json"), json(machine));
    }

    // ------------------------------------------------------------------------------------------------ tables

    private void controlTable(String regime) {
        if (find(r -> r.get("regime").equals(regime) && ("control".equals(r.get("suite"))
                || "oneway".equals(r.get("suite")) || r.get("source").equals("rust"))) == null) {
            return;
        }
        md.append("\n## Control plane, ").append(regime).append("\n\n");
        md.append("| operation | C floor | Rust v0.10.0 | Rust HEAD |");
        for (String[] c : CALLERS) {
            md.append(" ours ").append(c[0].equals("FFM") ? "FFM" : "junixsocket").append(", ").append(c[1])
                    .append(" |");
        }
        md.append(" ours FFM virtual ÷ C | ÷ Rust v0.10.0 | ÷ Rust HEAD |\n|---|---|---|---|");
        md.append("---|".repeat(CALLERS.length)).append("---|---|---|\n");
        for (String[] op : OPS) {
            boolean oneway = op[2].equals("oneway");
            Map<String, String> floor = floor(regime, op[2], op[3], false);
            Map<String, String> rustOld = rust(regime, op[1], "v0.10.0");
            Map<String, String> rustHead = rust(regime, op[1], "HEAD");
            md.append("| ").append(op[4]).append(floor != null && op[0].startsWith("setMemTableAck") ? " ¹" : "")
                    .append(" | ").append(cell(floor, oneway)).append(" | ").append(cell(rustOld, oneway))
                    .append(" | ").append(cell(rustHead, oneway)).append(" |");
            Figure ref = null;
            for (String[] c : CALLERS) {
                Figure f = ours(regime, op[0], c[0], c[1], null);
                md.append(' ').append(f == null ? "–" : f.cell(oneway)).append(" |");
                if (c[0].equals("FFM") && c[1].equals("virtual")) {
                    ref = f;
                }
            }
            md.append(' ').append(ratio(ref, Figure.of(floor), oneway)).append(" | ")
                    .append(ratio(ref, Figure.of(rustOld), oneway)).append(" | ")
                    .append(ratio(ref, Figure.of(rustHead), oneway)).append(" |\n");
        }
        md.append("\n¹ The C floor has no 8-fd mode: SET_MEM_TABLE is compared with its 1-fd round trip.\n");
        Map<String, String> plain = floor(regime, "rt", "0", false);
        Map<String, String> timed = floor(regime, "rt", "0", true);
        if (plain != null && timed != null) {
            Figure p = Figure.of(plain);
            Figure t = Figure.of(timed);
            md.append("\nThe same C round trip with `SO_RCVTIMEO` of ").append(timed.get("rcvtimeo_us"))
                    .append(" µs on both ends, as our brief waits bound a carrier's blocking receive (each"
                            + " receive that sleeps arms and cancels a kernel timer): ")
                    .append(t.cell(false)).append(", ").append(ratio(t, p, false)).append(" × the plain floor");
            Figure ours = ours(regime, "getFeatures", "FFM", "virtual", null);
            if (ours != null) {
                md.append("; our GET_FEATURES (FFM, virtual) ÷ this floor ").append(ratio(ours, t, false));
            }
            md.append(".\n");
        }
    }

    /** The C floor's row for a pattern; {@code timed}: the run with a receive timeout ({@code --rcvtimeo-us}). */
    private Map<String, String> floor(String regime, String bench, String fds, boolean timed) {
        return find(r -> r.get("regime").equals(regime) && r.get("source").equals("c-floor")
                && bench.equals(r.get("bench")) && fds.equals(r.get("fds"))
                && (d(r, "rcvtimeo_us") > 0) == timed);
    }

    private void kickTable(String regime) {
        Map<String, String> floor = find(r -> r.get("regime").equals(regime) && r.get("source").equals("c-floor")
                && "efd".equals(r.get("bench")));
        if (floor == null && find(r -> r.get("regime").equals(regime) && "kick".equals(r.get("suite"))) == null) {
            return;
        }
        md.append("\n## Notifications through eventfds and the poller, ").append(regime).append("\n\n");
        md.append("| round trip | C floor (eventfd + epoll_wait) | ours, virtual caller | ours, platform caller |"
                + " ours virtual ÷ C |\n|---|---|---|---|---|\n");
        String[][] benches = {{"eventfdPingPong", "eventfd ping-pong through the poller"},
            {"vringKickCall", "kick → queue worker → handler → call (driver ring, daemon framework)"}};
        for (String[] b : benches) {
            Figure v = ours(regime, b[0], null, "virtual", null);
            Figure p = ours(regime, b[0], null, "platform", null);
            md.append("| ").append(b[1]).append(" | ").append(cell(floor, false)).append(" | ")
                    .append(v == null ? "–" : v.cell(false)).append(" | ").append(p == null ? "–" : p.cell(false))
                    .append(" | ").append(ratio(v, Figure.of(floor), false)).append(" |\n");
        }
    }

    private void blkTable(String regime) {
        if (find(r -> r.get("regime").equals(regime) && "blk".equals(r.get("suite"))) == null) {
            return;
        }
        md.append("\n## Data plane: 4 KiB random reads, 64 MiB image on tmpfs, ").append(regime).append("\n\n");
        md.append("| requests in flight | vhost-java blk back-end | qemu-storage-daemon | vhost-java IOPS ÷ qsd IOPS |"
                + "\n|---|---|---|---|\n");
        for (String depth : List.of("1", "16")) {
            Figure ours = ours(regime, "randomRead4k", null, null, Map.of("target", "vhost-java", "depth", depth));
            Figure qsd = ours(regime, "randomRead4k", null, null, Map.of("target", "qsd", "depth", depth));
            if (ours == null && qsd == null) {
                continue;
            }
            md.append("| ").append(depth).append(" | ").append(ours == null ? "–" : ours.cellIops()).append(" | ")
                    .append(qsd == null ? "– (not installed)" : qsd.cellIops()).append(" | ")
                    .append(ours == null || qsd == null ? "–"
                            : String.format(Locale.ROOT, "%.2f", ours.rate / qsd.rate))
                    .append(" |\n");
        }
    }

    private void netTable(String regime) {
        List<Map<String, String>> net = rows.stream()
                .filter(r -> r.get("regime").equals(regime) && r.get("source").equals("net")).toList();
        if (net.isEmpty()) {
            return;
        }
        md.append("\n## Net data plane: DPDK virtio-user txonly (burst 32) into a vhost-user-net back-end, ")
                .append(regime).append("\n\n");
        String poll = net.stream().filter(r -> "vhost-java-poll".equals(r.get("target")))
                .map(r -> r.getOrDefault("busy_poll_us", "?")).findFirst().orElse(null);
        md.append("| placement | frame | vhost-java net device (sink) |")
                .append(poll == null ? "" : " vhost-java, busy poll " + poll + " µs |")
                .append(" DPDK vhost (testpmd rxonly) | ours ÷ DPDK |")
                .append(poll == null ? "" : " ours with busy poll ÷ DPDK |")
                .append(" runs | load average at the runs |\n|---|---|---|---|---|")
                .append(poll == null ? "" : "---|---|").append("---|---|\n");
        for (String placement : net.stream().map(r -> r.getOrDefault("placement", "?")).distinct().toList()) {
            List<Map<String, String>> rowsOf = net.stream()
                    .filter(r -> placement.equals(r.getOrDefault("placement", "?"))).toList();
            for (String frame : rowsOf.stream().map(r -> r.get("frame")).distinct().toList()) {
                List<Double> ours = rates(rowsOf, frame, "vhost-java");
                List<Double> polled = rates(rowsOf, frame, "vhost-java-poll");
                List<Double> dpdk = rates(rowsOf, frame, "dpdk");
                double o = median(ours);
                double p = median(polled);
                double d = median(dpdk);
                String loads = String.join("; ", rowsOf.stream().filter(r -> frame.equals(r.get("frame")))
                        .map(r -> r.get("load").split(" ")[0]).distinct().toList());
                md.append(String.format(Locale.ROOT, "| %s | %s B | %s |", PLACEMENTS.getOrDefault(placement,
                        placement), frame, mpps(o, ours)));
                if (poll != null) {
                    md.append(' ').append(mpps(p, polled)).append(" |");
                }
                md.append(' ').append(mpps(d, dpdk)).append(" | ").append(ratioOf(o, d)).append(" |");
                if (poll != null) {
                    md.append(' ').append(ratioOf(p, d)).append(" |");
                }
                md.append(String.format(Locale.ROOT, " %d + %d | %s |\n", ours.size() + polled.size(), dpdk.size(),
                        loads));
            }
        }
        md.append("\nMedian of the runs in Mpps (each run: the median of its per-second Tx-pps samples after"
                + " start-up), the runs in brackets. A ratio below 1 means our back-end takes fewer frames per"
                + " second than DPDK's.\n");
    }

    private static String ratioOf(double ours, double anchor) {
        return Double.isNaN(ours) || Double.isNaN(anchor) ? "–" : String.format(Locale.ROOT, "**%.2f**", ours / anchor);
    }

    private static final Map<String, String> PLACEMENTS = Map.of(
            "shared", "shared: both on CPU 0", "split", "split: front-end CPU 1, back-end CPU 0",
            "float", "float: CPUs 0-1");

    private static List<Double> rates(List<Map<String, String>> net, String frame, String target) {
        return net.stream().filter(r -> frame.equals(r.get("frame")) && target.equals(r.get("target")))
                .map(r -> d(r, "ops_per_s")).filter(v -> !Double.isNaN(v)).toList();
    }

    private static double median(List<Double> values) {
        List<Double> v = new ArrayList<>(values);
        v.sort(null);
        int n = v.size();
        return n == 0 ? Double.NaN : n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
    }

    private static String mpps(double median, List<Double> runs) {
        if (Double.isNaN(median)) {
            return "–";
        }
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%.2f Mpps", median / 1e6));
        if (runs.size() > 1) {
            b.append(" (");
            for (int i = 0; i < runs.size(); i++) {
                b.append(i > 0 ? ", " : "").append(String.format(Locale.ROOT, "%.2f", runs.get(i) / 1e6));
            }
            b.append(')');
        }
        return b.toString();
    }

    private void scaleTable() {
        List<Map<String, String>> scale = rows.stream().filter(r -> "scale".equals(r.get("suite"))).toList();
        if (scale.isEmpty()) {
            return;
        }
        md.append("\n## Session scale: idle sessions in one JVM (front-end and back-end both in it)\n\n");
        md.append("| regime | sessions | transport | set-up, all | per session | platform threads: before → with "
                + "sessions → after close | heap / session | RSS outside the heap / session (anonymous + shared "
                + "guest memory) | fds / session |\n"
                + "|---|---|---|---|---|---|---|---|---|\n");
        for (Map<String, String> r : scale) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %.0f ms | %.0f µs | %s → %s → %s | %.1f KiB | "
                            + "%.1f KiB (%.1f + %.1f) | %s |\n", r.get("regime"), r.get("sessions"), r.get("transport"),
                    d(r, "setup_ms"), d(r, "setup_us_per_session"), r.get("platform_threads_before"),
                    r.get("platform_threads"), r.get("platform_threads_after_close"),
                    d(r, "heap_bytes_per_session") / 1024, d(r, "rss_bytes_per_session") / 1024,
                    d(r, "rss_anon_bytes_per_session") / 1024, d(r, "rss_shmem_bytes_per_session") / 1024,
                    r.get("fds_per_session")));
        }
    }

    // ------------------------------------------------------------------------------------------------ figures

    /** One operation's figures: rate (ops/s), median and p99 latency (µs, NaN if unknown). */
    private record Figure(double rate, double median, double p99) {

        static Figure of(Map<String, String> r) {
            if (r == null) {
                return null;
            }
            return new Figure(d(r, "ops_per_s"), d(r, "median_us"), d(r, "p99_us"));
        }

        String cell(boolean oneway) {
            if (oneway || Double.isNaN(median)) {
                return perSecond(rate);
            }
            return String.format(Locale.ROOT, "%s µs (%s), %s", num(median), num(p99), perSecond(rate));
        }

        String cellIops() {
            return Double.isNaN(median) ? perSecond(rate).replace("/s", " IOPS")
                    : String.format(Locale.ROOT, "%s IOPS, %s µs (%s)", perSecond(rate).replace("/s", ""), num(median),
                            num(p99));
        }
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "?" : v >= 100 ? String.format(Locale.ROOT, "%.0f", v)
                : String.format(Locale.ROOT, "%.2f", v);
    }

    private static String perSecond(double v) {
        if (Double.isNaN(v)) {
            return "?";
        }
        return v >= 1e6 ? String.format(Locale.ROOT, "%.2f M/s", v / 1e6)
                : String.format(Locale.ROOT, "%.1f k/s", v / 1e3);
    }

    private static String cell(Map<String, String> r, boolean oneway) {
        Figure f = Figure.of(r);
        return f == null ? "–" : f.cell(oneway);
    }

    private static String ratio(Figure ours, Figure anchor, boolean oneway) {
        if (ours == null || anchor == null) {
            return "–";
        }
        double v = oneway || Double.isNaN(ours.median) || Double.isNaN(anchor.median) ? anchor.rate / ours.rate
                : ours.median / anchor.median;
        return String.format(Locale.ROOT, "**%.2f**", v);
    }

    /** Our figure for one benchmark: median and p99 from the sample-time row, rate from the throughput row. */
    private Figure ours(String regime, String bench, String transport, String caller, Map<String, String> params) {
        Predicate<Map<String, String>> match = r -> r.get("regime").equals(regime)
                && r.get("source").equals("vhost-java") && bench.equals(r.get("bench"))
                && (transport == null || transport.equals(r.get("transport")))
                && (caller == null || caller.equals(r.get("caller")))
                && (params == null || params.entrySet().stream().allMatch(e -> e.getValue().equals(r.get(e.getKey()))));
        Map<String, String> sample = find(match.and(r -> "sample".equals(r.get("mode"))));
        Map<String, String> thrpt = find(match.and(r -> "thrpt".equals(r.get("mode"))));
        if (sample == null && thrpt == null) {
            return null;
        }
        double rate = thrpt != null ? d(thrpt, "ops_per_s") : d(sample, "ops_per_s");
        return new Figure(rate, sample != null ? d(sample, "median_us") : Double.NaN,
                sample != null ? d(sample, "p99_us") : Double.NaN);
    }

    private Map<String, String> rust(String regime, String op, String version) {
        return find(r -> r.get("regime").equals(regime) && r.get("source").equals("rust") && op.equals(r.get("op"))
                && r.getOrDefault("version", "").startsWith(version));
    }

    private Map<String, String> find(Predicate<Map<String, String>> p) {
        return rows.stream().filter(p).findFirst().orElse(null);
    }

    private static double d(Map<String, String> r, String key) {
        String v = r.get(key);
        if (v == null || v.equals("NA")) {
            return Double.NaN;
        }
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    // ------------------------------------------------------------------------------------------------ input

    private boolean readJsonLines(Path file, String source, String regime) throws IOException {
        if (!Files.exists(file)) {
            return false;
        }
        for (String line : Files.readAllLines(file)) {
            if (!line.startsWith("{")) {
                continue;
            }
            Map<String, String> r = new LinkedHashMap<>();
            r.put("source", source);
            r.put("regime", regime);
            Matcher m = FIELD.matcher(line);
            while (m.find()) {
                r.put(m.group(1), m.group(3) != null ? m.group(3) : m.group(2));
            }
            rows.add(r);
        }
        return true;
    }

    /** Our ops in the head-to-head profile, their Rust names, and labels. */
    private static final String[][] H2H = {
        {"getFeatures", "get_features", "GET_FEATURES round trip"},
        {"setVringNumAck", "set_vring_num_ack", "SET_VRING_NUM + REPLY_ACK"},
        {"setVringKickAck", "set_vring_kick_ack", "SET_VRING_KICK (1 fd) + REPLY_ACK"},
        {"setVringKickAckNoReplay", "set_vring_kick_ack", "SET_VRING_KICK, front-end without set-up record"},
        {"setMemTableAck", "set_mem_table_ack", "SET_MEM_TABLE (8 regions, 8 fds) + REPLY_ACK"},
        {"setMemTableAckNoReplay", "set_mem_table_ack", "SET_MEM_TABLE, front-end without set-up record"},
        {"setVringNumOneway", "set_vring_num_oneway", "SET_VRING_NUM one-way, pipelined"},
    };

    /**
     * Reads the head-to-head profile's files: {@code h2h-java.jsonl} (one {@link SwitchCount} line per operation and
     * round) and {@code h2h-rust.txt} (the Rust anchor's {@code run.sh} output, one run per round).
     */
    private boolean readHeadToHead() throws IOException {
        Path java = dir.resolve("h2h-java.jsonl");
        Path rust = dir.resolve("h2h-rust.txt");
        if (!Files.exists(java)) {
            return false;
        }
        for (String line : Files.readAllLines(java)) {
            if (!line.startsWith("{")) {
                continue;
            }
            Map<String, String> r = new LinkedHashMap<>();
            r.put("source", "h2h-java");
            r.put("regime", "h2h");
            Matcher m = FIELD.matcher(line);
            while (m.find()) {
                r.put(m.group(1), m.group(3) != null ? m.group(3) : m.group(2));
            }
            rows.add(r);
        }
        readKeyValues(rust, "MEDIAN ", "h2h-rust");
        readKeyValues(dir.resolve("h2h-rust-cpu.txt"), "RUSTCPU ", "h2h-rust-cpu");
        return true;
    }

    /** Adds a head-to-head row per line of {@code file} that starts with {@code prefix} ({@code key=value} pairs). */
    private void readKeyValues(Path file, String prefix, String source) throws IOException {
        if (!Files.exists(file)) {
            return;
        }
        for (String line : Files.readAllLines(file)) {
            if (line.startsWith(prefix)) {
                Map<String, String> r = new LinkedHashMap<>();
                r.put("source", source);
                r.put("regime", "h2h");
                Matcher m = KV.matcher(line);
                while (m.find()) {
                    r.put(m.group(1), m.group(2));
                }
                rows.add(r);
            }
        }
    }

    private List<Double> h2hValues(String source, String key, Predicate<Map<String, String>> which) {
        List<Double> v = new ArrayList<>();
        for (Map<String, String> r : rows) {
            String x = r.get(key);
            if (source.equals(r.get("source")) && which.test(r) && x != null && !x.equals("NA")) {
                v.add(Double.parseDouble(x));
            }
        }
        return v;
    }

    private void headToHeadTable() {
        long rounds = rows.stream().filter(r -> "h2h-java".equals(r.get("source"))).map(r -> r.get("round"))
                .distinct().count();
        md.append("\n## Head to head with the Rust crate, pinned (").append(rounds).append(rounds == 1 ? " round)\n\n" : " interleaved rounds)\n\n");
        md.append("Each round runs the Rust anchor once (`run.sh -n 1 -p`: 0.5 s warm-up, 2 s timed per operation) and "
                + "then `SwitchCount` once per operation (our front-end and back-end in one JVM under `taskset -c 0`, "
                + "caller on a virtual thread, three carriers (two brief waiters, one free): an untimed pass to warm up, a timed pass for the mean, a "
                + "pass timing each call for the percentiles). Figures are medians over the rounds: mean time per "
                + "operation (the rate's inverse), median and p99 call latency.\n\n");
        md.append("| operation | ours: mean, p50 (p99) | Rust v0.10.0: mean, p50 (p99) | Rust HEAD: mean, p50 (p99) |"
                + " ours ÷ v0.10.0, mean / p50 | ours ÷ HEAD, mean / p50 |\n|---|---|---|---|---|---|\n");
        for (String[] op : H2H) {
            List<Double> mean = h2hValues("h2h-java", "us_per_op", r -> op[0].equals(r.get("op")));
            if (mean.isEmpty()) {
                continue;
            }
            boolean oneway = op[0].equals("setVringNumOneway");
            double om = median(mean);
            double op50 = median(h2hValues("h2h-java", "call_p50_us", r -> op[0].equals(r.get("op"))));
            double op99 = median(h2hValues("h2h-java", "call_p99_us", r -> op[0].equals(r.get("op"))));
            md.append("| ").append(op[2]).append(" | ").append(h2hCell(om, op50, op99, oneway));
            StringBuilder ratios = new StringBuilder();
            for (String version : List.of("v0.10.0", "HEAD")) {
                Predicate<Map<String, String>> which = r -> op[1].equals(r.get("op"))
                        && r.getOrDefault("version", "").startsWith(version);
                List<Double> rates = h2hValues("h2h-rust", "rate", which);
                if (rates.isEmpty()) {
                    md.append(" | –");
                    ratios.append(" | –");
                    continue;
                }
                double rm = 1e6 / median(rates);
                List<Double> p50s = h2hValues("h2h-rust", "median_us", which);
                List<Double> p99s = h2hValues("h2h-rust", "p99_us", which);
                double rp50 = p50s.isEmpty() ? Double.NaN : median(p50s);
                double rp99 = p99s.isEmpty() ? Double.NaN : median(p99s);
                md.append(" | ").append(h2hCell(rm, rp50, rp99, oneway));
                ratios.append(String.format(Locale.ROOT, " | **%.2f**", om / rm));
                if (!oneway) {
                    ratios.append(String.format(Locale.ROOT, " / **%.2f**", op50 / rp50));
                }
            }
            md.append(ratios).append(" |\n");
        }
        md.append("\nRatios are time per operation, ours ÷ Rust (below 1.00: we are faster). For the one-way row the "
                + "mean is per message (the rate's inverse).\n");
        cpuTable();
    }

    /**
     * CPU per round trip, ours (SwitchCount's timed pass) beside the Rust binary's (a run of its own under
     * {@code /usr/bin/time}, its user and system seconds over the operations of its warm-up and timed seconds at the
     * rate it printed), when {@code h2h-rust-cpu.txt} is there.
     */
    private void cpuTable() {
        StringBuilder t = new StringBuilder();
        for (String[] op : H2H) {
            if (op[0].endsWith("NoReplay")) {
                continue; // the Rust crate keeps no set-up record: its figure stands on the replaying row only
            }
            Predicate<Map<String, String>> ours = r -> op[0].equals(r.get("op"));
            Predicate<Map<String, String>> theirs = r -> op[1].equals(r.get("op"));
            List<Double> ou = h2hValues("h2h-java", "user_cpu_us_per_op", ours);
            List<Double> os = h2hValues("h2h-java", "system_cpu_us_per_op", ours);
            List<Double> ru = new ArrayList<>();
            List<Double> rs = new ArrayList<>();
            for (Map<String, String> r : rows) {
                if ("h2h-rust-cpu".equals(r.get("source")) && theirs.test(r)) {
                    double ops = Double.parseDouble(r.get("rate")) * Double.parseDouble(r.get("seconds"));
                    ru.add(Double.parseDouble(r.get("user_s")) * 1e6 / ops);
                    rs.add(Double.parseDouble(r.get("sys_s")) * 1e6 / ops);
                }
            }
            if (ou.isEmpty() || ru.isEmpty()) {
                continue;
            }
            double u = median(ou);
            double sy = median(os);
            double rU = median(ru);
            double rS = median(rs);
            t.append(String.format(Locale.ROOT, "| %s | %.2f + %.2f µs | %.2f + %.2f µs | %+.2f µs | %+.2f µs |%n",
                    op[2], u, sy, rU, rS, u - rU, sy - rS));
        }
        if (t.isEmpty()) {
            return;
        }
        md.append("\n### CPU per round trip, user + system, pinned\n\n")
                .append("Ours: `SwitchCount`'s timed pass (`/proc/self/stat`); Rust v0.10.0: one more run of its binary "
                        + "per operation under `/usr/bin/time`, its CPU seconds over rate × 2.5 s (warm-up and timed "
                        + "seconds, start-up included). Medians over the rounds.\n\n")
                .append("| operation | ours | Rust v0.10.0 | user, ours − Rust | system, ours − Rust |\n"
                        + "|---|---|---|---|---|\n")
                .append(t);
    }

    private static String h2hCell(double mean, double p50, double p99, boolean oneway) {
        if (oneway) {
            return String.format(Locale.ROOT, "%.2f µs (%.0f k/s)", mean, 1e3 / mean);
        }
        return String.format(Locale.ROOT, "%.2f µs, %.2f µs (%.2f)", mean, p50, p99);
    }

    private boolean readRust(Path file, String regime) throws IOException {
        if (!Files.exists(file)) {
            return false;
        }
        for (String line : Files.readAllLines(file)) {
            if (!line.startsWith("MEDIAN ")) {
                continue;
            }
            Map<String, String> r = new LinkedHashMap<>();
            r.put("source", "rust");
            r.put("regime", regime);
            Matcher m = KV.matcher(line);
            while (m.find()) {
                r.put(m.group(1).equals("rate") ? "ops_per_s" : m.group(1), m.group(2));
            }
            rows.add(r);
        }
        return true;
    }

    // ------------------------------------------------------------------------------------------------ output

    private String json(String machine) {
        StringBuilder s = new StringBuilder("{\n  \"machine\": ").append(quote(machine.strip()))
                .append(",\n  \"results\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            s.append("    {");
            int j = 0;
            for (Map.Entry<String, String> e : rows.get(i).entrySet()) {
                s.append(j++ > 0 ? ", " : "").append(quote(e.getKey())).append(": ");
                String v = e.getValue();
                s.append(v.matches("-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?") ? v : quote(v));
            }
            s.append(i + 1 < rows.size() ? "},\n" : "}\n");
        }
        return s.append("  ]\n}\n").toString();
    }

    private static String quote(String v) {
        StringBuilder s = new StringBuilder("\"");
        for (char c : v.toCharArray()) {
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\t' -> s.append("\\t");
                default -> {
                    if (c < 0x20) {
                        s.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        return s.append('"').toString();
    }
}
