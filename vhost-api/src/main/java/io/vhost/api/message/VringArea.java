package io.vhost.api.message;

/**
 * The vring area description of {@code BACKEND_VRING_HOST_NOTIFIER_MSG}: a u64 (index bits 0-7, no-fd bit 8), the
 * area size and its offset in the fd.
 *
 * @param vring the ring index and no-fd flag (same encoding as {@link VringFd})
 * @param sizeBytes size of the area
 * @param offset offset of the area in the fd
 */
public record VringArea(VringFd vring, long sizeBytes, long offset) {
    /** Checks the ring is given and offset + size does not wrap. */
    public VringArea {
        java.util.Objects.requireNonNull(vring, "vring");
        Check.noWrap("vring area", "offset", offset, sizeBytes);
    }
}
