package io.vhost.bench;

import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.devices.blk.BlkDevice;
import io.vhost.devices.blk.BlkImage;
import io.vhost.impl.daemon.DeviceBackend;
import io.vhost.impl.frontend.DriverQueue;
import io.vhost.impl.frontend.FrontendOptions;
import io.vhost.impl.frontend.VhostUserFrontends;
import io.vhost.impl.frontend.VirtioBlkDriver;
import io.vhost.impl.frontend.VmmMemory;
import io.vhost.impl.transport.TransportKind;
import io.vhost.impl.virtqueue.DriverRing;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Timeout;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Data plane: 4 KiB random reads from a 64 MiB image on tmpfs ({@code /dev/shm}) through our front-end's driver-side
 * ring (one queue of 128, {@link #depth} requests in flight), served either by our vhost-user-blk back-end in this
 * JVM ({@code vhost-java}) or by {@code qemu-storage-daemon} (its vhost-user-blk export, default {@code aio=threads}).
 * Each operation is one completed read; the slot is resubmitted at once with a new random sector.
 */
@State(Scope.Benchmark)
@BenchmarkMode({Mode.Throughput, Mode.SampleTime})
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 2, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Timeout(time = 20)
public class BlkReadBench {

    static final long IMAGE_BYTES = 64L << 20;
    static final int BLOCK = 4096;
    static final int QUEUE_SIZE = 128;
    static final Duration WAIT = Duration.ofSeconds(10);
    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_LONG =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Who serves the image: {@code vhost-java} (our blk back-end, same JVM) or {@code qsd}. */
    @Param({"vhost-java", "qsd"})
    public String target;

    /** Requests in flight. */
    @Param({"1"})
    public int depth;

    private Path dir;
    private Path image;
    private Loopback ours;
    private BlkImage blkImage;
    private Process qsd;
    private VhostUserFrontend frontend;
    private VmmMemory memory;
    private DriverQueue queue;
    private Slot[] slotOfHead;
    private long seed = 0x9E3779B97F4A7C15L;

    private record Slot(long headerGpa, long dataGpa, long statusGpa, MemorySegment header, MemorySegment status,
            List<DriverRing.Buffer> readable, List<DriverRing.Buffer> writable) {}

    /**
     * Creates the image, starts the back-end, connects, sets the queue up and submits {@link #depth} reads.
     *
     * @throws Exception if any step fails
     */
    @Setup(Level.Trial)
    public void setUp() throws Exception {
        Path shm = Path.of("/dev/shm");
        dir = Files.createTempDirectory(Files.isDirectory(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir")),
                "vhost-bench-blk");
        image = dir.resolve("disk.img");
        fill(image);
        Path socket = dir.resolve("blk.sock");
        switch (target) {
            case "vhost-java" -> {
                blkImage = BlkImage.open(image, true);
                BlkDevice device = new BlkDevice(blkImage, 1, QUEUE_SIZE, "bench");
                ours = Loopback.start(TransportKind.FFM, ctx -> new DeviceBackend(device, ctx));
                frontend = ours.frontend();
            }
            case "qsd" -> {
                qsd = startQsd(image, socket, dir.resolve("qsd.log"));
                frontend = VhostUserFrontends.connect(socket, FrontendOptions.defaults()
                        .withConnectTimeout(Duration.ofSeconds(30)));
            }
            default -> throw new IllegalArgumentException("target " + target + " is not vhost-java or qsd");
        }
        negotiate(frontend);
        memory = VmmMemory.create(4L << 20);
        frontend.setMemTable(memory.regions());
        queue = new DriverQueue(memory, 0, QUEUE_SIZE);
        queue.setUp(frontend);
        slotOfHead = new Slot[QUEUE_SIZE];
        Slot[] slots = new Slot[depth];
        for (int i = 0; i < depth; i++) {
            long hdr = memory.allocate(16, 16);
            long status = memory.allocate(1, 1);
            long data = memory.allocate(BLOCK, BLOCK);
            slots[i] = new Slot(hdr, data, status, memory.segment(hdr, 16), memory.segment(status, 1),
                    List.of(new DriverRing.Buffer(hdr, 16)),
                    List.of(new DriverRing.Buffer(data, BLOCK), new DriverRing.Buffer(status, 1)));
        }
        for (Slot s : slots) {
            submit(s);
        }
        queue.kick();
    }

    /** Drains the reads in flight, disconnects, stops the back-end and deletes the image. */
    @TearDown(Level.Trial)
    public void tearDown() {
        try {
            for (int i = 0; i < depth && queue != null; i++) {
                if (queue.awaitUsed(WAIT) == null) {
                    break;
                }
            }
        } catch (IOException e) {
            System.getLogger(BlkReadBench.class.getName()).log(System.Logger.Level.WARNING, "drain failed", e);
        } finally {
            try (DriverQueue q = queue; VmmMemory m = memory; BlkImage img = blkImage) {
                if (ours != null) {
                    ours.close();
                } else if (frontend != null) {
                    frontend.close();
                }
            } catch (IOException e) {
                System.getLogger(BlkReadBench.class.getName()).log(System.Logger.Level.WARNING, "close failed", e);
            } finally {
                if (qsd != null) {
                    qsd.destroyForcibly();
                    try {
                        qsd.waitFor(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                Loopback.deleteDir(dir);
            }
        }
    }

    /**
     * Waits for one completed read, checks its status and resubmits the slot at a new random 4 KiB block.
     *
     * @return the used element (to the blackhole)
     * @throws IOException if no read completes within 10 s or a read fails
     */
    @Benchmark
    public DriverRing.Used randomRead4k() throws IOException {
        DriverRing.Used used = queue.awaitUsed(WAIT);
        if (used == null) {
            throw new IllegalStateException(target + ": no read completed within " + WAIT);
        }
        Slot s = slotOfHead[used.head()];
        int status = Byte.toUnsignedInt(s.status().get(ValueLayout.JAVA_BYTE, 0));
        if (status != VirtioBlkDriver.S_OK) {
            throw new IllegalStateException(target + ": read failed with virtio-blk status " + status);
        }
        submit(s);
        queue.kick();
        return used;
    }

    private void submit(Slot s) {
        seed ^= seed << 13;
        seed ^= seed >>> 7;
        seed ^= seed << 17;
        long block = Math.floorMod(seed, IMAGE_BYTES / BLOCK);
        s.header().set(LE_INT, 0, VirtioBlkDriver.T_IN);
        s.header().set(LE_INT, 4, 0);
        s.header().set(LE_LONG, 8, block * (BLOCK / VirtioBlkDriver.SECTOR_BYTES));
        s.status().set(ValueLayout.JAVA_BYTE, 0, (byte) 0xff);
        int head = queue.add(s.readable(), s.writable());
        if (head < 0) {
            throw new IllegalStateException("no free descriptors for a read");
        }
        slotOfHead[head] = s;
    }

    private static void negotiate(VhostUserFrontend fe) throws VhostException {
        FeatureSet offered = fe.getFeatures();
        fe.setOwner();
        long wanted = VirtioFeature.VERSION_1.mask() | VirtioFeature.PROTOCOL_FEATURES.mask()
                | 1L << BlkDevice.F_FLUSH;
        fe.setFeatures(offered.intersect(new FeatureSet(wanted)));
        fe.setProtocolFeatures(fe.getProtocolFeatures().intersect(FeatureSet.of(ProtocolFeature.REPLY_ACK,
                ProtocolFeature.CONFIG, ProtocolFeature.MQ)));
    }

    private static void fill(Path image) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocate(1 << 20);
        for (int i = 0; i < chunk.capacity(); i++) {
            chunk.put(i, (byte) (i * 31 + (i >> 12)));
        }
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long off = 0; off < IMAGE_BYTES; off += chunk.capacity()) {
                chunk.clear();
                while (chunk.hasRemaining()) {
                    ch.write(chunk, off + chunk.position());
                }
            }
        }
    }

    private static Process startQsd(Path image, Path socket, Path log) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("qemu-storage-daemon",
                "--blockdev", "driver=file,node-name=file0,filename=" + image + ",cache.direct=off,read-only=on",
                "--export", "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=" + socket
                        + ",writable=off,num-queues=1")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Runtime.getRuntime().addShutdownHook(new Thread(p::destroyForcibly));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(socket)) {
            if (!p.isAlive()) {
                throw new IOException("qemu-storage-daemon exited with " + p.exitValue() + ": "
                        + Files.readString(log));
            }
            if (System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new IOException("qemu-storage-daemon did not create " + socket + " within 30 s");
            }
            p.waitFor(10, TimeUnit.MILLISECONDS);
        }
        return p;
    }
}
