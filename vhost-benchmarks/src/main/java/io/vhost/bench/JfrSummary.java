package io.vhost.bench;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedMethod;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

/**
 * Summarises the JFR recordings that {@code bench.sh --jfr} leaves (one per JMH fork) as markdown: where the CPU time
 * went, by JDK 25's CPU-time sampler ({@code jdk.CPUTimeSample}, which samples threads in native code too, each
 * sample weighted by its sampling period), or by the execution sampler ({@code jdk.ExecutionSample}, Java code only)
 * where a recording has no CPU-time samples; what was allocated ({@code jdk.ObjectAllocationSample}, by weight); and
 * the collections ({@code jdk.GarbageCollection}).
 *
 * <p>Three tables per recording. The first charges each sample to the nearest frame of our code ({@code io.vhost.*})
 * from the top of its stack, with everything it called in the JDK or in C, so that "FfmConnection.send" means
 * "sending, including the JDK and libc work it caused"; a sample whose nearest frame of ours is in
 * {@code io.vhost.impl.sys} with only FFM's downcall frames above it was inside a C call (a system call, mostly in the
 * kernel), and is marked "(in C)". The second charges each sample outside C to every frame of ours on its stack
 * (inclusive Java time, so its shares overlap). The third charges it to its top frame alone ("self"). Threads are grouped by name with the
 * numbers after dashes removed.
 *
 * <p>Usage: {@code JfrSummary DIR_OR_FILE...} (directories are searched for {@code *.jfr}); prints markdown.
 * {@link #settings(Path)} writes the recording settings that {@code BenchMain --jfr} hands JMH's JFR profiler.
 */
public final class JfrSummary {

    static final String CPU_TIME = "jdk.CPUTimeSample";
    static final String LOST = "jdk.CPUTimeSamplesLost";
    static final String EXECUTION = "jdk.ExecutionSample";
    static final String ALLOCATION = "jdk.ObjectAllocationSample";
    static final String GC = "jdk.GarbageCollection";
    private static final String OURS = "io.vhost.";
    private static final String NATIVE_LAYER = "io.vhost.impl.sys.";
    private static final String IN_C = " (in C)";
    private static final int ROWS = 20;

    /** One stack sample reduced to what the summary needs: its thread, frames (top first) and weight. */
    record Sample(String thread, List<String> frames, double weight) {
    }

    /** What one recording holds, aggregated. */
    record Profile(String source, List<Sample> cpu, long lost, Map<String, Double> allocation, int collections,
            Duration pauses) {
    }

    private JfrSummary() {
    }

    /**
     * Entry point.
     *
     * @param args directories or {@code .jfr} files
     * @throws IOException if a recording cannot be read
     */
    public static void main(String[] args) throws IOException {
        if (args.length == 0) {
            System.err.println("usage: JfrSummary DIR_OR_FILE...");
            System.exit(2);
        }
        Map<Path, String> files = new LinkedHashMap<>(); // recording -> its name in the summary
        for (String a : args) {
            Path p = Path.of(a);
            if (Files.isDirectory(p)) {
                try (Stream<Path> s = Files.walk(p)) {
                    s.filter(f -> f.toString().endsWith(".jfr")).sorted()
                            .forEach(f -> files.put(f, p.relativize(f).toString()));
                }
            } else {
                files.put(p, p.toString());
            }
        }
        if (files.isEmpty()) {
            System.out.println("No JFR recordings under " + String.join(", ", args) + ".");
            return;
        }
        StringBuilder md = new StringBuilder();
        for (Map.Entry<Path, String> f : files.entrySet()) {
            md.append(markdown(read(f.getKey(), f.getValue()))).append('\n');
        }
        System.out.print(md);
    }

