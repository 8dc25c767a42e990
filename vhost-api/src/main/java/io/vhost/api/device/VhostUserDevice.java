package io.vhost.api.device;

import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import java.time.Duration;

/**
 * What a device author writes to get a vhost-user back-end: the device's identity (queues, features, config space)
 * and an event handler per queue. The daemon framework ({@code io.vhost.impl.daemon.DeviceBackend}) does the rest:
 * the protocol, guest memory mapping and remapping, ring setup, kick and call eventfds, one worker per queue group,
 * notification suppression, ring stop and restart.
 *
 * <p>Only {@link #queueCount()}, {@link #features()} and {@link #handleQueue} are required; every other method has
 * a default that means "not offered" or "nothing to do", so adding an optional part later never breaks a device.
 *
 * <p><b>Threading.</b> {@link #handleQueue} runs on the worker of the queue's group ({@link #workerOf}); queues of
 * one group are handled one at a time, queues of different groups concurrently. The other methods run on the
 * session's request thread. A device shared by several sessions (a serve loop that accepts one connection after the
 * other) sees them one after the other, never concurrently, when the serve loop handles one connection at a time.
 */
public interface VhostUserDevice {

    /**
     * Returns the number of queues.
     *
     * @return 1 to 256
     */
    int queueCount();

    /**
     * Returns the largest ring size the device accepts ({@code SET_VRING_NUM}).
     *
     * @return a power of two up to 32768; 1024 by default
     */
    default int maxQueueSize() {
        return 1024;
    }

    /**
     * Returns the virtio feature bits the device offers, including the transport bits it supports
     * ({@code VIRTIO_F_VERSION_1}, {@code VIRTIO_RING_F_EVENT_IDX}, {@code VIRTIO_RING_F_INDIRECT_DESC}). The
     * framework adds what it implements for every device: {@code VHOST_USER_F_PROTOCOL_FEATURES},
     * {@code VHOST_F_LOG_ALL} (dirty logging) and, for virtio 1.x devices, {@code VIRTIO_F_RING_PACKED}; those bits
     * are masked out of the word {@link #setFeatures} receives, except bit 30.
     *
     * @return the offered feature word
     */
    long features();

    /**
     * Returns the protocol feature bits the device needs beyond what the framework offers by itself. The framework
     * offers {@code CONFIG} when {@link #configSize()} is positive, and {@code MQ}, {@code REPLY_ACK},
     * {@code CONFIGURE_MEM_SLOTS}, {@code RESET_DEVICE}, {@code LOG_SHMFD} and {@code INFLIGHT_SHMFD} always.
     *
     * @return extra protocol feature bits; none by default
     */
    default long protocolFeatures() {
        return 0;
    }

    /**
     * Learns the feature bits the front-end acked ({@code SET_FEATURES}); may be called again while queues run.
     *
     * @param acked the acked feature word (a subset of {@link #features()}, plus bit 30)
     * @throws VhostException if the device refuses the combination
     */
    default void setFeatures(long acked) throws VhostException {
    }

    /**
     * Returns the size of the device's configuration space; 0 (the default) means the device has none and
     * {@code VHOST_USER_PROTOCOL_F_CONFIG} is not offered.
     *
     * @return the size in bytes
     */
    default int configSize() {
        return 0;
    }

    /**
     * Reads the configuration space ({@code GET_CONFIG}). The framework has checked that the range lies inside
     * {@link #configSize()}.
     *
     * @param offset the first byte
     * @param sizeBytes how many bytes
     * @return exactly {@code sizeBytes} bytes
     * @throws VhostException if the range is not readable
     */
    default byte[] readConfig(int offset, int sizeBytes) throws VhostException {
        throw new RequestRejectedException("GET_CONFIG offset " + offset + " size " + sizeBytes
                + ": this device has no configuration space");
    }

    /**
     * Writes the configuration space ({@code SET_CONFIG}). The default refuses: every field is read-only.
     *
     * @param offset the first byte
     * @param data the bytes
     * @param migration {@code true} when the front-end restores state during migration (read-only fields may then
     *     be written)
     * @throws VhostException if the write is refused
     */
    default void writeConfig(int offset, byte[] data, boolean migration) throws VhostException {
        throw new RequestRejectedException("SET_CONFIG offset " + offset + " size " + data.length
                + ": the configuration space of this device is read-only");
    }

