package io.vhost.api.message;

import io.vhost.api.Fd;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A request from the back-end on the back-end channel: one record per {@link BackendRequest}, for exhaustive
 * dispatch in the front-end. A message owns the fds it carries; closing it closes those not taken.
 */
public sealed interface BackendMessage extends AutoCloseable {

    /**
     * Returns the rule-table row of this message.
     *
     * @return the request
     */
    BackendRequest request();

    /**
     * Returns the fds this message carries, in wire order; the message owns them until a handler takes one.
     *
     * @return the fds, possibly empty
     */
    default List<Fd> fds() {
        return List.of();
    }

    /** Closes every fd this message still owns (taken fds are already empty); never throws. */
    @Override
    default void close() {
        List<Fd> fds = fds();
        for (int i = 0; i < fds.size(); i++) { // no iterator: closing is on every request's path
            fds.get(i).close();
        }
    }

    /**
     * Reports an IOTLB miss or failure. Spec message {@code VHOST_USER_BACKEND_IOTLB_MSG}.
     *
     * @param message the IOTLB message (miss or access failure)
     */
    record IotlbMiss(IotlbMessage message) implements BackendMessage {
        /** Checks the components are given and consistent. */
        public IotlbMiss {
            Objects.requireNonNull(message, "message");
        }

        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_IOTLB_MSG;
        }
    }

    /**
     * Reports a config space change. Spec message {@code VHOST_USER_BACKEND_CONFIG_CHANGE_MSG}.
     *
     */
    record ConfigChange() implements BackendMessage {
        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_CONFIG_CHANGE_MSG;
        }
    }

    /**
     * Offers a host notifier area. Spec message {@code VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG}.
     *
     * @param area the area
     * @param fd the notifier memory, present unless no-fd; owned by this message
     */
    record VringHostNotifier(VringArea area, Optional<Fd> fd) implements BackendMessage {
        /** Checks the components are given and consistent. */
        public VringHostNotifier {
            Objects.requireNonNull(area, "area");
            Check.noFdFlag(area.vring().noFd(), fd);
        }

        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_VRING_HOST_NOTIFIER_MSG;
        }

        @Override
        public List<Fd> fds() {
            return fd.isPresent() ? List.of(fd.get()) : List.of();
        }
    }

    /**
     * Calls a ring in band. Spec message {@code VHOST_USER_BACKEND_VRING_CALL}.
     *
     * @param state index (num unused)
     */
    record VringCall(VringState state) implements BackendMessage {
        /** Checks the components are given and consistent. */
        public VringCall {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_VRING_CALL;
        }
    }

    /**
     * Signals a ring error in band. Spec message {@code VHOST_USER_BACKEND_VRING_ERR}.
     *
     * @param state index (num unused)
     */
    record VringErr(VringState state) implements BackendMessage {
        /** Checks the components are given and consistent. */
        public VringErr {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_VRING_ERR;
        }
    }

    /**
     * Adds a shared object. Spec message {@code VHOST_USER_BACKEND_SHARED_OBJECT_ADD}.
     *
     * @param object the UUID
     */
    record SharedObjectAdd(SharedObject object) implements BackendMessage {
        /** Checks the components are given and consistent. */
        public SharedObjectAdd {
            Objects.requireNonNull(object, "object");
        }

        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_SHARED_OBJECT_ADD;
        }
    }

    /**
     * Removes a shared object. Spec message {@code VHOST_USER_BACKEND_SHARED_OBJECT_REMOVE}.
     *
     * @param object the UUID
     */
    record SharedObjectRemove(SharedObject object) implements BackendMessage {
        /** Checks the components are given and consistent. */
        public SharedObjectRemove {
            Objects.requireNonNull(object, "object");
        }

        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_SHARED_OBJECT_REMOVE;
        }
    }

    /**
     * Looks up a shared object. Spec message {@code VHOST_USER_BACKEND_SHARED_OBJECT_LOOKUP}.
     *
     * @param object the UUID
     */
    record SharedObjectLookup(SharedObject object) implements BackendMessage {
        /** Checks the components are given and consistent. */
        public SharedObjectLookup {
            Objects.requireNonNull(object, "object");
        }

        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_SHARED_OBJECT_LOOKUP;
        }
    }

    /**
     * Provisional: maps memory into a shared memory region. Spec message {@code VHOST_USER_BACKEND_SHMEM_MAP}.
     *
     * @param mapping the mapping
     * @param fd the memory to map; owned by this message
     */
    record ShmemMap(ShmemMapping mapping, Fd fd) implements BackendMessage {
        /** Checks the components are given and consistent. */
        public ShmemMap {
            Objects.requireNonNull(mapping, "mapping");
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_SHMEM_MAP;
        }

        @Override
        public List<Fd> fds() {
            return List.of(fd);
        }
    }

    /**
     * Provisional: unmaps a shared memory range. Spec message {@code VHOST_USER_BACKEND_SHMEM_UNMAP}.
     *
     * @param mapping the mapping to remove
     */
    record ShmemUnmap(ShmemMapping mapping) implements BackendMessage {
        /** Checks the components are given and consistent. */
        public ShmemUnmap {
            Objects.requireNonNull(mapping, "mapping");
        }

        @Override
        public BackendRequest request() {
            return BackendRequest.BACKEND_SHMEM_UNMAP;
        }
    }
}