    /**
     * Writes the recording settings used by {@code --jfr}: the CPU-time sampler at one sample per millisecond of a
     * thread's CPU time, the execution sampler every 10 ms, allocation samples with stacks, collections, and pinned
     * virtual threads over 20 ms.
     *
     * @param dir where to write {@code cpu-time.jfc}
     * @return the file's path (JMH's {@code configName})
     * @throws IOException if it cannot be written
     */
    static Path settings(Path dir) throws IOException {
        Path file = dir.resolve("cpu-time.jfc");
        try (InputStream in = JfrSummary.class.getResourceAsStream("cpu-time.jfc")) {
            if (in == null) {
                throw new IOException("cpu-time.jfc is missing from the benchmarks jar");
            }
            Files.createDirectories(dir);
            Files.write(file, in.readAllBytes());
        }
        return file;
    }

    /**
     * Reads one recording.
     *
     * @param file the recording
     * @param name what to call it in the summary
     * @return its aggregated profile
     * @throws IOException if it cannot be read
     */
    static Profile read(Path file, String name) throws IOException {
        List<Sample> cpuTime = new ArrayList<>();
        List<Sample> execution = new ArrayList<>();
        Map<String, Double> allocation = new HashMap<>();
        int collections = 0;
        long lost = 0;
        Duration pauses = Duration.ZERO;
        try (RecordingFile recording = new RecordingFile(file)) {
            while (recording.hasMoreEvents()) {
                RecordedEvent e = recording.readEvent();
                switch (e.getEventType().getName()) {
                    case CPU_TIME -> {
                        if (!e.getBoolean("failed") && e.getStackTrace() != null) {
                            cpuTime.add(sample(e, e.getThread("eventThread"),
                                    e.getDuration("samplingPeriod").toNanos()));
                        }
                    }
                    case EXECUTION -> {
                        if (e.getStackTrace() != null) {
                            execution.add(sample(e, e.getThread("sampledThread"), 1));
                        }
                    }
                    case LOST -> lost += e.getLong("lostSamples");
                    case ALLOCATION -> allocation.merge(typeName(e.getClass("objectClass").getName()),
                            (double) e.getLong("weight"), Double::sum);
                    case GC -> {
                        collections++;
                        pauses = pauses.plus(e.getDuration("sumOfPauses"));
                    }
                    default -> {
                    }
                }
            }
        }
        return new Profile(name, cpuTime.isEmpty() ? execution : cpuTime, lost, allocation, collections, pauses);
    }

    private static Sample sample(RecordedEvent e, RecordedThread t, double weight) {
        RecordedStackTrace st = e.getStackTrace();
        List<String> frames = new ArrayList<>(st.getFrames().size());
        for (RecordedFrame f : st.getFrames()) {
            RecordedMethod m = f.getMethod();
            frames.add(m.getType().getName() + "." + m.getName());
        }
        return new Sample(threadGroup(t), frames, weight);
    }

    /**
     * Turns a JVM class name into a Java one: "[J" into "long[]", "[Ljava.lang.String;" into "java.lang.String[]".
     *
     * @param jvmName the name as JFR records it
     * @return the name as Java source writes it
     */
    static String typeName(String jvmName) {
        int dims = 0;
        while (dims < jvmName.length() && jvmName.charAt(dims) == '[') {
            dims++;
        }
        if (dims == 0) {
            return jvmName;
        }
        String element = switch (jvmName.charAt(dims)) {
            case 'Z' -> "boolean";
            case 'B' -> "byte";
            case 'C' -> "char";
            case 'S' -> "short";
            case 'I' -> "int";
            case 'J' -> "long";
            case 'F' -> "float";
            case 'D' -> "double";
            case 'L' -> jvmName.substring(dims + 1, jvmName.length() - 1);
            default -> jvmName.substring(dims);
        };
        return element + "[]".repeat(dims);
    }

    /**
     * Names a sampled thread's group: its name with numbers after a dash taken out ("ForkJoinPool-#-worker-#"), "(virtual,
     * unnamed)" for an unnamed virtual thread.
     *
     * @param t the thread, or null
     * @return the group
     */
    static String threadGroup(RecordedThread t) {
        if (t == null) {
            return "(unknown)";
        }
        return threadGroup(t.getJavaName() != null ? t.getJavaName() : t.getOSName(), t.isVirtual());
    }

