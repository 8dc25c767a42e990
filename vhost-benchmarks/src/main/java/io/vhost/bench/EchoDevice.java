package io.vhost.bench;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.VhostUserDevice;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.feature.VirtioFeature;

/**
 * A device that completes every chain at once with 0 bytes written: what remains of a kick is the daemon framework's
 * path (kick eventfd through the poller, the queue worker, the ring, the call eventfd).
 */
final class EchoDevice implements VhostUserDevice {

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
        for (DescriptorChain c; (c = virtqueue.pop()) != null; ) {
            virtqueue.addUsed(c, 0);
        }
    }
}
