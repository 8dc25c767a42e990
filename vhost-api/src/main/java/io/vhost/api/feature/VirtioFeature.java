package io.vhost.api.feature;

/**
 * The virtio and vhost feature bits that vhost-user itself interprets, exchanged by {@code VHOST_USER_GET_FEATURES}
 * and {@code VHOST_USER_SET_FEATURES}. Other device bits pass through as raw bits of a {@link FeatureSet}.
 *
 * <p>The {@code NET_*} constants are virtio-net device bits (their numbers are device-specific): they gate
 * {@code NET_SET_MTU} and {@code SEND_RARP} for net devices only.
 */
public enum VirtioFeature implements FeatureBit {
    /** virtio-net {@code VIRTIO_NET_F_MTU}: the device reports a maximum MTU. */
    NET_MTU(3, "VIRTIO_NET_F_MTU"),
    /** virtio-net {@code VIRTIO_NET_F_GUEST_ANNOUNCE}: the guest announces itself after migration. */
    NET_GUEST_ANNOUNCE(21, "VIRTIO_NET_F_GUEST_ANNOUNCE"),
    /** virtio-net {@code VIRTIO_NET_F_MQ}: multiple queue pairs. */
    NET_MQ(22, "VIRTIO_NET_F_MQ"),
    /** Legacy {@code VIRTIO_F_NOTIFY_ON_EMPTY}. */
    NOTIFY_ON_EMPTY(24, "VIRTIO_F_NOTIFY_ON_EMPTY"),
    /** {@code VHOST_F_LOG_ALL}: dirty-page logging is on (toggled during migration). */
    LOG_ALL(26, "VHOST_F_LOG_ALL"),
    /** {@code VIRTIO_RING_F_INDIRECT_DESC}: indirect descriptor tables. */
    INDIRECT_DESC(28, "VIRTIO_RING_F_INDIRECT_DESC"),
    /** {@code VIRTIO_RING_F_EVENT_IDX}: used_event/avail_event notification suppression. */
    EVENT_IDX(29, "VIRTIO_RING_F_EVENT_IDX"),
    /** {@code VHOST_USER_F_PROTOCOL_FEATURES}: protocol-feature negotiation and ring-enable semantics. */
    PROTOCOL_FEATURES(30, "VHOST_USER_F_PROTOCOL_FEATURES"),
    /** {@code VIRTIO_F_VERSION_1}: virtio 1.x, little-endian rings. */
    VERSION_1(32, "VIRTIO_F_VERSION_1"),
    /** {@code VIRTIO_F_ACCESS_PLATFORM} (formerly IOMMU_PLATFORM): ring addresses are IOVAs; gates IOTLB. */
    ACCESS_PLATFORM(33, "VIRTIO_F_ACCESS_PLATFORM"),
    /** {@code VIRTIO_F_RING_PACKED}: packed virtqueue layout. */
    RING_PACKED(34, "VIRTIO_F_RING_PACKED"),
    /** {@code VIRTIO_F_IN_ORDER}: buffers are used in the order they were made available. */
    IN_ORDER(35, "VIRTIO_F_IN_ORDER"),
    /** {@code VIRTIO_F_ORDER_PLATFORM}: platform memory ordering. */
    ORDER_PLATFORM(36, "VIRTIO_F_ORDER_PLATFORM"),
    /** {@code VIRTIO_F_SR_IOV}. */
    SR_IOV(37, "VIRTIO_F_SR_IOV"),
    /** {@code VIRTIO_F_NOTIFICATION_DATA}. */
    NOTIFICATION_DATA(38, "VIRTIO_F_NOTIFICATION_DATA"),
    /** {@code VIRTIO_F_RING_RESET}. */
    RING_RESET(40, "VIRTIO_F_RING_RESET");

    private final int bit;
    private final String specName;

    VirtioFeature(int bit, String specName) {
        this.bit = bit;
        this.specName = specName;
    }

    @Override
    public int bit() {
        return bit;
    }

    /** Virtio bits are never provisional. */
    @Override
    public boolean provisional() {
        return false;
    }

    @Override
    public String specName() {
        return specName;
    }
}
