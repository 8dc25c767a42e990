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
