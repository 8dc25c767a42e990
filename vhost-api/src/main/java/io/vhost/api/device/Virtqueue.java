package io.vhost.api.device;

import io.vhost.api.error.GuestMemoryException;

/**
 * The device side of one virtqueue in guest memory: pops available descriptor chains, returns them as used and
 * decides whether the driver must be notified (interrupt suppression, {@code VIRTIO_F_EVENT_IDX},
 * {@code VIRTIO_F_NOTIFY_ON_EMPTY}).
 *
 * <p>A malformed ring (a descriptor loop, an index or address out of range, a length overflow) raises
 * {@link GuestMemoryException} and marks this ring broken: later calls fail fast with
 * "ring N is broken: &lt;first cause&gt;". Other rings are unaffected.
 *
 * <p>Thread-safety: a virtqueue is driven by one worker thread at a time.
 *
 * <p>The usual loop, which does not lose a kick:
 * <pre>{@code
 * do {
 *     queue.disableNotification();
 *     for (DescriptorChain c; (c = queue.pop()) != null; ) queue.addUsed(c, handle(c));
 *     if (queue.needsNotification()) signalCallFd();
 * } while (queue.enableNotification());
 * }</pre>
 */
public interface Virtqueue {

    /**
     * Returns the index of this queue in the device.
     *
     * @return the queue index
     */
    int queueIndex();

    /**
     * Returns the number of descriptors of the ring ({@code VHOST_USER_SET_VRING_NUM}).
     *
     * @return the queue size, a power of two up to 32768
     */
    int size();

    /**
     * Takes the next available descriptor chain.
     *
     * @return the chain, or {@code null} if the driver has made nothing new available
     * @throws GuestMemoryException if the ring or the chain is malformed; the ring is then broken
     */
    DescriptorChain pop() throws GuestMemoryException;

    /**
     * Returns a chain to the driver through the used ring and publishes the new used index.
     *
     * @param chain a chain popped from this queue
     * @param writtenBytes how many bytes the device wrote into the chain's writable buffers
     * @throws IllegalArgumentException if {@code writtenBytes} is negative or exceeds the chain's writable length
     * @throws GuestMemoryException if the ring is broken or its memory is gone
     */
    void addUsed(DescriptorChain chain, long writtenBytes) throws GuestMemoryException;

    /**
     * Decides whether the driver must be notified (the call eventfd signalled) for the used entries published since
     * the last decision, honouring {@code VRING_AVAIL_F_NO_INTERRUPT}, the driver's {@code used_event} and
     * {@code VIRTIO_F_NOTIFY_ON_EMPTY}.
     *
     * @return {@code true} if the caller must notify the driver now
     * @throws GuestMemoryException if the ring is broken or its memory is gone
     */
    boolean needsNotification() throws GuestMemoryException;

    /**
     * Asks the driver not to kick for new buffers while the device is busy ({@code VRING_USED_F_NO_NOTIFY}, or
     * stopping {@code avail_event} updates with {@code VIRTIO_F_EVENT_IDX}). A hint only: kicks may still arrive.
     *
     * @throws GuestMemoryException if the ring is broken or its memory is gone
     */
    void disableNotification() throws GuestMemoryException;

    /**
     * Asks the driver to kick again for new buffers, then re-checks the ring after a full memory barrier so that a
     * buffer made available just before the request is not missed.
     *
     * @return {@code true} if buffers are already available: the caller must process the ring again
     * @throws GuestMemoryException if the ring is broken or its memory is gone
     */
    boolean enableNotification() throws GuestMemoryException;
}
