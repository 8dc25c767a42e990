package io.vhost.api.message;

/**
 * A ring index and a number ({@code struct vhost_vring_state}), the payload of {@code SET_VRING_NUM},
 * {@code SET_VRING_BASE}, {@code GET_VRING_BASE} (request and reply), {@code SET_VRING_ENABLE},
 * {@code SET_VRING_ENDIAN}, {@code VRING_KICK}, {@code GET_VRING_BASE_SKIP_DRAIN}, {@code BACKEND_VRING_CALL} and
 * {@code BACKEND_VRING_ERR}. Whether the index is below the queue count is the engine's check.
 *
 * @param index the ring index (u32)
 * @param num the number: size, base, enable flag... depending on the request (u32)
 */
public record VringState(long index, long num) {
    /** Checks both fields are u32 values. */
    public VringState {
        Check.u32("vring index", index);
        Check.u32("num", num);
    }
}
