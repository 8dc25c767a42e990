package io.vhost.impl.codec;

import io.vhost.api.message.BackendRequest;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.HeaderFlags;
import java.util.Optional;

/**
 * A decoded 12-byte vhost-user header: request code (u32), flags (u32) and payload size (u32).
 *
 * @param request the request code, 0..2^32-1 (may be unknown to this library)
 * @param flags the flags word
 * @param size the payload size in bytes, already checked against {@link VhostUserCodec#MAX_PAYLOAD_BYTES}
 */
public record Header(long request, int flags, long size) {

    // Shared instances for most control-plane traffic, so that decoding its headers allocates nothing: every request
    // id of the tables, every valid flags word (version 1, REPLY and NEED_REPLY either way) and a payload of 0 or 8
    // bytes (no body, a u64, a vring state or a reply-ack).
    private static final int SHARED_IDS = FrontendRequest.values().length + 1; // the larger table; ids are 1..n
    private static final Header[] SHARED = new Header[SHARED_IDS * 4 * 2];

    static {
        for (int id = 0; id < SHARED_IDS; id++) {
            for (int bits = 0; bits < 4; bits++) { // REPLY and NEED_REPLY
                for (int size = 0; size <= 8; size += 8) {
                    int flags = HeaderFlags.VERSION | bits << 2;
                    SHARED[sharedIndex(id, flags, size)] = new Header(id, flags, size);
                }
            }
        }
    }

    /**
     * Returns the header with these fields: a shared instance for the common cases above, else a new one.
     *
     * @param request the request code
     * @param flags the flags word
     * @param size the payload size
     * @return the header
     */
    static Header of(long request, int flags, long size) {
        boolean shared = request >= 0 && request < SHARED_IDS && (size == 0 || size == 8)
                && (flags & ~HeaderFlags.KNOWN_MASK) == 0 && (flags & HeaderFlags.VERSION_MASK) == HeaderFlags.VERSION;
        return shared ? SHARED[sharedIndex((int) request, flags, (int) size)] : new Header(request, flags, size);
    }

    private static int sharedIndex(int request, int flags, int size) {
        return (request * 4 + (flags >>> 2)) * 2 + size / 8;
    }

    /**
     * Tells whether the REPLY flag is set.
     *
     * @return {@code true} for a reply
     */
    public boolean isReply() {
        return (flags & HeaderFlags.REPLY) != 0;
    }

    /**
     * Tells whether the NEED_REPLY flag is set.
     *
     * @return {@code true} if the sender asks for a reply-ack
     */
    public boolean needsReply() {
        return (flags & HeaderFlags.NEED_REPLY) != 0;
    }

    /**
     * Looks the code up as a front-end request.
     *
     * @return the request, or empty when the id is unknown
     */
    public Optional<FrontendRequest> frontendRequest() {
        return FrontendRequest.byId(request);
    }

    /**
     * Looks the code up as a back-end request.
     *
     * @return the request, or empty when the id is unknown
     */
    public Optional<BackendRequest> backendRequest() {
        return BackendRequest.byId(request);
    }
}
