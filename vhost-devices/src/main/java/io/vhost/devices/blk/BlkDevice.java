package io.vhost.devices.blk;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.VhostUserDevice;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.feature.VirtioFeature;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;

/**
 * The vhost-user-blk device: a raw image behind {@code numQueues} request queues, each with its own worker.
 *
 * <p>Offers {@code VIRTIO_F_VERSION_1}, {@code EVENT_IDX}, {@code INDIRECT_DESC} and the block features
 * {@code SEG_MAX}, {@code BLK_SIZE}, {@code FLUSH}, {@code MQ}, {@code DISCARD}, {@code WRITE_ZEROES}, and
 * {@code RO} when read-only. The configuration space is {@link BlkConfig}.
 */
public final class BlkDevice implements VhostUserDevice {

    /** {@code VIRTIO_BLK_F_SEG_MAX}. */
    public static final int F_SEG_MAX = 2;
    /** {@code VIRTIO_BLK_F_RO}. */
    public static final int F_RO = 5;
    /** {@code VIRTIO_BLK_F_BLK_SIZE}. */
    public static final int F_BLK_SIZE = 6;
    /** {@code VIRTIO_BLK_F_FLUSH}. */
    public static final int F_FLUSH = 9;
    /** {@code VIRTIO_BLK_F_MQ}. */
    public static final int F_MQ = 12;
    /** {@code VIRTIO_BLK_F_DISCARD}. */
    public static final int F_DISCARD = 13;
    /** {@code VIRTIO_BLK_F_WRITE_ZEROES}. */
    public static final int F_WRITE_ZEROES = 14;

    /** Largest discard or write-zeroes segment: 1 GiB in sectors. */
    private static final int MAX_ZERO_SECTORS = 1 << 21;

    private final BlkImage image;
    private final int maxQueueSize;
    private final BlkConfig config;
    private final byte[] configBytes;
    private final BlkRequests[] requests;

    /**
     * Creates the device.
     *
     * @param image the backing image; the device does not close it
     * @param numQueues the number of request queues, 1 to 256
     * @param maxQueueSize the largest ring size accepted, a power of two up to 32768
     * @param serial the id answered to {@code VIRTIO_BLK_T_GET_ID} (20 bytes at most are used)
     */
    public BlkDevice(BlkImage image, int numQueues, int maxQueueSize, String serial) {
        this.image = Objects.requireNonNull(image, "image");
        if (numQueues < 1 || numQueues > 256) {
            throw new IllegalArgumentException("num-queues " + numQueues + " is outside 1..256");
        }
        if (maxQueueSize < 4 || maxQueueSize > 32768 || Integer.bitCount(maxQueueSize) != 1) {
            throw new IllegalArgumentException("queue-size " + maxQueueSize + " is not a power of two in 4..32768");
        }
        this.maxQueueSize = maxQueueSize;
        this.config = new BlkConfig(image.capacitySectors(), Math.min(maxQueueSize, 128) - 2, BlkRequests.SECTOR_SIZE,
                numQueues, MAX_ZERO_SECTORS, 1, MAX_ZERO_SECTORS, 1);
        this.configBytes = config.encode();
        this.requests = new BlkRequests[numQueues];
        for (int i = 0; i < numQueues; i++) {
            requests[i] = new BlkRequests(image.path().getFileName() + " queue " + i, image, config, serial);
        }
    }

    /**
     * Returns the configuration the guest sees.
     *
     * @return the config
     */
    public BlkConfig config() {
        return config;
    }

    @Override
    public int queueCount() {
        return requests.length;
    }

    @Override
    public int maxQueueSize() {
        return maxQueueSize;
    }

    @Override
    public long features() {
        long f = VirtioFeature.VERSION_1.mask() | VirtioFeature.EVENT_IDX.mask() | VirtioFeature.INDIRECT_DESC.mask()
                | 1L << F_SEG_MAX | 1L << F_BLK_SIZE | 1L << F_FLUSH | 1L << F_MQ | 1L << F_DISCARD
                | 1L << F_WRITE_ZEROES;
        return image.readOnly() ? f | 1L << F_RO : f;
    }

    @Override
    public int configSize() {
        return configBytes.length;
    }

    @Override
    public byte[] readConfig(int offset, int sizeBytes) {
        return Arrays.copyOfRange(configBytes, offset, offset + sizeBytes);
    }

    @Override
    public void handleQueue(int queue, Virtqueue virtqueue) throws GuestMemoryException {
        BlkRequests executor = requests[queue];
        // At most one ring's worth per call: the framework calls again while more is available.
        DescriptorChain chain;
        for (int n = 0; n < virtqueue.size() && (chain = virtqueue.pop()) != null; n++) {
            virtqueue.addUsed(chain, executor.execute(new ChainBuffers(chain)));
        }
    }

    /** A descriptor chain seen as the two byte sequences of a request. */
    private record ChainBuffers(DescriptorChain chain) implements BlkRequests.Buffers {
        @Override
        public long readableBytes() {
            return chain.readableBytes();
        }

        @Override
        public long writableBytes() {
            return chain.writableBytes();
        }

        @Override
        public void read(long offset, ByteBuffer destination) throws GuestMemoryException {
            chain.read(offset, destination);
        }

        @Override
        public void write(long offset, ByteBuffer source) throws GuestMemoryException {
            chain.write(offset, source);
        }
    }
}
