package io.vhost.api.message;

import java.util.Objects;
import java.util.UUID;

/**
 * {@code VhostUserShared}: the 16-byte UUID of a shared (dmabuf) object, in {@code GET_SHARED_OBJECT} and the
 * back-end's shared-object requests. On the wire its first three fields are big-endian, so the wire bytes are the
 * standard RFC 4122 byte order of the UUID.
 *
 * @param uuid the object's UUID
 */
public record SharedObject(UUID uuid) {
    /** Checks the UUID is given. */
    public SharedObject {
        Objects.requireNonNull(uuid, "uuid");
    }
}
