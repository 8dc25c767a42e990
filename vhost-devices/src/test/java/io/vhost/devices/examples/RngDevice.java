package io.vhost.devices.examples;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.device.VhostUserDevice;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.feature.VirtioFeature;
import java.nio.ByteBuffer;
import java.security.SecureRandom;

/**
 * The device-author example of README.md, kept here so that it compiles: a virtio-rng device fills every writable
 * buffer the guest offers with random bytes. The framework maps guest memory, runs the queue's worker on a kick and
 * signals the call eventfd when the ring says so.
 */
final class RngDevice implements VhostUserDevice {
    private final SecureRandom random = new SecureRandom();

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public long features() {
        return VirtioFeature.VERSION_1.mask();
    }

    @Override
    public void handleQueue(int queue, Virtqueue virtqueue) throws GuestMemoryException {
        for (DescriptorChain chain; (chain = virtqueue.pop()) != null; ) {
            byte[] bytes = new byte[(int) Math.min(chain.writableBytes(), 4096)];
            random.nextBytes(bytes);
            chain.write(0, ByteBuffer.wrap(bytes));
            virtqueue.addUsed(chain, bytes.length);
        }
    }
}