    /**
     * As {@link #threadGroup(RecordedThread)}, from a thread's name and kind.
     *
     * @param name the thread's name, or null
     * @param virtual whether it is a virtual thread
     * @return the group
     */
    static String threadGroup(String name, boolean virtual) {
        if (name == null || name.isEmpty()) {
            return virtual ? "(virtual, unnamed)" : "(unnamed)";
        }
        return name.replaceAll("-[0-9]+", "-#");
    }

    /**
     * The frame a sample is charged to: the nearest frame of our code from the top, marked "(in C)" when it is in
     * the native layer and every frame above it is FFM's downcall machinery (hidden method-handle forms, the linker),
     * i.e. the thread was inside the C call; the top frame when no frame is ours.
     *
     * @param frames the sample's frames, top first (class.method)
     * @return the row's label
     */
    static String nearestOurs(List<String> frames) {
        for (int i = 0; i < frames.size(); i++) {
            String f = frames.get(i);
            if (f.startsWith(OURS)) {
                String label = shortName(f);
                return i > 0 && f.startsWith(NATIVE_LAYER) && frames.subList(0, i).stream().allMatch(
                        JfrSummary::downcallFrame) ? label + IN_C : label;
            }
        }
        return frames.isEmpty() ? "(no frames)" : shortName(frames.getFirst()) + " (not ours)";
    }

    /** A frame of FFM's downcall machinery: a hidden class (a bound method handle's form), or the linker's code. */
    private static boolean downcallFrame(String frame) {
        return frame.contains(".0x") || frame.startsWith("java.lang.invoke.")
                || frame.startsWith("jdk.internal.foreign.abi.");
    }

    /**
     * Shortens "pkg.Class$Inner.method" to "Class$Inner.method", and a hidden class's "pkg.Host$$Lambda.0x1234.run"
     * to "Host$$Lambda.run".
     *
     * @param frame the frame
     * @return the short form
     */
    static String shortName(String frame) {
        String[] parts = frame.split("\\.");
        if (parts.length < 2) {
            return frame;
        }
        int type = parts.length - 2;
        if (parts[type].startsWith("0x") && type > 0) { // a hidden class: JFR names it "Outer$$Lambda.0x...."
            type--;
        }
        return parts[type] + "." + parts[parts.length - 1];
    }

    /**
     * The frame a sample is charged to in the "self" table: its top frame, or for a sample inside a C call the call
     * ("in C: Sockets.recvmsg") rather than the downcall stub's hidden frame.
     *
     * @param s the sample
     * @return the row's label
     */
    static String self(Sample s) {
        if (s.frames().isEmpty()) {
            return "(no frames)";
        }
        String ours = nearestOurs(s.frames());
        return ours.endsWith(IN_C) ? "in C: " + ours.substring(0, ours.length() - IN_C.length())
                : shortName(s.frames().getFirst());
    }

    /**
     * Renders one profile.
     *
     * @param p the profile
     * @return markdown
     */
    static String markdown(Profile p) {
        StringBuilder md = new StringBuilder("### ").append(p.source()).append("\n\n");
        double total = p.cpu().stream().mapToDouble(Sample::weight).sum();
        boolean cpuTime = !p.cpu().isEmpty() && p.cpu().getFirst().weight() > 1;
        if (total == 0) {
            md.append("No stack samples.\n");
        } else {
            md.append(String.format(Locale.ROOT, "%d samples%s, %s. By thread: %s.%n%n", p.cpu().size(),
                    p.lost() > 0 ? " (" + p.lost() + " lost)" : "",
                    cpuTime ? String.format(Locale.ROOT, "%.1f ms of CPU time (CPU-time sampler)", total / 1e6)
                            : "execution sampler (Java code only)",
                    shares(p.cpu(), Sample::thread, total, 4)));
            md.append("| share | nearest frame of ours (with what it called) |\n|---:|---|\n");
            rows(md, p.cpu(), s -> nearestOurs(s.frames()), total);
            md.append("\n| share | frame of ours on the stack, Java time only (inclusive; samples in C left out) |\n"
                    + "|---:|---|\n");
            rows(md, inclusive(p.cpu()), total, false);
            md.append("\n| share | top frame (self) |\n|---:|---|\n");
            rows(md, p.cpu(), JfrSummary::self, total);
        }
        double allocated = p.allocation().values().stream().mapToDouble(Double::doubleValue).sum();
        md.append(String.format(Locale.ROOT, "%nAllocated (sampled weight): %.1f MiB", allocated / (1 << 20)));
        if (allocated > 0) {
            md.append(", most: ");
            List<String> top = new ArrayList<>();
            ordered(p.allocation()).entrySet().stream().limit(5)
                    .forEach(e -> top.add(String.format(Locale.ROOT, "%s %.0f %%", e.getKey(),
                            100 * e.getValue() / allocated)));
            md.append(String.join(", ", top));
        }
        md.append(String.format(Locale.ROOT, ". Collections: %d, %.1f ms of pauses.%n", p.collections(),
                p.pauses().toNanos() / 1e6));
        return md.toString();
    }

