package io.vhost.api.message;

import io.vhost.api.feature.ProtocolFeature;
import static io.vhost.api.message.Body.*;
import static io.vhost.api.message.Fds.*;
import static io.vhost.api.message.ReplyKind.*;

import io.vhost.api.feature.VirtioFeature;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * The rule table of back-end requests ({@code VhostUserBackendRequest}), sent by the back-end on the channel opened by
 * {@code SET_BACKEND_REQ_FD} (so all of them also need {@code BACKEND_REQ}). Ids 1 to 8 are QEMU master; 9 and 10
 * follow the newest SHMEM series and are {@link #provisional()}. Fds on this channel also need
 * {@code BACKEND_SEND_FD}.
 */
public enum BackendRequest implements Request {
    /** Reports an IOTLB miss or access failure. */
    BACKEND_IOTLB_MSG(1, IOTLB, NONE, Gate.virtio(VirtioFeature.ACCESS_PLATFORM), ACK_IF_ASKED, U64, NONE, false),
    /** Tells the front-end the device config space changed. */
    BACKEND_CONFIG_CHANGE_MSG(2, EMPTY, NONE, Gate.protocol(ProtocolFeature.CONFIG), ACK_IF_ASKED, U64, NONE, false),
    /** Offers a host notifier area (fd unless the NOFD bit removes it). */
    BACKEND_VRING_HOST_NOTIFIER_MSG(3, VRING_AREA, ONE_UNLESS_NOFD, Gate.protocol(ProtocolFeature.HOST_NOTIFIER), ACK_IF_ASKED, U64,
            NONE, false),
    /** In-band call of a ring. */
    BACKEND_VRING_CALL(4, VRING_STATE, NONE, Gate.protocol(ProtocolFeature.INBAND_NOTIFICATIONS), ACK_IF_ASKED, U64, NONE, false),
    /** In-band error of a ring. */
    BACKEND_VRING_ERR(5, VRING_STATE, NONE, Gate.protocol(ProtocolFeature.INBAND_NOTIFICATIONS), ACK_IF_ASKED, U64, NONE, false),
    /** Adds a shared object to the front-end's table. */
    BACKEND_SHARED_OBJECT_ADD(6, Body.SHARED_OBJECT, NONE, Gate.protocol(ProtocolFeature.SHARED_OBJECT), ACK_IF_ASKED, U64, NONE,
            false),
    /** Removes a shared object the back-end owns. */
    BACKEND_SHARED_OBJECT_REMOVE(7, Body.SHARED_OBJECT, NONE, Gate.protocol(ProtocolFeature.SHARED_OBJECT), ACK_IF_ASKED, U64, NONE,
            false),
    /** Looks up a shared object; always replies with a u64 and a dmabuf fd (or none). */
    BACKEND_SHARED_OBJECT_LOOKUP(8, Body.SHARED_OBJECT, NONE, Gate.protocol(ProtocolFeature.SHARED_OBJECT), ALWAYS, U64,
            ZERO_OR_ONE, false),
    /** Provisional: maps an fd range into a VIRTIO shared memory region. */
    BACKEND_SHMEM_MAP(9, Body.SHMEM_MAP, EXACTLY_ONE, Gate.protocol(ProtocolFeature.SHMEM), ACK_IF_ASKED, U64, NONE, true),
    /** Provisional: unmaps a range previously mapped by BACKEND_SHMEM_MAP. */
    BACKEND_SHMEM_UNMAP(10, Body.SHMEM_MAP, NONE, Gate.protocol(ProtocolFeature.SHMEM), ACK_IF_ASKED, U64, NONE, true);

    // One shared Optional per id, so that looking up a received header's request allocates nothing.
    private static final List<Optional<BackendRequest>> BY_ID = byIdTable();

    private final Rule rule;

    BackendRequest(int id, Body body, Fds fds, Gate gate, ReplyKind reply, Body replyBody, Fds replyFds,
            boolean provisional) {
        this.rule = new Rule(id, body, fds, gate, reply, replyBody, replyFds, provisional);
    }

    /**
     * Finds the request with a wire id.
     *
     * @param id the header's request field
     * @return the request, or empty for 0 and unknown ids
     */
    public static Optional<BackendRequest> byId(long id) {
        return id > 0 && id < BY_ID.size() ? BY_ID.get((int) id) : Optional.empty();
    }

    private static List<Optional<BackendRequest>> byIdTable() {
        List<Optional<BackendRequest>> table = new ArrayList<>(Collections.nCopies(values().length + 1, Optional.empty()));
        for (BackendRequest r : values()) {
            table.set(r.rule.id(), Optional.of(r));
        }
        return List.copyOf(table);
    }

    @Override
    public Rule rule() {
        return rule;
    }
}
