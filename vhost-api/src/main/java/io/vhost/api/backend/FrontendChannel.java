package io.vhost.api.backend;

import io.vhost.api.Fd;
import io.vhost.api.error.VhostException;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.ShmemMapping;
import io.vhost.api.message.VringArea;
import java.util.Optional;
import java.util.UUID;

/**
 * Sends back-end requests to the front-end over the channel opened by {@code SET_BACKEND_REQ_FD} (spec §Back-end
 * message types), one method per request.
 *
 * <p>Each call holds one lock over the feature check, the send and the reply read, so calls from several device
 * threads never interleave on the socket. A call waits for the front-end's ack only when {@code REPLY_ACK} was
 * negotiated (the request then carries NEED_REPLY); a non-zero ack raises {@link io.vhost.api.error.RequestRejectedException}.
 * {@link #sharedObjectLookup} always waits for its reply. A call needing a protocol feature that was not negotiated
 * raises {@link io.vhost.api.error.FeatureNotNegotiatedException} before anything is sent. While every ring is
 * stopped the device is suspended and must not send (spec §Suspended device state).
 *
 * <p>Fds passed in are borrowed: the channel sends them and the caller keeps ownership. Thread-safe.
 */
public interface FrontendChannel {

    /**
     * Sends {@code BACKEND_IOTLB_MSG} (1): an IOTLB miss or access failure.
     *
     * @param message the message, usually of type {@link IotlbMessage.Type#MISS}
     * @throws VhostException if sending fails or the front-end rejects it
     */
    void iotlbMessage(IotlbMessage message) throws VhostException;

    /**
     * Sends {@code BACKEND_CONFIG_CHANGE_MSG} (2): the device config space changed (for example a disk resize).
     *
     * @throws VhostException if sending fails or the front-end rejects it
     */
    void configChanged() throws VhostException;

    /**
     * Sends {@code BACKEND_VRING_HOST_NOTIFIER_MSG} (3, protocol feature {@code HOST_NOTIFIER}): an area of the fd
     * the front-end may map as the ring's doorbell, or, with no fd, withdraws it.
     *
     * @param area the ring, size and offset (its NOFD flag must match {@code fd})
     * @param fd the fd to map, borrowed; empty to withdraw the notifier
     * @throws VhostException if sending fails or the front-end rejects it
     */
    void vringHostNotifier(VringArea area, Optional<Fd> fd) throws VhostException;

    /**
     * Sends {@code BACKEND_VRING_CALL} (4, protocol feature {@code INBAND_NOTIFICATIONS}): an in-band used-buffer
     * notification.
     *
     * @param queue the ring index
     * @throws VhostException if sending fails or the front-end rejects it
     */
    void vringCall(int queue) throws VhostException;

    /**
     * Sends {@code BACKEND_VRING_ERR} (5, protocol feature {@code INBAND_NOTIFICATIONS}): an in-band ring error.
     *
     * @param queue the ring index
     * @throws VhostException if sending fails or the front-end rejects it
     */
    void vringErr(int queue) throws VhostException;

    /**
     * Sends {@code BACKEND_SHARED_OBJECT_ADD} (6, protocol feature {@code SHARED_OBJECT}).
     *
     * @param uuid the object's UUID
     * @throws VhostException if sending fails or the front-end rejects it
     */
    void sharedObjectAdd(UUID uuid) throws VhostException;

    /**
     * Sends {@code BACKEND_SHARED_OBJECT_REMOVE} (7, protocol feature {@code SHARED_OBJECT}).
     *
     * @param uuid the object's UUID
     * @throws VhostException if sending fails or the front-end rejects it
     */
    void sharedObjectRemove(UUID uuid) throws VhostException;

    /**
     * Sends {@code BACKEND_SHARED_OBJECT_LOOKUP} (8, protocol feature {@code SHARED_OBJECT}) and waits for the
     * reply, which always comes.
     *
     * @param uuid the object's UUID
     * @return the object's dmabuf fd, now owned by the caller, or empty if the front-end does not know it
     * @throws VhostException if sending fails, the reply is malformed, or the front-end reports an error
     */
    Optional<Fd> sharedObjectLookup(UUID uuid) throws VhostException;

    /**
     * Sends the provisional {@code BACKEND_SHMEM_MAP} (9, protocol feature {@code SHMEM}): map an area of the fd
     * into a VIRTIO shared memory region.
     *
     * @param mapping region id, offsets, length and flags
     * @param fd the fd to map, borrowed
     * @throws VhostException if sending fails or the front-end rejects it
     */
    void shmemMap(ShmemMapping mapping, Fd fd) throws VhostException;

    /**
     * Sends the provisional {@code BACKEND_SHMEM_UNMAP} (10, protocol feature {@code SHMEM}).
     *
     * @param mapping the mapping to remove, matched exactly
     * @throws VhostException if sending fails or the front-end rejects it
     */
    void shmemUnmap(ShmemMapping mapping) throws VhostException;

    /**
     * Tells whether requests on this channel wait for an ack (REPLY_ACK negotiated).
     *
     * @return {@code true} if each call waits for the front-end's answer
     */
    boolean acksReplies();
}
