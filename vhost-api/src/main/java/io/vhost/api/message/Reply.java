package io.vhost.api.message;

import io.vhost.api.Fd;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A typed reply (a message with the REPLY flag and its request's code). Which record a request gets is fixed by its
 * {@link Request#replyBody()}: a u64 for acks and u64 answers, a vring state, a config space, and so on. A reply owns
 * the fds it carries until a caller takes them; close it to close the rest.
 */
public sealed interface Reply extends AutoCloseable {

    /**
     * Returns the fds this reply carries, in wire order.
     *
     * @return the fds, possibly empty
     */
    default List<Fd> fds() {
        return List.of();
    }

    /** Closes every fd this reply still owns; never throws. */
    @Override
    default void close() {
        List<Fd> fds = fds();
        for (int i = 0; i < fds.size(); i++) { // no iterator: closing is on every request's path
            fds.get(i).close();
        }
    }

    /**
     * Returns the reply-ack for REPLY_ACK: 0 for success, non-zero for failure. The two acks are shared instances
     * (immutable, without fd).
     *
     * @param ok whether the request succeeded
     * @return a u64 reply without fd
     */
    static U64 ack(boolean ok) {
        return ok ? U64.ACK_OK : U64.ACK_FAILED;
    }

    /**
     * A u64 reply: a reply-ack, a feature word, a count, a status, or the u64 of GET_SHARED_OBJECT,
     * SET_DEVICE_STATE_FD, POSTCOPY_ADVISE and BACKEND_SHARED_OBJECT_LOOKUP, which may come with one fd.
     *
     * @param value the u64
     * @param fd the fd the reply carries (userfaultfd, dmabuf, state pipe), owned by this reply
     */
    record U64(long value, Optional<Fd> fd) implements Reply {
        private static final U64 ACK_OK = new U64(0);
        private static final U64 ACK_FAILED = new U64(1);

        /** Checks the fd option is given. */
        public U64 {
            Objects.requireNonNull(fd, "fd");
        }

        /**
         * Creates a u64 reply without fd.
         *
         * @param value the u64
         */
        public U64(long value) {
            this(value, Optional.empty());
        }

        @Override
        public List<Fd> fds() {
            return fd.isPresent() ? List.of(fd.get()) : List.of();
        }

        @Override
        public void close() {
            fd.ifPresent(Fd::close);
        }
    }

    /**
     * An empty reply: a {@code SET_LOG_BASE} reply of size 0 (as DPDK sends), or a {@code GET_CONFIG} failure.
     */
    record Empty() implements Reply {
    }

    /**
     * The vring state reply of {@code GET_VRING_BASE} and {@code GET_VRING_BASE_SKIP_DRAIN}.
     *
     * @param state the index and base
     */
    record VringBase(VringState state) implements Reply {
        /** Checks the state is given. */
        public VringBase {
            Objects.requireNonNull(state, "state");
        }
    }

    /**
     * The {@code GET_CONFIG} reply; its size must match the request's.
     *
     * @param config the config space read
     */
    record Config(ConfigSpace config) implements Reply {
        /** Checks the config is given. */
        public Config {
            Objects.requireNonNull(config, "config");
        }
    }

    /**
     * The {@code GET_INFLIGHT_FD} reply: the area description and its memfd.
     *
     * @param inflight the area
     * @param fd the memfd, owned by this reply
     */
    record Inflight(InflightRegion inflight, Fd fd) implements Reply {
        /** Checks both are given. */
        public Inflight {
            Objects.requireNonNull(inflight, "inflight");
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public List<Fd> fds() {
            return List.of(fd);
        }
    }

    /**
     * Provisional: the {@code GET_SHMEM_CONFIG} reply.
     *
     * @param config the region sizes
     */
    record ShmemConfigReply(ShmemConfig config) implements Reply {
        /** Checks the config is given. */
        public ShmemConfigReply {
            Objects.requireNonNull(config, "config");
        }
    }

    /**
     * The postcopy {@code SET_MEM_TABLE} reply: the regions with the back-end's mapped addresses in userAddress.
     *
     * @param table the regions
     */
    record MemoryTableReply(MemoryTable table) implements Reply {
        /** Checks the table is given. */
        public MemoryTableReply {
            Objects.requireNonNull(table, "table");
        }
    }

    /**
     * The postcopy {@code ADD_MEM_REG} reply: the region with the back-end's mapped address.
     *
     * @param region the region
     */
    record MemoryRegionReply(MemoryRegion region) implements Reply {
        /** Checks the region is given. */
        public MemoryRegionReply {
            Objects.requireNonNull(region, "region");
        }
    }

    /**
     * The {@code CREATE_CRYPTO_SESSION} reply: the session with the back-end's id (negative on failure).
     *
     * @param session the session
     */
    record CryptoSessionReply(CryptoSession session) implements Reply {
        /** Checks the session is given. */
        public CryptoSessionReply {
            Objects.requireNonNull(session, "session");
        }
    }
}
