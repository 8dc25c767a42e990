package io.vhost.devices.net;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.VhostUserDevice;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.impl.virtqueue.SplitVirtqueue;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The vhost-user-net reference device: {@code 2 * queuePairs} queues, receive queue {@code 2k} and transmit queue
 * {@code 2k + 1} of pair {@code k}, both handled by one worker.
 *
 * <p>Two modes ({@link Mode}): {@code LOOPBACK} delivers every frame the driver sends on transmit queue {@code 2k}
 * + 1 on receive queue {@code 2k}, as a wire plugged back into the port would; a frame that finds no receive
 * buffer is dropped and counted, so transmission never waits for the driver to receive. {@code SINK} takes every
 * frame (copies it out of guest memory, as a real device would) and counts it.
 *
 * <p>Offers {@code VIRTIO_F_VERSION_1}, {@code EVENT_IDX}, {@code INDIRECT_DESC}, {@code VIRTIO_NET_F_MRG_RXBUF},
 * {@code VIRTIO_NET_F_MAC}, {@code VIRTIO_NET_F_STATUS} and, with more than one pair, {@code VIRTIO_NET_F_MQ}; the
 * framework adds {@code RING_PACKED}. Every packet starts with a {@code virtio_net_hdr_v1} of 12 bytes (10 bytes
 * for a legacy driver that acks neither {@code VERSION_1} nor {@code MRG_RXBUF}); the device fills
 * {@code num_buffers} on receive and ignores the offload fields on transmit (it offers no offload).
 *
 * <p>The driver is untrusted: a transmit chain whose readable part is shorter than the header or whose frame is
 * larger than {@link #maxFrameBytes()} is returned unread and counted in {@link NetStats#errors()}; a receive
 * buffer too small for the header is returned empty. A malformed ring breaks that ring only (the framework's rule).
 *
 * <p>Counters: {@link #stats()}, readable from any thread at any time; with them, {@link #lastVringBase} tells where
 * each queue stood when the driver last stopped it, so the frames the device took can be checked against the ring.
 */
public final class NetDevice implements VhostUserDevice {

    /** {@code VIRTIO_NET_F_MAC}. */
    public static final int F_MAC = 5;
    /** {@code VIRTIO_NET_F_MRG_RXBUF}. */
    public static final int F_MRG_RXBUF = 15;
    /** {@code VIRTIO_NET_F_STATUS}. */
    public static final int F_STATUS = 16;
    /** {@code VIRTIO_NET_F_MQ}. */
    public static final int F_MQ = 22;
    /** {@code sizeof(struct virtio_net_hdr_v1)}: with {@code VERSION_1} or {@code MRG_RXBUF}. */
    public static final int HEADER_BYTES = 12;
    /** {@code sizeof(struct virtio_net_hdr)} of a legacy driver without {@code MRG_RXBUF}. */
    public static final int LEGACY_HEADER_BYTES = 10;
    /** Frames a pair holds between its transmit and its receive queue in loopback mode. */
    static final int BACKLOG = 256;
    /** A {@link #stopBases} entry of a queue never stopped (a base is a u32, never negative). */
    private static final long NEVER_STOPPED = -1;

    private static final Logger LOG = System.getLogger(NetDevice.class.getName());
    private static final ValueLayout.OfShort LE16 =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** What the device does with transmitted frames. */
    public enum Mode {
        /** Transmit queue 2k+1 delivers on receive queue 2k; no receive buffer: dropped and counted. */
        LOOPBACK,
        /** Transmitted frames are consumed and counted. */
        SINK;

        /**
         * Parses {@code loopback} or {@code sink} (any case).
         *
         * @param text the mode name
         * @return the mode
         * @throws IllegalArgumentException if it is neither
         */
        public static Mode parse(String text) {
            return switch (text.toLowerCase(Locale.ROOT)) {
                case "loopback" -> LOOPBACK;
                case "sink" -> SINK;
                default -> throw new IllegalArgumentException("mode " + text + " is not loopback or sink");
            };
        }
    }

    private final Mode mode;
    private final int maxQueueSize;
    private final int maxFrameBytes;
    private final NetConfig config;
    private final byte[] configBytes;
    private final Pair[] pairs;
    private final LongAdder txFrames = new LongAdder();
    private final LongAdder txBytes = new LongAdder();
    private final LongAdder rxFrames = new LongAdder();
    private final LongAdder rxBytes = new LongAdder();
    private final LongAdder dropped = new LongAdder();
    private final LongAdder errors = new LongAdder();
    /** Per queue, the base returned at its last GET_VRING_BASE; {@link #NEVER_STOPPED} before the first. */
    private final AtomicLongArray stopBases;
    private volatile int headerBytes = HEADER_BYTES;
    private volatile boolean mergeable;
    private volatile long ackedFeatures;

    private final Duration busyPoll;

    /**
     * Creates the device.
     *
     * @param mode loopback or sink
     * @param queuePairs number of queue pairs, 1 to 128 ({@code VIRTIO_NET_F_MQ} is offered above 1)
     * @param maxQueueSize the largest ring size accepted, a power of two in 4..32768
     * @param mac the MAC address the guest reads from the config space (6 bytes)
     * @param maxFrameBytes the largest Ethernet frame accepted on transmit, 60 to 65535 (header excluded)
     * @throws IllegalArgumentException if a value is out of range
     */
    public NetDevice(Mode mode, int queuePairs, int maxQueueSize, byte[] mac, int maxFrameBytes) {
        this(mode, queuePairs, maxQueueSize, mac, maxFrameBytes, Duration.ZERO);
    }

    /**
     * Creates the device with a busy-poll window ({@link VhostUserDevice#busyPollWindow()}).
     *
     * @param mode loopback or sink
     * @param queuePairs receive/transmit queue pairs, 1 to 128
     * @param maxQueueSize the largest ring accepted, a power of two in 4..32768
     * @param mac the six MAC address bytes
     * @param maxFrameBytes the largest frame accepted on transmit, header excluded, 60 to 65535
     * @param busyPoll how long a worker polls its dry queues before it sleeps, 0 to 1 s (0: never polls)
     * @throws IllegalArgumentException if a value is out of range
     */
    public NetDevice(Mode mode, int queuePairs, int maxQueueSize, byte[] mac, int maxFrameBytes, Duration busyPoll) {
        this.mode = Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(busyPoll, "busyPoll");
        if (busyPoll.isNegative() || busyPoll.compareTo(Duration.ofSeconds(1)) > 0) {
            throw new IllegalArgumentException("busy-poll window " + busyPoll + " is outside 0..1 s");
        }
        this.busyPoll = busyPoll;
        if (queuePairs < 1 || queuePairs > 128) {
            throw new IllegalArgumentException("queue-pairs " + queuePairs + " is outside 1..128");
        }
        if (maxQueueSize < 4 || maxQueueSize > 32768 || Integer.bitCount(maxQueueSize) != 1) {
            throw new IllegalArgumentException("queue-size " + maxQueueSize + " is not a power of two in 4..32768");
        }
        if (maxFrameBytes < 60 || maxFrameBytes > 65535) {
            throw new IllegalArgumentException("max-frame " + maxFrameBytes + " is outside 60..65535");
        }
        this.maxQueueSize = maxQueueSize;
        this.maxFrameBytes = maxFrameBytes;
        this.config = new NetConfig(mac, NetConfig.S_LINK_UP, queuePairs);
        this.configBytes = config.encode();
        this.pairs = new Pair[queuePairs];
        this.stopBases = new AtomicLongArray(2 * queuePairs);
        for (int q = 0; q < stopBases.length(); q++) {
            stopBases.set(q, NEVER_STOPPED);
        }
        for (int i = 0; i < queuePairs; i++) {
            pairs[i] = new Pair(i, maxFrameBytes);
        }
    }

    @Override
    public Duration busyPollWindow() {
        return busyPoll;
    }

    /**
     * Returns the mode.
     *
     * @return loopback or sink
     */
    public Mode mode() {
        return mode;
    }

    /**
     * Returns the configuration the guest sees.
     *
     * @return the config
     */
    public NetConfig config() {
        return config;
    }

    /**
     * Returns the largest Ethernet frame accepted on transmit.
     *
     * @return bytes, header excluded
     */
    public int maxFrameBytes() {
        return maxFrameBytes;
    }

    /**
     * Returns the counters since the device was created (they survive sessions).
     *
     * @return a snapshot
     */
    public NetStats stats() {
        return new NetStats(txFrames.sum(), txBytes.sum(), rxFrames.sum(), rxBytes.sum(), dropped.sum(),
                errors.sum());
    }

    /**
     * Returns where a queue stood when the driver last stopped it: the base the framework returned for it in
     * {@code GET_VRING_BASE}, in the ring type's encoding ({@link VhostUserDevice#queueStopped(int, long)}). Like the
     * counters, it survives sessions; it is recorded before the front-end gets the reply, and after the last batch
     * on that queue was counted.
     *
     * <p>On a transmit queue it accounts for every frame the device took: each chain it pops is counted once, in
     * {@link NetStats#txFrames()} or, if malformed, in {@link NetStats#errors()} (both summed over the pairs). So
     * with one pair whose split transmit ring the driver started at index 0, {@code txFrames + errors} is congruent
     * to the base of queue 1 modulo 65536. Frames the driver made available past that index were never taken (the
     * driver stopped the ring before the device came to them), although the driver may count them as transmitted.
     * On a packed ring the avail half counts descriptor slots instead, modulo twice the queue size.
     *
     * @param queue the queue index, 0 to {@link #queueCount()} - 1
     * @return the base, or empty if the queue was never stopped
     * @throws IndexOutOfBoundsException if the queue index is out of range
     */
    public OptionalLong lastVringBase(int queue) {
        long base = stopBases.get(queue);
        return base == NEVER_STOPPED ? OptionalLong.empty() : OptionalLong.of(base);
    }

    @Override
    public int queueCount() {
        return 2 * pairs.length;
    }

    @Override
    public int maxQueueSize() {
        return maxQueueSize;
    }

    @Override
    public long features() {
        long f = VirtioFeature.VERSION_1.mask() | VirtioFeature.EVENT_IDX.mask() | VirtioFeature.INDIRECT_DESC.mask()
                | 1L << F_MRG_RXBUF | 1L << F_MAC | 1L << F_STATUS;
        return pairs.length > 1 ? f | 1L << F_MQ : f;
    }

    @Override
    public void setFeatures(long acked) {
        boolean mrg = (acked & 1L << F_MRG_RXBUF) != 0;
        boolean v1 = (acked & VirtioFeature.VERSION_1.mask()) != 0;
        mergeable = mrg;
        headerBytes = mrg || v1 ? HEADER_BYTES : LEGACY_HEADER_BYTES;
        ackedFeatures = acked;
        LOG.log(Level.DEBUG, () -> String.format("driver acked features 0x%x: %d-byte header, MRG_RXBUF %s", acked,
                headerBytes, mrg ? "on" : "off"));
    }

    /**
     * Returns the feature word the driver acked last ({@code SET_FEATURES}), as the framework passed it.
     *
     * @return the acked bits; 0 before the first {@code SET_FEATURES}
     */
    public long ackedFeatures() {
        return ackedFeatures;
    }

    @Override
    public int configSize() {
        return configBytes.length;
    }

    @Override
    public byte[] readConfig(int offset, int sizeBytes) {
        return Arrays.copyOfRange(configBytes, offset, offset + sizeBytes);
    }

    /** Receive and transmit queue of a pair share one worker: the loopback hands frames over without a lock race. */
    @Override
    public int workerOf(int queue) {
        return queue / 2;
    }

    @Override
    public boolean hasPendingWork(int queue) {
        return mode == Mode.LOOPBACK && queue % 2 == 0 && pairs[queue / 2].backlogSize() > 0;
    }

    @Override
    public void handleQueue(int queue, Virtqueue virtqueue) throws GuestMemoryException {
        Pair pair = pairs[queue / 2];
        if (queue % 2 == 1) {
            transmit(pair, virtqueue);
        } else if (mode == Mode.LOOPBACK) {
            receive(pair, virtqueue);
        }
        // SINK: the receive queue keeps its buffers; nothing is ever delivered
    }

    /** Records where the queue stopped ({@link #lastVringBase}); a stopped receive queue drops its backlog. */
    @Override
    public void queueStopped(int queue, long base) {
        stopBases.set(queue, base);
        if (queue % 2 == 0) {
            dropped.add(pairs[queue / 2].clearBacklog());
        }
    }

    @Override
    public void reset() {
        for (Pair p : pairs) {
            dropped.add(p.clearBacklog());
        }
    }

    /** Takes at most one ring's worth of frames from a transmit queue. */
    private void transmit(Pair pair, Virtqueue q) throws GuestMemoryException {
        int hdr = headerBytes;
        boolean loopback = mode == Mode.LOOPBACK;
        Used used = new Used(q);
        long frames = 0;
        long bytes = 0;
        long bad = 0;
        long lost = 0;
        DescriptorChain chain;
        try {
            for (int n = 0; n < q.size() && (chain = q.pop()) != null; n++) {
                long readable = chain.readableBytes();
                long length = readable - hdr;
                if (readable < hdr || length > maxFrameBytes) {
                    bad++;
                    pair.warnOnce(LOG, "transmit queue " + q.queueIndex() + ", head " + chain.headIndex() + ": "
                            + (readable < hdr ? "packet of " + readable + " bytes is shorter than the " + hdr
                                    + "-byte virtio-net header"
                                    : "frame of " + length + " bytes exceeds the device's limit of " + maxFrameBytes
                                            + " (--max-frame)")
                            + "; returned unread and counted as an error (later ones are logged at DEBUG)");
                } else {
                    int len = (int) length;
                    if (loopback) {
                        byte[] frame = new byte[len];
                        chain.read(hdr, MemorySegment.ofArray(frame));
                        if (!pair.offer(frame)) {
                            lost++;
                        }
                    } else {
                        chain.read(hdr, pair.scratch.asSlice(0, len));
                    }
                    frames++;
                    bytes += len;
                }
                used.add(chain, 0);
            }
        } finally {
            used.flush();
            txFrames.add(frames);
            txBytes.add(bytes);
            errors.add(bad);
            dropped.add(lost);
        }
    }

    /** Delivers the pair's backlog on its receive queue; what finds no buffer is dropped. */
    private void receive(Pair pair, Virtqueue q) throws GuestMemoryException {
        int hdr = headerBytes;
        Used used = new Used(q);
        long frames = 0;
        long bytes = 0;
        long lost = 0;
        try {
            for (byte[] frame; (frame = pair.poll()) != null; ) {
                int outcome = deliver(frame, q, hdr, used, pair);
                if (outcome > 0) {
                    frames++;
                    bytes += frame.length;
                } else {
                    lost++;
                    if (outcome < 0) { // the ring ran out of buffers: the rest of the backlog is dropped too
                        lost += pair.clearBacklog();
                        break;
                    }
                }
            }
        } finally {
            used.flush();
            rxFrames.add(frames);
            rxBytes.add(bytes);
            dropped.add(lost);
        }
    }

    /**
     * Writes one frame into one receive chain, or with {@code MRG_RXBUF} into as many as it needs.
     *
     * @return 1 if delivered, 0 if dropped because the buffers were too small, -1 if the ring had too few buffers
     */
    private int deliver(byte[] frame, Virtqueue q, int hdr, Used used, Pair pair) throws GuestMemoryException {
        DescriptorChain first = q.pop();
        if (first == null) {
            return -1;
        }
        long need = (long) hdr + frame.length;
        if (first.writableBytes() < hdr || (!mergeable && first.writableBytes() < need)) {
            pair.warnOnce(LOG, "receive queue " + q.queueIndex() + ", head " + first.headIndex() + ": buffer of "
                    + first.writableBytes() + " bytes cannot hold " + (mergeable ? "the " + hdr + "-byte header"
                            : "the " + need + "-byte packet (header and frame; MRG_RXBUF was not acked)")
                    + "; returned empty and the frame dropped (later ones are logged at DEBUG)");
            used.add(first, 0);
            return 0;
        }
        List<DescriptorChain> chains = List.of(first);
        if (first.writableBytes() < need) {
            chains = new ArrayList<>();
            chains.add(first);
            long room = first.writableBytes();
            while (room < need) {
                DescriptorChain next = q.pop();
                if (next == null) {
                    for (DescriptorChain c : chains) {
                        used.add(c, 0);
                    }
                    return -1;
                }
                chains.add(next);
                room += next.writableBytes();
            }
        }
        MemorySegment header = pair.header.asSlice(0, hdr);
        header.fill((byte) 0);
        if (hdr == HEADER_BYTES) {
            header.set(LE16, 10, (short) chains.size());
        }
        first.write(0, header);
        MemorySegment src = MemorySegment.ofArray(frame);
        long done = 0;
        for (int i = 0; i < chains.size(); i++) {
            DescriptorChain c = chains.get(i);
            long start = i == 0 ? hdr : 0;
            long n = Math.min(c.writableBytes() - start, frame.length - done);
            if (n > 0) {
                c.write(start, src.asSlice(done, n));
            }
            done += n;
            used.add(c, start + n);
        }
        return 1;
    }

    /**
     * Returns used chains; on a split ring it publishes them together at {@link #flush()} (one index store per
     * batch, and the buffers of a merged frame appear to the driver at once).
     */
    private static final class Used {
        private final Virtqueue q;
        private final SplitVirtqueue split;

        Used(Virtqueue q) {
            this.q = q;
            this.split = q instanceof SplitVirtqueue s ? s : null;
        }

        void add(DescriptorChain chain, long written) throws GuestMemoryException {
            if (split != null) {
                split.fillUsed(chain.headIndex(), written);
            } else {
                q.addUsed(chain, written);
            }
        }

        void flush() throws GuestMemoryException {
            if (split != null && !split.isBroken()) {
                split.flushUsed();
            }
        }
    }

    /** The state of one queue pair: scratch space for its worker and the loopback backlog. */
    private static final class Pair {
        final int index;
        final MemorySegment scratch;
        final MemorySegment header = MemorySegment.ofArray(new byte[HEADER_BYTES]);
        private final ReentrantLock lock = new ReentrantLock();
        private final ArrayDeque<byte[]> backlog = new ArrayDeque<>();
        private boolean warned;

        Pair(int index, int maxFrameBytes) {
            this.index = index;
            this.scratch = MemorySegment.ofArray(new byte[maxFrameBytes]);
        }

        boolean offer(byte[] frame) {
            lock.lock();
            try {
                if (backlog.size() >= BACKLOG) {
                    return false;
                }
                backlog.add(frame);
                return true;
            } finally {
                lock.unlock();
            }
        }

        byte[] poll() {
            lock.lock();
            try {
                return backlog.poll();
            } finally {
                lock.unlock();
            }
        }

        int backlogSize() {
            lock.lock();
            try {
                return backlog.size();
            } finally {
                lock.unlock();
            }
        }

        int clearBacklog() {
            lock.lock();
            try {
                int n = backlog.size();
                backlog.clear();
                return n;
            } finally {
                lock.unlock();
            }
        }

        void warnOnce(Logger log, String message) {
            if (!warned) {
                warned = true;
                log.log(Level.WARNING, "pair " + index + ": " + message);
            } else {
                log.log(Level.DEBUG, "pair " + index + ": " + message);
            }
        }
    }
}
