package io.vhost.api.feature;

/**
 * vhost-user protocol feature bits ({@code VHOST_USER_PROTOCOL_F_*}), negotiated by
 * {@code VHOST_USER_GET_PROTOCOL_FEATURES} and {@code VHOST_USER_SET_PROTOCOL_FEATURES}.
 *
 * <p>Bits 0 to 20 are in the QEMU master specification (2026-02). Bits 21 to 23 follow the newest SHMEM series
 * text and are {@link #provisional()}: their numbers may still change, and they are never offered unless a device
 * opts in.
 */
public enum ProtocolFeature implements FeatureBit {
    /** Multiple queues; gates {@code GET_QUEUE_NUM}. */
    MQ(0, false),
    /** Shared-memory dirty log; gates {@code SET_LOG_BASE} with an fd and its reply. */
    LOG_SHMFD(1, false),
    /** {@code SEND_RARP} after migration (net). */
    RARP(2, false),
    /** Acknowledge any request that sets NEED_REPLY with a u64 status. */
    REPLY_ACK(3, false),
    /** {@code NET_SET_MTU} (net). */
    MTU(4, false),
    /** The back-end request channel opened by {@code SET_BACKEND_REQ_FD} (formerly SLAVE_REQ). */
    BACKEND_REQ(5, false),
    /** {@code SET_VRING_ENDIAN} for legacy cross-endian devices. */
    CROSS_ENDIAN(6, false),
    /** {@code CREATE_CRYPTO_SESSION} and {@code CLOSE_CRYPTO_SESSION}. */
    CRYPTO_SESSION(7, false),
    /** Postcopy migration with userfaultfd. */
    PAGEFAULT(8, false),
    /** {@code GET_CONFIG}, {@code SET_CONFIG} and {@code BACKEND_CONFIG_CHANGE_MSG}. */
    CONFIG(9, false),
    /** The back-end may pass fds on its channel (formerly SLAVE_SEND_FD). */
    BACKEND_SEND_FD(10, false),
    /** {@code BACKEND_VRING_HOST_NOTIFIER_MSG}. */
    HOST_NOTIFIER(11, false),
    /** {@code GET_INFLIGHT_FD} and {@code SET_INFLIGHT_FD}. */
    INFLIGHT_SHMFD(12, false),
    /** {@code RESET_DEVICE}. */
    RESET_DEVICE(13, false),
    /** In-band notifications: {@code VRING_KICK}, {@code BACKEND_VRING_CALL}, {@code BACKEND_VRING_ERR}. */
    INBAND_NOTIFICATIONS(14, false),
    /** {@code GET_MAX_MEM_SLOTS}, {@code ADD_MEM_REG}, {@code REM_MEM_REG}. */
    CONFIGURE_MEM_SLOTS(15, false),
    /** {@code SET_STATUS} and {@code GET_STATUS}. */
    STATUS(16, false),
    /** Xen memory regions: each region description gains xen_mmap_flags and domid. */
    XEN_MMAP(17, false),
    /** {@code GET_SHARED_OBJECT} and the back-end shared-object requests. */
    SHARED_OBJECT(18, false),
    /** {@code SET_DEVICE_STATE_FD} and {@code CHECK_DEVICE_STATE}. */
    DEVICE_STATE(19, false),
    /** {@code GET_VRING_BASE} with num = 1 suspends in-flight requests instead of draining them. */
    GET_VRING_BASE_INFLIGHT(20, false),
    /** Provisional (newest series): ring and region addresses are guest physical addresses. */
    GPA_ADDRESSES(21, true),
    /** Provisional (newest series): VIRTIO shared memory regions ({@code GET_SHMEM_CONFIG}, SHMEM_MAP/UNMAP). */
    SHMEM(22, true),
    /** Provisional (newest series): {@code GET_VRING_BASE_SKIP_DRAIN}. */
    GET_VRING_BASE_SKIP_DRAIN(23, true);

    private final int bit;
    private final boolean provisional;

    ProtocolFeature(int bit, boolean provisional) {
        this.bit = bit;
        this.provisional = provisional;
    }

    @Override
    public int bit() {
        return bit;
    }

    @Override
    public boolean provisional() {
        return provisional;
    }

    @Override
    public String specName() {
        return "VHOST_USER_PROTOCOL_F_" + name();
    }

    /**
     * Returns the mask of every bit this enum names, including provisional ones.
     *
     * @return the OR of all masks
     */
    public static long knownMask() {
        long m = 0;
        for (ProtocolFeature f : values()) {
            m |= f.mask();
        }
        return m;
    }

    /**
     * Returns the mask of every mainline (non-provisional) bit.
     *
     * @return the OR of the masks of all non-provisional bits
     */
    public static long mainlineMask() {
        long m = 0;
        for (ProtocolFeature f : values()) {
            if (!f.provisional) {
                m |= f.mask();
            }
        }
        return m;
    }
}
