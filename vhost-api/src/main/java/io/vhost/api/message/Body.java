package io.vhost.api.message;

/**
 * The payload shapes of vhost-user messages, with their size rule in bytes (exact when {@link #minBytes()} equals
 * {@link #maxBytes()}). The maxima are explicit so that a receiver never allocates what a header's u32 size claims.
 */
public enum Body {
    /** No payload. */
    EMPTY(0, 0),
    /** A u64 (features, status, ack, session id, MTU, MAC...). */
    U64(8, 8),
    /** Either nothing or a u64 (the {@code SET_LOG_BASE} reply: peers differ, see FEATURES.md 4.6). */
    U64_OR_EMPTY(0, 8),
    /** {@code struct vhost_vring_state}: index u32, num u32. */
    VRING_STATE(8, 8),
    /** {@code struct vhost_vring_addr}: index, flags, desc, used, avail, log. */
    VRING_ADDR(40, 40),
    /** A u64 holding a vring index (bits 0-7) and the no-fd flag (bit 8). */
    VRING_FD(8, 8),
    /** Multiple memory regions: num u32, padding u32, up to 8 regions of 32 bytes (40 with XEN_MMAP). */
    MEMORY_TABLE(8, 8 + 8 * 40),
    /** Single memory region: 8 bytes padding + one region of 32 bytes (40 with XEN_MMAP). */
    SINGLE_REGION(40, 48),
    /** Log description: size u64, offset u64. */
    LOG(16, 16),
    /** {@code struct vhost_iotlb_msg}: iova, size, uaddr, perm u8, type u8, padded to 32. */
    IOTLB(32, 32),
    /** Device config space: offset u32, size u32, flags u32, then up to 4096 bytes. */
    CONFIG(12, 12 + 4096),
    /** The GET_CONFIG reply: a config space payload, or no payload at all to signal an error. */
    CONFIG_OR_EMPTY(0, 12 + 4096),
    /** Crypto session description: session id i64 then an opaque setup block (bounded to 4096 bytes total). */
    CRYPTO_SESSION(8, 4096),
    /** Inflight description: mmap size u64, mmap offset u64, num queues u16, queue size u16, tail padding. */
    INFLIGHT(24, 24),
    /** {@code VhostUserShared}: a 16-byte UUID. */
    SHARED_OBJECT(16, 16),
    /** Device-state transfer parameters: direction u32, phase u32. */
    DEVICE_STATE(8, 8),
    /** {@code VhostUserShMemConfig}: num regions u32, padding u32, 256 u64 sizes (provisional). */
    SHMEM_CONFIG(8 + 256 * 8, 8 + 256 * 8),
    /** {@code VhostUserMMap}: shmid u8, 7 bytes padding, fd offset, shm offset, len, flags (provisional). */
    SHMEM_MAP(40, 40),
    /** Vring area: u64 (index bits 0-7, no-fd bit 8), size u64, offset u64. */
    VRING_AREA(24, 24);

    private final int minBytes;
    private final int maxBytes;

    Body(int minBytes, int maxBytes) {
        this.minBytes = minBytes;
        this.maxBytes = maxBytes;
    }

    /**
     * Returns the smallest valid payload size.
     *
     * @return the minimum size in bytes
     */
    public int minBytes() {
        return minBytes;
    }

    /**
     * Returns the largest valid payload size; a larger header size is rejected before any allocation.
     *
     * @return the maximum size in bytes
     */
    public int maxBytes() {
        return maxBytes;
    }

    /**
     * Formats the size rule, e.g. {@code 8} or {@code 8..328}.
     *
     * @return the rule for documentation and error messages
     */
    public String sizeRule() {
        return minBytes == maxBytes ? Integer.toString(minBytes) : minBytes + ".." + maxBytes;
    }
}
