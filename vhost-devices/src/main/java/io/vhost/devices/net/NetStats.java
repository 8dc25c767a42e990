package io.vhost.devices.net;

/**
 * A snapshot of a {@link NetDevice}'s counters, seen from the device: "tx" is what the driver transmitted (taken
 * from the transmit queues), "rx" what the device delivered on the receive queues.
 *
 * @param txFrames frames taken from the transmit queues with a valid header
 * @param txBytes their Ethernet bytes (virtio-net header excluded)
 * @param rxFrames frames written into receive buffers and returned to the driver
 * @param rxBytes their Ethernet bytes (header excluded)
 * @param dropped loopback frames dropped because the receive queue had no buffer (or too few for the frame), or
 *     because the queue pair's backlog was full
 * @param errors malformed transmit chains returned unread: header shorter than the negotiated size, frame larger
 *     than the device's limit, or device-writable descriptors on a transmit queue
 */
public record NetStats(long txFrames, long txBytes, long rxFrames, long rxBytes, long dropped, long errors) {
}
