package io.vhost.api.message;

/**
 * The inflight description of {@code GET_INFLIGHT_FD} (request and reply) and {@code SET_INFLIGHT_FD}: 20 bytes of
 * fields padded to 24 on the wire (the C struct's tail padding).
 *
 * @param mmapSizeBytes size of the tracking area (0 in a GET_INFLIGHT_FD request)
 * @param mmapOffset offset of the area in the fd
 * @param numQueues number of queues, 1..65535
 * @param queueSize queue size, 1..65535
 */
public record InflightRegion(long mmapSizeBytes, long mmapOffset, int numQueues, int queueSize) {
    /** Checks u16 ranges, non-zero counts, and that offset + size does not wrap. */
    public InflightRegion {
        Check.u16("num_queues", numQueues);
        Check.u16("queue_size", queueSize);
        if (numQueues == 0 || queueSize == 0) {
            throw new IllegalArgumentException("inflight num_queues " + numQueues + " and queue_size " + queueSize
                    + " must both be non-zero");
        }
        Check.noWrap("inflight", "mmap offset", mmapOffset, mmapSizeBytes);
    }
}
