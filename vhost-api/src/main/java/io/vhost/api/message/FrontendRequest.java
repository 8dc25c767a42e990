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
 * The rule table of front-end requests ({@code VhostUserRequest}), sent by the front-end on the main socket.
 *
 * <p>Ids 1 to 43 are QEMU master (2026-02); ids 44 and 45 follow the newest SHMEM series text and are
 * {@link #provisional()}. Columns: id, request body, request fds, gate, reply kind, reply body, reply fds,
 * provisional.
 */
public enum FrontendRequest implements Request {
    /** Reads the back-end's virtio feature bits. */
    GET_FEATURES(1, EMPTY, NONE, Gate.NONE, ALWAYS, U64, NONE, false),
    /** Acks virtio feature bits. */
    SET_FEATURES(2, U64, NONE, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Starts a session ("owner"). */
    SET_OWNER(3, EMPTY, NONE, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Deprecated: the back-end ignores it or disables all rings. */
    RESET_OWNER(4, EMPTY, NONE, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Sets the whole memory table, one fd per region; postcopy replies with the mapped bases. */
    SET_MEM_TABLE(5, MEMORY_TABLE, ONE_PER_REGION, Gate.NONE, POSTCOPY, MEMORY_TABLE, NONE, false),
    /** Sets the dirty log area (shared memory fd); replies when LOG_SHMFD is negotiated. */
    SET_LOG_BASE(6, LOG, EXACTLY_ONE, Gate.protocol(ProtocolFeature.LOG_SHMFD), IF_GATE, U64_OR_EMPTY, NONE, false),
    /** Sets an eventfd signalled after log writes. */
    SET_LOG_FD(7, EMPTY, EXACTLY_ONE, Gate.protocol(ProtocolFeature.LOG_SHMFD), ACK_IF_ASKED, U64, NONE, false),
    /** Sets a ring's size. */
    SET_VRING_NUM(8, VRING_STATE, NONE, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Sets a ring's addresses. */
    SET_VRING_ADDR(9, VRING_ADDR, NONE, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Sets a ring's next available (and for packed rings used) index. */
    SET_VRING_BASE(10, VRING_STATE, NONE, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Stops a ring and returns its base. */
    GET_VRING_BASE(11, VRING_STATE, NONE, Gate.NONE, ALWAYS, VRING_STATE, NONE, false),
    /** Sets a ring's kick eventfd (or polling with the NOFD bit). */
    SET_VRING_KICK(12, VRING_FD, ONE_UNLESS_NOFD, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Sets a ring's call eventfd. */
    SET_VRING_CALL(13, VRING_FD, ONE_UNLESS_NOFD, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Sets a ring's error eventfd. */
    SET_VRING_ERR(14, VRING_FD, ONE_UNLESS_NOFD, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Reads the back-end's protocol features; valid before SET_FEATURES. */
    GET_PROTOCOL_FEATURES(15, EMPTY, NONE, Gate.virtio(VirtioFeature.PROTOCOL_FEATURES), ALWAYS, U64, NONE, false),
    /** Acks protocol features. */
    SET_PROTOCOL_FEATURES(16, U64, NONE, Gate.virtio(VirtioFeature.PROTOCOL_FEATURES), ACK_IF_ASKED, U64, NONE,
            false),
    /** Reads the number of queues the back-end supports. */
    GET_QUEUE_NUM(17, EMPTY, NONE, Gate.protocol(ProtocolFeature.MQ), ALWAYS, U64, NONE, false),
    /** Enables (num 1) or disables (num 0) a ring. */
    SET_VRING_ENABLE(18, VRING_STATE, NONE, Gate.virtio(VirtioFeature.PROTOCOL_FEATURES), ACK_IF_ASKED, U64, NONE,
            false),
    /** Asks a net back-end to broadcast a RARP for the MAC in bytes 0-5. */
    SEND_RARP(19, U64, NONE, Gate.protocol(ProtocolFeature.RARP), ACK_IF_ASKED, U64, NONE, false),
    /** Sets a net back-end's MTU. */
    NET_SET_MTU(20, U64, NONE, Gate.protocol(ProtocolFeature.MTU), ACK_IF_ASKED, U64, NONE, false),
    /** Opens the back-end request channel (socket fd). */
    SET_BACKEND_REQ_FD(21, EMPTY, EXACTLY_ONE, Gate.protocol(ProtocolFeature.BACKEND_REQ), ACK_IF_ASKED, U64, NONE, false),
    /** Sends a device IOTLB update or invalidation; always replies with a u64 status. */
    IOTLB_MSG(22, IOTLB, NONE, Gate.virtio(VirtioFeature.ACCESS_PLATFORM), ALWAYS, U64, NONE, false),
    /** Sets a ring's endianness (legacy cross-endian). */
    SET_VRING_ENDIAN(23, VRING_STATE, NONE, Gate.protocol(ProtocolFeature.CROSS_ENDIAN), ACK_IF_ASKED, U64, NONE, false),
    /** Reads device config space; the reply has the same size (zero payload size = error). */
    GET_CONFIG(24, Body.CONFIG, NONE, Gate.protocol(ProtocolFeature.CONFIG), ALWAYS, CONFIG_OR_EMPTY, NONE, false),
    /** Writes device config space. */
    SET_CONFIG(25, Body.CONFIG, NONE, Gate.protocol(ProtocolFeature.CONFIG), ACK_IF_ASKED, U64, NONE, false),
    /** Creates a crypto session; replies with the session description. */
    CREATE_CRYPTO_SESSION(26, Body.CRYPTO_SESSION, NONE, Gate.protocol(ProtocolFeature.CRYPTO_SESSION), ALWAYS, Body.CRYPTO_SESSION,
            NONE, false),
    /** Closes a crypto session by id. */
    CLOSE_CRYPTO_SESSION(27, U64, NONE, Gate.protocol(ProtocolFeature.CRYPTO_SESSION), ACK_IF_ASKED, U64, NONE, false),
    /** Starts postcopy: the back-end replies with a userfaultfd. */
    POSTCOPY_ADVISE(28, EMPTY, NONE, Gate.protocol(ProtocolFeature.PAGEFAULT), ALWAYS, U64, EXACTLY_ONE, false),
    /** Enters postcopy listening mode. */
    POSTCOPY_LISTEN(29, EMPTY, NONE, Gate.protocol(ProtocolFeature.PAGEFAULT), ACK_IF_ASKED, U64, NONE, false),
    /** Ends postcopy; replies with a u64 status. */
    POSTCOPY_END(30, EMPTY, NONE, Gate.protocol(ProtocolFeature.PAGEFAULT), ALWAYS, U64, NONE, false),
    /** Asks for an inflight tracking area; replies with its description and memfd. */
    GET_INFLIGHT_FD(31, INFLIGHT, NONE, Gate.protocol(ProtocolFeature.INFLIGHT_SHMFD), IF_GATE, INFLIGHT, EXACTLY_ONE, false),
    /** Hands back an inflight tracking area (after reconnect). */
    SET_INFLIGHT_FD(32, INFLIGHT, EXACTLY_ONE, Gate.protocol(ProtocolFeature.INFLIGHT_SHMFD), ACK_IF_ASKED, U64, NONE, false),
    /** Passes the vhost-user-gpu socket. */
    GPU_SET_SOCKET(33, EMPTY, EXACTLY_ONE, Gate.NONE, ACK_IF_ASKED, U64, NONE, false),
    /** Resets the device, keeping ownership. */
    RESET_DEVICE(34, EMPTY, NONE, Gate.protocol(ProtocolFeature.RESET_DEVICE), ACK_IF_ASKED, U64, NONE, false),
    /** In-band kick of a ring (num is unused). */
    VRING_KICK(35, VRING_STATE, NONE, Gate.protocol(ProtocolFeature.INBAND_NOTIFICATIONS), ACK_IF_ASKED, U64, NONE, false),
    /** Reads the maximum number of memory slots. */
    GET_MAX_MEM_SLOTS(36, EMPTY, NONE, Gate.protocol(ProtocolFeature.CONFIGURE_MEM_SLOTS), ALWAYS, U64, NONE, false),
    /** Adds one memory region with its fd; postcopy replies with the mapped region. */
    ADD_MEM_REG(37, SINGLE_REGION, EXACTLY_ONE, Gate.protocol(ProtocolFeature.CONFIGURE_MEM_SLOTS), POSTCOPY, SINGLE_REGION, NONE,
            false),
    /** Removes one memory region; an fd, if sent, is accepted and closed. */
    REM_MEM_REG(38, SINGLE_REGION, ZERO_OR_ONE_CLOSED, Gate.protocol(ProtocolFeature.CONFIGURE_MEM_SLOTS), ACK_IF_ASKED, U64, NONE,
            false),
    /** Sets the virtio device status byte. */
    SET_STATUS(39, U64, NONE, Gate.protocol(ProtocolFeature.STATUS), ACK_IF_ASKED, U64, NONE, false),
    /** Reads the virtio device status byte. */
    GET_STATUS(40, EMPTY, NONE, Gate.protocol(ProtocolFeature.STATUS), ALWAYS, U64, NONE, false),
    /** Looks up a shared object by UUID; replies with a u64 and a dmabuf fd (or none). */
    GET_SHARED_OBJECT(41, Body.SHARED_OBJECT, NONE, Gate.protocol(ProtocolFeature.SHARED_OBJECT), ALWAYS, U64, ZERO_OR_ONE, false),
    /** Starts a device-state transfer over a pipe; replies with a u64 (bit 8: no fd returned) and maybe an fd. */
    SET_DEVICE_STATE_FD(42, Body.DEVICE_STATE, EXACTLY_ONE, Gate.protocol(ProtocolFeature.DEVICE_STATE), ALWAYS, U64, ZERO_OR_ONE,
            false),
    /** Checks that the device-state transfer succeeded; replies with a u64. */
    CHECK_DEVICE_STATE(43, EMPTY, NONE, Gate.protocol(ProtocolFeature.DEVICE_STATE), ALWAYS, U64, NONE, false),
    /** Provisional: reads the VIRTIO shared memory region sizes. */
    GET_SHMEM_CONFIG(44, EMPTY, NONE, Gate.protocol(ProtocolFeature.SHMEM), ALWAYS, Body.SHMEM_CONFIG, NONE, true),
    /** Provisional: stops a ring without draining in-flight requests and returns its base. */
    GET_VRING_BASE_SKIP_DRAIN(45, VRING_STATE, NONE, Gate.protocol(ProtocolFeature.GET_VRING_BASE_SKIP_DRAIN), ALWAYS, VRING_STATE,
            NONE, true);

    // One shared Optional per id, so that looking up a received header's request allocates nothing.
    private static final List<Optional<FrontendRequest>> BY_ID = byIdTable();

    private final Rule rule;

    FrontendRequest(int id, Body body, Fds fds, Gate gate, ReplyKind reply, Body replyBody, Fds replyFds,
            boolean provisional) {
        this.rule = new Rule(id, body, fds, gate, reply, replyBody, replyFds, provisional);
    }

    /**
     * Finds the request with a wire id.
     *
     * @param id the header's request field (u32, as a long so that large values are not misread)
     * @return the request, or empty for 0 and unknown ids
     */
    public static Optional<FrontendRequest> byId(long id) {
        return id > 0 && id < BY_ID.size() ? BY_ID.get((int) id) : Optional.empty();
    }

    private static List<Optional<FrontendRequest>> byIdTable() {
        List<Optional<FrontendRequest>> table = new ArrayList<>(Collections.nCopies(values().length + 1, Optional.empty()));
        for (FrontendRequest r : values()) {
            table.set(r.rule.id(), Optional.of(r));
        }
        return List.copyOf(table);
    }

    @Override
    public Rule rule() {
        return rule;
    }
}
