package io.vhost.api.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.SharedObject;
import io.vhost.api.message.ShmemMapping;
import io.vhost.api.message.VringArea;
import java.util.Optional;

/**
 * Serves the requests a back-end sends to its front-end on the back-end channel ({@code SET_BACKEND_REQ_FD}),
 * one method per request id 1 to 10. Every default method refuses the request as not supported.
 *
 * <p>Calls come one at a time on the front-end's back-end channel reader thread (a virtual thread). A method that
 * returns normally succeeds; one that throws fails the request. The library sends the reply itself, and only when
 * the specification requires one: a u64 ack when the back-end set NEED_REPLY and REPLY_ACK was negotiated, and
 * always for {@code SHARED_OBJECT_LOOKUP}. Fds passed in are closed by the library after the call unless the
 * handler {@link Fd#take() takes} them.
 */
public interface BackendRequestHandler {

    /**
     * Serves {@code BACKEND_IOTLB_MSG} (id 1): an IOTLB miss or access failure.
     *
     * @param message the miss or failure
     * @throws VhostException to fail the request; the default always does
     */
    default void iotlbMessage(IotlbMessage message) throws VhostException {
        throw notSupported("BACKEND_IOTLB_MSG");
    }

    /**
     * Serves {@code BACKEND_CONFIG_CHANGE_MSG} (id 2): the device config space changed; re-read it with GET_CONFIG
     * (from another thread: the reader waits for this method to return).
     *
     * @throws VhostException to fail the request; the default always does
     */
    default void configChanged() throws VhostException {
        throw notSupported("BACKEND_CONFIG_CHANGE_MSG");
    }

    /**
     * Serves {@code BACKEND_VRING_HOST_NOTIFIER_MSG} (id 3): an area the front-end may map for kicks.
     *
     * @param area the ring index, size and offset of the area
     * @param fd the area's fd, or empty when the back-end withdraws the area (NOFD)
     * @throws VhostException to fail the request; the default always does
     */
    default void vringHostNotifier(VringArea area, Optional<Fd> fd) throws VhostException {
        throw notSupported("BACKEND_VRING_HOST_NOTIFIER_MSG");
    }

    /**
     * Serves {@code BACKEND_VRING_CALL} (id 4): an in-band call of a ring.
     *
     * @param queue the ring index
     * @throws VhostException to fail the request; the default always does
     */
    default void vringCall(int queue) throws VhostException {
        throw notSupported("BACKEND_VRING_CALL");
    }

    /**
     * Serves {@code BACKEND_VRING_ERR} (id 5): an in-band error of a ring.
     *
     * @param queue the ring index
     * @throws VhostException to fail the request; the default always does
     */
    default void vringError(int queue) throws VhostException {
        throw notSupported("BACKEND_VRING_ERR");
    }

    /**
     * Serves {@code BACKEND_SHARED_OBJECT_ADD} (id 6).
     *
     * @param object the object's UUID
     * @throws VhostException to fail the request; the default always does
     */
    default void sharedObjectAdd(SharedObject object) throws VhostException {
        throw notSupported("BACKEND_SHARED_OBJECT_ADD");
    }

    /**
     * Serves {@code BACKEND_SHARED_OBJECT_REMOVE} (id 7).
     *
     * @param object the object's UUID
     * @throws VhostException to fail the request; the default always does
     */
    default void sharedObjectRemove(SharedObject object) throws VhostException {
        throw notSupported("BACKEND_SHARED_OBJECT_REMOVE");
    }

    /**
     * Serves {@code BACKEND_SHARED_OBJECT_LOOKUP} (id 8), which is always answered: status 0 and the fd, or a
     * non-zero status and no fd if this method throws.
     *
     * @param object the object's UUID
     * @return the object's dmabuf fd; the handler keeps ownership (the library sends a copy)
     * @throws VhostException to answer a failure; the default always does
     */
    default Fd sharedObjectLookup(SharedObject object) throws VhostException {
        throw notSupported("BACKEND_SHARED_OBJECT_LOOKUP");
    }

    /**
     * Provisional: serves {@code BACKEND_SHMEM_MAP} (id 9).
     *
     * @param mapping the region id, offsets, length and flags
     * @param fd the fd to map; closed after the call unless taken
     * @throws VhostException to fail the request; the default always does
     */
    default void shmemMap(ShmemMapping mapping, Fd fd) throws VhostException {
        throw notSupported("BACKEND_SHMEM_MAP");
    }

    /**
     * Provisional: serves {@code BACKEND_SHMEM_UNMAP} (id 10).
     *
     * @param mapping the range to unmap
     * @throws VhostException to fail the request; the default always does
     */
    default void shmemUnmap(ShmemMapping mapping) throws VhostException {
        throw notSupported("BACKEND_SHMEM_UNMAP");
    }

    /**
     * Builds the exception the default methods throw.
     *
     * @param request the specification name of the request without the {@code VHOST_USER_} prefix
     * @return a {@link RequestRejectedException} naming the request
     */
    static RequestRejectedException notSupported(String request) {
        return new RequestRejectedException(request + " is not supported by this front-end's BackendRequestHandler;"
                + " override the method to serve it");
    }
}
