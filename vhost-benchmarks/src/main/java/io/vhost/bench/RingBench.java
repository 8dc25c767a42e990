package io.vhost.bench;

import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.devices.net.NetDevice;
import io.vhost.devices.net.NetStats;
import io.vhost.impl.memory.MemoryRegion;
import io.vhost.impl.memory.MemoryTable;
import io.vhost.impl.memory.MemoryView;
import io.vhost.impl.memory.SharedGuestMemory;
import io.vhost.impl.sys.Mapping;
import io.vhost.impl.sys.Mman;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.virtqueue.PackedVirtqueue;
import io.vhost.impl.virtqueue.SplitVirtqueue;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * CPU cost per frame of the device side of the net data plane, without DPDK: one JVM, one thread, a hand-built ring
 * in memfd-backed guest memory mapped as the daemon maps it. A driver written here (no allocation, not measured)
 * makes {@code --batch} transmit packets of a 12-byte {@code virtio_net_hdr_v1} plus a {@code --size}-byte frame
 * available, one descriptor each (as DPDK's virtio-user transmits), spread over a pool of 2 KiB buffers; then the
 * device side runs the pass {@code DeviceBackend} runs on a kick: acquire the memory view, disable notifications,
 * {@link NetDevice#handleQueue} in sink mode (pop, copy the frame out, return the chain), decide on a notification,
 * re-enable notifications and re-check. Only that pass is timed, with the thread's CPU clock and the wall clock;
 * the heap bytes it allocates are counted too.
 *
 * <p>Each configuration (ring layout and frame size) runs in a JVM of its own (no type profile from the other ring
 * layout), {@code --forks} times, each inheriting this process's CPU affinity: run the whole program under
 * {@code taskset -c N}. A JVM warms up for {@code --warmup} runs, then measures {@code --runs} runs of
 * {@code --seconds} each; the figure is the median of all measured runs of all forks, in nanoseconds per frame.
 *
 * <p>The buffer pool (default 512 buffers, 1 MiB) is about what DPDK's txonly cycles through: the ring's buffers plus
 * the mempool's per-lcore cache. The driver does not write the frames, so the device reads them from this CPU's
 * cache hierarchy; with DPDK they come from the front-end's CPU.
 *
 * <p>Usage: {@code RingBench [--rings split,packed] [--sizes 64,1500] [--queue-size 256] [--batch 256]
 * [--regions 1] [--pool 512] [--seconds 1] [--warmup 3] [--runs 5] [--forks 2]}.
 */
public final class RingBench {

    private static final long REGION_BYTES = 32L << 20;
    private static final long BUFFER_STRIDE = 2048;
    private static final long FIRST_GPA = 0x100000;
    private static final long USER_BASE = 0x7f00_0000_0000L;
    private static final int HEADER = NetDevice.HEADER_BYTES;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final VarHandle IDX = ValueLayout.JAVA_SHORT.varHandle();
    private static final long TESTPMD_FEATURES = VirtioFeature.VERSION_1.mask() | 1L << NetDevice.F_MRG_RXBUF
            | VirtioFeature.INDIRECT_DESC.mask();

    private RingBench() {
    }

    /** The options of one measurement. */
    private record Options(List<String> rings, List<Integer> sizes, int queueSize, int batch, int regions, int pool,
                           double seconds, int warmup, int runs, int forks) {

        static Options parse(String[] args) {
            List<String> rings = List.of("split", "packed");
            List<Integer> sizes = List.of(64, 1500);
            int queueSize = 256;
            int batch = 256;
            int regions = 1;
            int pool = 512;
            double seconds = 1;
            int warmup = 3;
            int runs = 5;
            int forks = 2;
            for (int i = 0; i < args.length; i++) {
                String v = i + 1 < args.length ? args[i + 1] : null;
                switch (args[i]) {
                    case "--rings" -> rings = List.of(v.split(","));
                    case "--sizes" -> sizes = Arrays.stream(v.split(",")).map(Integer::valueOf).toList();
                    case "--queue-size" -> queueSize = Integer.parseInt(v);
                    case "--batch" -> batch = Integer.parseInt(v);
                    case "--regions" -> regions = Integer.parseInt(v);
                    case "--pool" -> pool = Integer.parseInt(v);
                    case "--seconds" -> seconds = Double.parseDouble(v);
                    case "--warmup" -> warmup = Integer.parseInt(v);
                    case "--runs" -> runs = Integer.parseInt(v);
                    case "--forks" -> forks = Integer.parseInt(v);
                    case "--help" -> {
                        System.out.println("usage: RingBench [--rings split,packed] [--sizes 64,1500] [--queue-size"
                                + " 256] [--batch 256] [--regions 1] [--pool 512] [--seconds 1] [--warmup 3]"
                                + " [--runs 5] [--forks 2]");
                        System.exit(0);
                    }
                    default -> throw new IllegalArgumentException("RingBench: unknown option " + args[i]);
                }
                i++;
            }
            if (batch < 1 || batch > queueSize) {
                throw new IllegalArgumentException("--batch " + batch + " must be in 1..queue size " + queueSize);
            }
            if ((long) pool * BUFFER_STRIDE > (long) regions * REGION_BYTES - (1 << 20)) {
                throw new IllegalArgumentException("--pool " + pool + " buffers do not fit " + regions + " regions");
            }
            return new Options(rings, sizes, queueSize, batch, regions, pool, seconds, warmup, runs, forks);
        }

        List<String> childArgs(String ring, int size) {
            return List.of("--rings", ring, "--sizes", Integer.toString(size), "--queue-size",
                    Integer.toString(queueSize), "--batch", Integer.toString(batch), "--regions",
                    Integer.toString(regions), "--pool", Integer.toString(pool), "--seconds", Double.toString(seconds),
                    "--warmup", Integer.toString(warmup), "--runs", Integer.toString(runs), "--forks", "1");
        }
    }

    /**
     * Entry point: forks one JVM per configuration ({@code --child} runs one in this JVM).
     *
     * @param args see the class comment
     * @throws Exception if a run fails
     */
    public static void main(String[] args) throws Exception {
        boolean child = args.length > 0 && args[0].equals("--child");
        Options o = Options.parse(child ? Arrays.copyOfRange(args, 1, args.length) : args);
        if (child) {
            measure(o, o.rings().getFirst(), o.sizes().getFirst());
            return;
        }
        System.out.printf(Locale.ROOT, "RingBench: queue size %d, batch %d, %d region(s), pool %d buffers, %d forks x %d"
                + " x %.1f s per configuration; load average %s%n", o.queueSize(), o.batch(), o.regions(), o.pool(),
                o.forks(), o.runs(), o.seconds(), loadAverage());
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        for (String ring : o.rings()) {
            for (int size : o.sizes()) {
                List<Double> cpu = new ArrayList<>();
                List<Double> wall = new ArrayList<>();
                List<Double> heap = new ArrayList<>();
                StringBuilder forks = new StringBuilder();
                for (int fork = 0; fork < o.forks(); fork++) {
                    List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                            System.getProperty("java.class.path"), RingBench.class.getName(), "--child"));
                    command.addAll(o.childArgs(ring, size));
                    Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
                    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                    if (p.waitFor() != 0) {
                        throw new IllegalStateException("RingBench child for " + ring + " " + size + " B failed: "
                                + out);
                    }
                    for (String line : out.split("\n")) {
                        String[] f = line.split(" ");
                        if (f[0].equals("cpu")) {
                            Arrays.stream(f).skip(1).map(Double::valueOf).forEach(cpu::add);
                            forks.append(forks.isEmpty() ? "" : " | ").append(String.join(" ", Arrays.copyOfRange(f, 1,
                                    f.length)));
                        } else if (f[0].equals("wall")) {
                            Arrays.stream(f).skip(1).map(Double::valueOf).forEach(wall::add);
                        } else if (f[0].equals("heap")) {
                            Arrays.stream(f).skip(1).map(Double::valueOf).forEach(heap::add);
                        }
                    }
                }
                System.out.printf(Locale.ROOT, "%-6s %5d B  cpu %6.1f ns/frame  wall %6.1f ns/frame  heap %5.1f B/frame"
                        + "  runs: %s  [load %s]%n", ring, size, median(cpu), median(wall), median(heap), forks,
                        loadAverage());
            }
        }
    }

    private static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.get(sorted.size() / 2);
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    private static void measure(Options o, String ring, int size) throws Exception {
        List<OwnedFd> fds = new ArrayList<>();
        List<Mapping> mappings = new ArrayList<>();
        List<MemoryRegion> regions = new ArrayList<>();
        try (SharedGuestMemory memory = new SharedGuestMemory()) {
            for (int i = 0; i < o.regions(); i++) {
                OwnedFd fd = Mman.memfd("ring-bench-" + i, REGION_BYTES);
                fds.add(fd);
                Mapping m = Mman.map(fd.number(), 0, REGION_BYTES, true, "ring bench region " + i);
                mappings.add(m);
                long gpa = FIRST_GPA + i * REGION_BYTES;
                // User addresses are not contiguous: a real VMM maps each region where mmap put it.
                regions.add(MemoryRegion.of(gpa, USER_BASE + 2 * i * REGION_BYTES, m.segment()));
            }
            MemoryTable table = MemoryTable.of(regions);
            memory.publish(table, null);
            NetDevice device = new NetDevice(NetDevice.Mode.SINK, 1, Math.max(o.queueSize(), 4), new byte[6], 9216);
            device.setFeatures(TESTPMD_FEATURES);
            Driver driver = ring.equals("packed") ? new PackedDriver(table, o, size) : new SplitDriver(table, o, size);
            Virtqueue q = driver.queue();
            com.sun.management.ThreadMXBean threads =
                    (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            double[] cpu = new double[o.runs()];
            double[] wall = new double[o.runs()];
            double[] heap = new double[o.runs()];
            long notifications = 0;
            for (int run = -o.warmup(); run < o.runs(); run++) {
                long frames = 0;
                long cpuNanos = 0;
                long wallNanos = 0;
                long heapBytes = 0;
                long end = System.nanoTime() + (long) (o.seconds() * 1e9);
                while (System.nanoTime() < end) {
                    for (int b = 0; b < 64; b++) {
                        driver.fill(o.batch());
                        long h0 = threads.getCurrentThreadAllocatedBytes();
                        long c0 = threads.getCurrentThreadCpuTime();
                        long t0 = System.nanoTime();
                        try (MemoryView view = memory.acquire()) {
                            do {
                                q.disableNotification();
                                device.handleQueue(1, q);
                                if (q.needsNotification()) {
                                    notifications++;
                                }
                            } while (q.enableNotification());
                        }
                        wallNanos += System.nanoTime() - t0;
                        cpuNanos += threads.getCurrentThreadCpuTime() - c0;
                        heapBytes += threads.getCurrentThreadAllocatedBytes() - h0;
                        driver.checkAllUsed();
                        frames += o.batch();
                    }
                }
                if (run >= 0) {
                    cpu[run] = (double) cpuNanos / frames;
                    wall[run] = (double) wallNanos / frames;
                    heap[run] = (double) heapBytes / frames;
                }
            }
            NetStats stats = device.stats();
            if (stats.errors() != 0 || stats.txFrames() == 0) {
                throw new IllegalStateException("device counted " + stats);
            }
            if (notifications == 0) {
                throw new IllegalStateException("no notification decided; the pass did not run as the daemon's");
            }
            System.out.println("cpu " + format(cpu));
            System.out.println("wall " + format(wall));
            System.out.println("heap " + format(heap));
        } finally {
            mappings.forEach(Mapping::close);
            fds.forEach(OwnedFd::close);
        }
    }

    private static String format(double[] values) {
        StringBuilder b = new StringBuilder();
        for (double v : values) {
            b.append(b.isEmpty() ? "" : " ").append(String.format(Locale.ROOT, "%.1f", v));
        }
        return b.toString();
    }

    /** The driver side of one ring; nothing it does is timed. */
    private abstract static class Driver {
        final MemoryTable table;
        final int queueSize;
        final int packetBytes;
        final long[] pool;
        int nextBuffer;

        Driver(MemoryTable table, Options o, int frameBytes) {
            this.table = table;
            this.queueSize = o.queueSize();
            this.packetBytes = HEADER + frameBytes;
            // The pool is cut into one block per region: consecutive buffers mostly share a region, as DPDK's mbufs.
            this.pool = new long[o.pool()];
            int perRegion = (o.pool() + o.regions() - 1) / o.regions();
            for (int k = 0; k < pool.length; k++) {
                int region = k / perRegion;
                pool[k] = FIRST_GPA + region * REGION_BYTES + (1 << 20) + (k % perRegion) * BUFFER_STRIDE;
            }
        }

        long nextBuffer() {
            long gpa = pool[nextBuffer];
            nextBuffer = nextBuffer + 1 == pool.length ? 0 : nextBuffer + 1;
            return gpa;
        }

        static long user(long gpa) {
            long region = (gpa - FIRST_GPA) / REGION_BYTES;
            return USER_BASE + 2 * region * REGION_BYTES + (gpa - FIRST_GPA - region * REGION_BYTES);
        }

        abstract Virtqueue queue();

        /** Makes {@code n} packets available (every earlier one was used). */
        abstract void fill(int n);

        /** Checks that the device returned every packet made available. */
        abstract void checkAllUsed();
    }

    /** A split ring at the start of region 0: head {@code i} always uses descriptor {@code i}. */
    private static final class SplitDriver extends Driver {
        private final MemorySegment desc;
        private final MemorySegment avail;
        private final MemorySegment used;
        private final SplitVirtqueue queue;
        private int availIdx;

        SplitDriver(MemoryTable table, Options o, int frameBytes) throws GuestMemoryException {
            super(table, o, frameBytes);
            long descGpa = FIRST_GPA;
            long availGpa = descGpa + 16L * queueSize;
            long usedGpa = (availGpa + 6 + 2L * queueSize + 3) & ~3L;
            desc = table.slice(descGpa, 16L * queueSize);
            avail = table.slice(availGpa, 6 + 2L * queueSize);
            used = table.slice(usedGpa, 6 + 8L * queueSize);
            queue = new SplitVirtqueue(1, queueSize);
            queue.setFeatures(false, false);
            queue.configure(table, user(descGpa), user(availGpa), user(usedGpa));
        }

        @Override
        Virtqueue queue() {
            return queue;
        }

        @Override
        void fill(int n) {
            int mask = queueSize - 1;
            for (int k = 0; k < n; k++) {
                int slot = (availIdx + k) & mask;
                long off = 16L * slot;
                desc.set(U64, off, nextBuffer());
                desc.set(U32, off + 8, packetBytes);
                desc.set(U16, off + 12, (short) 0);
                desc.set(U16, off + 14, (short) 0);
                avail.set(U16, 4 + 2L * slot, (short) slot);
            }
            availIdx = (availIdx + n) & 0xffff;
            IDX.setRelease(avail, 2L, (short) availIdx);
        }

        @Override
        void checkAllUsed() {
            int usedIdx = Short.toUnsignedInt((short) IDX.getAcquire(used, 2L));
            if (usedIdx != availIdx) {
                throw new IllegalStateException("split ring: used index " + usedIdx + ", avail index " + availIdx);
            }
        }
    }

    /** A packed ring at the start of region 0: one descriptor per packet, buffer id = slot. */
    private static final class PackedDriver extends Driver {
        private static final int AVAIL = 1 << 7;
        private static final int USED = 1 << 15;
        private final MemorySegment desc;
        private final PackedVirtqueue queue;
        private int availIdx;
        private boolean availWrap = true;

        PackedDriver(MemoryTable table, Options o, int frameBytes) throws GuestMemoryException {
            super(table, o, frameBytes);
            long descGpa = FIRST_GPA;
            long driverGpa = descGpa + 16L * queueSize;
            long deviceGpa = driverGpa + 4;
            desc = table.slice(descGpa, 16L * queueSize);
            queue = new PackedVirtqueue(1, queueSize);
            queue.setFeatures(false);
            queue.setBase(0x8000);
            queue.configure(table, user(descGpa), user(driverGpa), user(deviceGpa));
        }

        @Override
        Virtqueue queue() {
            return queue;
        }

        @Override
        void fill(int n) {
            for (int k = 0; k < n; k++) {
                long off = 16L * availIdx;
                desc.set(U64, off, nextBuffer());
                desc.set(U32, off + 8, packetBytes);
                desc.set(U16, off + 12, (short) availIdx);
                IDX.setRelease(desc, off + 14, (short) (availWrap ? AVAIL : USED));
                if (++availIdx == queueSize) {
                    availIdx = 0;
                    availWrap = !availWrap;
                }
            }
        }

        @Override
        void checkAllUsed() {
            int expected = availIdx | (availWrap ? 0x8000 : 0);
            if (queue.usedPosition() != expected || queue.availPosition() != expected) {
                throw new IllegalStateException("packed ring: device at avail " + Integer.toHexString(
                        queue.availPosition()) + " used " + Integer.toHexString(queue.usedPosition())
                        + ", driver at " + Integer.toHexString(expected));
            }
        }
    }
}