    private static void rows(StringBuilder md, List<Sample> samples, Function<Sample, String> key, double total) {
        rows(md, aggregate(samples, key), total, true);
    }

    private static void rows(StringBuilder md, Map<String, Double> by, double total, boolean disjoint) {
        by.entrySet().stream().limit(ROWS).forEach(e -> md.append(String.format(Locale.ROOT,
                "| %.1f %% | %s |%n", 100 * e.getValue() / total, e.getKey())));
        if (by.size() > ROWS && !disjoint) {
            md.append(String.format(Locale.ROOT, "| | %d others |%n", by.size() - ROWS));
        } else if (by.size() > ROWS) {
            double rest = by.values().stream().skip(ROWS).mapToDouble(Double::doubleValue).sum();
            md.append(String.format(Locale.ROOT, "| %.1f %% | %d others |%n", 100 * rest / total, by.size() - ROWS));
        }
    }

    private static String shares(List<Sample> samples, Function<Sample, String> key, double total, int limit) {
        List<String> parts = new ArrayList<>();
        aggregate(samples, key).entrySet().stream().limit(limit).forEach(e -> parts.add(String.format(Locale.ROOT,
                "%s %.1f %%", e.getKey(), 100 * e.getValue() / total)));
        return String.join(", ", parts);
    }

    /**
     * Sums sample weights by key, largest first (ties by key, so that the order is stable).
     *
     * @param samples the samples
     * @param key what to group by
     * @return the sums, in order
     */
    static Map<String, Double> aggregate(List<Sample> samples, Function<Sample, String> key) {
        Map<String, Double> sums = new HashMap<>();
        for (Sample s : samples) {
            sums.merge(key.apply(s), s.weight(), Double::sum);
        }
        return ordered(sums);
    }

    /**
     * Sums the weights of samples outside C calls for every distinct frame of ours on each sample's stack: the Java
     * time of a method and everything it called ("inclusive"), without the system calls, which the first table
     * shows; largest first.
     *
     * @param samples the samples
     * @return the sums, in order
     */
    static Map<String, Double> inclusive(List<Sample> samples) {
        Map<String, Double> sums = new HashMap<>();
        for (Sample s : samples) {
            if (nearestOurs(s.frames()).endsWith(IN_C)) {
                continue;
            }
            Set<String> seen = new HashSet<>();
            for (String f : s.frames()) {
                if (f.startsWith(OURS)) {
                    String k = shortName(f);
                    if (seen.add(k)) {
                        sums.merge(k, s.weight(), Double::sum);
                    }
                }
            }
        }
        return ordered(sums);
    }

    private static Map<String, Double> ordered(Map<String, Double> sums) {
        Map<String, Double> ordered = new LinkedHashMap<>();
        sums.entrySet().stream()
                .sorted(Map.Entry.<String, Double>comparingByValue(Comparator.reverseOrder())
                        .thenComparing(Map.Entry.comparingByKey()))
                .forEach(e -> ordered.put(e.getKey(), e.getValue()));
        return ordered;
    }
}