    /**
     * Tells which worker handles a queue: queues with the same worker number share one worker thread (like
     * rust-vmm's {@code queues_per_thread}). By default every queue has its own worker.
     *
     * @param queue the queue index
     * @return the worker number, 0 or more
     */
    default int workerOf(int queue) {
        return queue;
    }

    /**
     * Handles the available buffers of one queue: pops chains, completes them with
     * {@link Virtqueue#addUsed(DescriptorChain, long)}. Called when the queue was kicked, when it was enabled, and
     * again as long as buffers arrive while the previous call ran. The framework disables driver notifications
     * around the call, and signals the call eventfd afterwards when the ring's suppression rules ask for it.
     *
     * <p>Every chain popped must be completed before the method returns: the framework treats the queue as drained
     * when it returns ({@code GET_VRING_BASE} waits for that). Handle a bounded number of chains per call (say, one
     * ring's worth) rather than looping until the ring is empty: a guest that refills the ring as fast as it is
     * drained would otherwise keep the call, and a stop request, waiting forever.
     *
     * @param queue the queue index
     * @param virtqueue the queue's ring
     * @throws GuestMemoryException if the ring is malformed; the framework marks the ring broken, signals its error
     *     eventfd and keeps the other queues running
     */
    void handleQueue(int queue, Virtqueue virtqueue) throws GuestMemoryException;

    /**
     * Tells whether the device holds work for a queue that no kick will announce, such as frames a loopback device
     * took from a transmit queue and must now place on the receive queue of the same worker ({@link #workerOf}).
     * After each pass over its queues a worker asks this for each of them and, while it is {@code true} for a ready
     * queue, runs another pass at once instead of waiting for a kick. A device that answers {@code true} must make
     * progress on that queue in {@link #handleQueue} (deliver or drop), or its worker spins.
     *
     * <p>Also: a call of {@link #handleQueue} that never calls {@link Virtqueue#pop()} ends the batch even if buffers
     * are available (the device wants none now); the queue is handled again on its next kick or when this method
     * reports work.
     *
     * @param queue the queue index
     * @return {@code true} if {@link #handleQueue} should run again for this queue without a kick; {@code false} by
     *     default
     */
    default boolean hasPendingWork(int queue) {
        return false;
    }

    /**
     * How long a worker keeps polling its queues after they ran dry, with driver notifications left off, before it
     * turns them back on and sleeps until the next kick (busy polling, as Linux vhost-net's {@code busyloop_timeout}
     * or a DPDK back-end's poll loop). Work that arrives within the window is taken without a kick, so the driver
     * saves the kick's system call and the worker the wake-up; the window starts again after each batch, so under a
     * steady load the worker never sleeps. The cost is CPU: the worker's carrier spins for up to this long after
     * every burst. Worth it only when the device has a CPU to itself; never on a single CPU shared with the driver.
     *
     * @return the window, from zero (the default: never poll, sleep as soon as the queues are dry) to one second
     */
    default Duration busyPollWindow() {
        return Duration.ZERO;
    }

    /**
     * Learns that a queue was stopped ({@code GET_VRING_BASE}); nothing is in flight on it any more.
     *
     * @param queue the queue index
     */
    default void queueStopped(int queue) {
    }

    /**
     * Learns that a queue was stopped ({@code GET_VRING_BASE}) and where it stands: {@code base} is the value the
     * back-end returned to the front-end, in the ring type's encoding. Split ring: the index of the next available
     * entry the device would have taken (16 bits, wrapping); the chains the driver made available from there on
     * were not taken, and are not the device's to take. Packed ring: bits 0-14 the next avail index (in descriptor
     * slots, below the queue size) and bit 15 its wrap counter, bits 16-30 and bit 31 the same for the used side.
     * Every chain the device popped before the stop was completed. The framework calls this method; the default
     * calls {@link #queueStopped(int)}, so a device that overrides only that one keeps working.
     *
     * @param queue the queue index
     * @param base the ring position returned to the front-end
     */
    default void queueStopped(int queue, long base) {
        queueStopped(queue);
    }

    /**
     * Drops device state at {@code RESET_DEVICE} or at the end of a session; the next session negotiates anew.
     */
    default void reset() {
    }
}
