package io.vhost.api.message;

import io.vhost.api.Fd;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A request from the front-end on the main socket: one record per {@link FrontendRequest}, so that an engine
 * dispatches with an exhaustive {@code switch} and no {@code default}. A message owns the fds it carries; close it
 * when handled ({@code try (msg) {...}}), which closes every fd a handler did not {@link Fd#take()}.
 */
public sealed interface FrontendMessage extends AutoCloseable {

    /**
     * Returns the rule-table row of this message.
     *
     * @return the request
     */
    FrontendRequest request();

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
     * Reads the back-end's virtio features. Spec message {@code VHOST_USER_GET_FEATURES}.
     *
     */
    record GetFeatures() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_FEATURES;
        }
    }

    /**
     * Acks virtio features. Spec message {@code VHOST_USER_SET_FEATURES}.
     *
     * @param features the acked virtio feature word
     */
    record SetFeatures(long features) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetFeatures {
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_FEATURES;
        }
    }

    /**
     * Starts the session. Spec message {@code VHOST_USER_SET_OWNER}.
     *
     */
    record SetOwner() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_OWNER;
        }
    }

    /**
     * Deprecated reset of the session. Spec message {@code VHOST_USER_RESET_OWNER}.
     *
     */
    record ResetOwner() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.RESET_OWNER;
        }
    }

    /**
     * Sets the memory table. Spec message {@code VHOST_USER_SET_MEM_TABLE}.
     *
     * @param table the regions
     * @param fds one fd per region, in region order; owned by this message
     */
    record SetMemTable(MemoryTable table, List<Fd> fds) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetMemTable {
            Objects.requireNonNull(table, "table");
            Objects.requireNonNull(fds, "fds");
            fds = List.copyOf(fds);
            if (fds.size() != table.regions().size()) {
                throw new IllegalArgumentException("carries " + fds.size() + " fds for "
                        + table.regions().size() + " regions");
            }
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_MEM_TABLE;
        }

        @Override
        public List<Fd> fds() {
            return fds;
        }
    }

    /**
     * Sets the dirty log area. Spec message {@code VHOST_USER_SET_LOG_BASE}.
     *
     * @param log the log area
     * @param fd the log shared memory; owned by this message
     */
    record SetLogBase(LogRegion log, Fd fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetLogBase {
            Objects.requireNonNull(log, "log");
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_LOG_BASE;
        }

        @Override
        public List<Fd> fds() {
            return List.of(fd);
        }
    }

    /**
     * Sets the log eventfd. Spec message {@code VHOST_USER_SET_LOG_FD}.
     *
     * @param fd the log eventfd; owned by this message
     */
    record SetLogFd(Fd fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetLogFd {
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_LOG_FD;
        }

        @Override
        public List<Fd> fds() {
            return List.of(fd);
        }
    }

    /**
     * Sets a ring's size. Spec message {@code VHOST_USER_SET_VRING_NUM}.
     *
     * @param state index and ring size
     */
    record SetVringNum(VringState state) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetVringNum {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_VRING_NUM;
        }
    }

    /**
     * Sets a ring's addresses. Spec message {@code VHOST_USER_SET_VRING_ADDR}.
     *
     * @param address the ring addresses
     */
    record SetVringAddr(VringAddress address) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetVringAddr {
            Objects.requireNonNull(address, "address");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_VRING_ADDR;
        }
    }

    /**
     * Sets a ring's base indices. Spec message {@code VHOST_USER_SET_VRING_BASE}.
     *
     * @param state index and base
     */
    record SetVringBase(VringState state) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetVringBase {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_VRING_BASE;
        }
    }

    /**
     * Stops a ring and asks for its base. Spec message {@code VHOST_USER_GET_VRING_BASE}.
     *
     * @param state index; num is 0, or 1 to suspend in-flight requests with GET_VRING_BASE_INFLIGHT
     */
    record GetVringBase(VringState state) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public GetVringBase {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_VRING_BASE;
        }
    }

    /**
     * Sets a ring's kick eventfd. Spec message {@code VHOST_USER_SET_VRING_KICK}.
     *
     * @param vring index and no-fd flag
     * @param fd the kick eventfd, present unless no-fd; owned by this message
     */
    record SetVringKick(VringFd vring, Optional<Fd> fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetVringKick {
            Objects.requireNonNull(vring, "vring");
            Check.noFdFlag(vring.noFd(), fd);
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_VRING_KICK;
        }

        @Override
        public List<Fd> fds() {
            return fd.isPresent() ? List.of(fd.get()) : List.of();
        }

        @Override
        public void close() {
            fd.ifPresent(Fd::close); // without building the fds() list
        }
    }

    /**
     * Sets a ring's call eventfd. Spec message {@code VHOST_USER_SET_VRING_CALL}.
     *
     * @param vring index and no-fd flag
     * @param fd the call eventfd, present unless no-fd; owned by this message
     */
    record SetVringCall(VringFd vring, Optional<Fd> fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetVringCall {
            Objects.requireNonNull(vring, "vring");
            Check.noFdFlag(vring.noFd(), fd);
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_VRING_CALL;
        }

        @Override
        public List<Fd> fds() {
            return fd.isPresent() ? List.of(fd.get()) : List.of();
        }

        @Override
        public void close() {
            fd.ifPresent(Fd::close); // without building the fds() list
        }
    }

    /**
     * Sets a ring's error eventfd. Spec message {@code VHOST_USER_SET_VRING_ERR}.
     *
     * @param vring index and no-fd flag
     * @param fd the error eventfd, present unless no-fd; owned by this message
     */
    record SetVringErr(VringFd vring, Optional<Fd> fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetVringErr {
            Objects.requireNonNull(vring, "vring");
            Check.noFdFlag(vring.noFd(), fd);
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_VRING_ERR;
        }

        @Override
        public List<Fd> fds() {
            return fd.isPresent() ? List.of(fd.get()) : List.of();
        }

        @Override
        public void close() {
            fd.ifPresent(Fd::close); // without building the fds() list
        }
    }

    /**
     * Reads the back-end's protocol features. Spec message {@code VHOST_USER_GET_PROTOCOL_FEATURES}.
     *
     */
    record GetProtocolFeatures() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_PROTOCOL_FEATURES;
        }
    }

    /**
     * Acks protocol features. Spec message {@code VHOST_USER_SET_PROTOCOL_FEATURES}.
     *
     * @param features the acked protocol feature word
     */
    record SetProtocolFeatures(long features) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetProtocolFeatures {
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_PROTOCOL_FEATURES;
        }
    }

    /**
     * Reads the number of queues. Spec message {@code VHOST_USER_GET_QUEUE_NUM}.
     *
     */
    record GetQueueNum() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_QUEUE_NUM;
        }
    }

    /**
     * Enables or disables a ring. Spec message {@code VHOST_USER_SET_VRING_ENABLE}.
     *
     * @param state index; num 1 enables, 0 disables
     */
    record SetVringEnable(VringState state) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetVringEnable {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_VRING_ENABLE;
        }
    }

    /**
     * Asks a net back-end to send a RARP. Spec message {@code VHOST_USER_SEND_RARP}.
     *
     * @param mac the guest MAC
     */
    record SendRarp(MacAddress mac) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SendRarp {
            Objects.requireNonNull(mac, "mac");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SEND_RARP;
        }
    }

    /**
     * Sets a net back-end's MTU. Spec message {@code VHOST_USER_NET_SET_MTU}.
     *
     * @param mtu the MTU, a u64 on the wire
     */
    record NetSetMtu(long mtu) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public NetSetMtu {
            if (mtu < 68 || mtu > 65535) {
                throw new IllegalArgumentException("NET_SET_MTU " + mtu + " is outside 68..65535");
            }
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.NET_SET_MTU;
        }
    }

    /**
     * Opens the back-end request channel. Spec message {@code VHOST_USER_SET_BACKEND_REQ_FD}.
     *
     * @param fd the back-end channel socket; owned by this message
     */
    record SetBackendReqFd(Fd fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetBackendReqFd {
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_BACKEND_REQ_FD;
        }

        @Override
        public List<Fd> fds() {
            return List.of(fd);
        }
    }

    /**
     * Updates or invalidates the device IOTLB. Spec message {@code VHOST_USER_IOTLB_MSG}.
     *
     * @param message the IOTLB message
     */
    record IotlbMsg(IotlbMessage message) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public IotlbMsg {
            Objects.requireNonNull(message, "message");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.IOTLB_MSG;
        }
    }

    /**
     * Sets a ring's endianness. Spec message {@code VHOST_USER_SET_VRING_ENDIAN}.
     *
     * @param state index; num 0 little-endian, 1 big-endian
     */
    record SetVringEndian(VringState state) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetVringEndian {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_VRING_ENDIAN;
        }
    }

    /**
     * Reads device config space. Spec message {@code VHOST_USER_GET_CONFIG}.
     *
     * @param config offset, flags and size (zero bytes)
     */
    record GetConfig(ConfigSpace config) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public GetConfig {
            Objects.requireNonNull(config, "config");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_CONFIG;
        }
    }

    /**
     * Writes device config space. Spec message {@code VHOST_USER_SET_CONFIG}.
     *
     * @param config offset, flags and data
     */
    record SetConfig(ConfigSpace config) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetConfig {
            Objects.requireNonNull(config, "config");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_CONFIG;
        }
    }

    /**
     * Creates a crypto session. Spec message {@code VHOST_USER_CREATE_CRYPTO_SESSION}.
     *
     * @param session the session description
     */
    record CreateCryptoSession(CryptoSession session) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public CreateCryptoSession {
            Objects.requireNonNull(session, "session");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.CREATE_CRYPTO_SESSION;
        }
    }

    /**
     * Closes a crypto session. Spec message {@code VHOST_USER_CLOSE_CRYPTO_SESSION}.
     *
     * @param sessionId the session id
     */
    record CloseCryptoSession(long sessionId) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public CloseCryptoSession {
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.CLOSE_CRYPTO_SESSION;
        }
    }

    /**
     * Starts postcopy. Spec message {@code VHOST_USER_POSTCOPY_ADVISE}.
     *
     */
    record PostcopyAdvise() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.POSTCOPY_ADVISE;
        }
    }

    /**
     * Enters postcopy listening. Spec message {@code VHOST_USER_POSTCOPY_LISTEN}.
     *
     */
    record PostcopyListen() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.POSTCOPY_LISTEN;
        }
    }

    /**
     * Ends postcopy. Spec message {@code VHOST_USER_POSTCOPY_END}.
     *
     */
    record PostcopyEnd() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.POSTCOPY_END;
        }
    }

    /**
     * Asks for an inflight area. Spec message {@code VHOST_USER_GET_INFLIGHT_FD}.
     *
     * @param inflight queue count and size (mmap fields 0)
     */
    record GetInflightFd(InflightRegion inflight) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public GetInflightFd {
            Objects.requireNonNull(inflight, "inflight");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_INFLIGHT_FD;
        }
    }

    /**
     * Hands back an inflight area. Spec message {@code VHOST_USER_SET_INFLIGHT_FD}.
     *
     * @param inflight the area
     * @param fd the inflight memfd; owned by this message
     */
    record SetInflightFd(InflightRegion inflight, Fd fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetInflightFd {
            Objects.requireNonNull(inflight, "inflight");
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_INFLIGHT_FD;
        }

        @Override
        public List<Fd> fds() {
            return List.of(fd);
        }
    }

    /**
     * Passes the GPU socket. Spec message {@code VHOST_USER_GPU_SET_SOCKET}.
     *
     * @param fd the vhost-user-gpu socket; owned by this message
     */
    record GpuSetSocket(Fd fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public GpuSetSocket {
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.GPU_SET_SOCKET;
        }

        @Override
        public List<Fd> fds() {
            return List.of(fd);
        }
    }

    /**
     * Resets the device. Spec message {@code VHOST_USER_RESET_DEVICE}.
     *
     */
    record ResetDevice() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.RESET_DEVICE;
        }
    }

    /**
     * Kicks a ring in band. Spec message {@code VHOST_USER_VRING_KICK}.
     *
     * @param state index (num unused)
     */
    record VringKick(VringState state) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public VringKick {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.VRING_KICK;
        }
    }

    /**
     * Reads the maximum memory slots. Spec message {@code VHOST_USER_GET_MAX_MEM_SLOTS}.
     *
     */
    record GetMaxMemSlots() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_MAX_MEM_SLOTS;
        }
    }

    /**
     * Adds one memory region. Spec message {@code VHOST_USER_ADD_MEM_REG}.
     *
     * @param region the region
     * @param fd the region's memory fd; owned by this message
     */
    record AddMemReg(MemoryRegion region, Fd fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public AddMemReg {
            Objects.requireNonNull(region, "region");
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.ADD_MEM_REG;
        }

        @Override
        public List<Fd> fds() {
            return List.of(fd);
        }
    }

    /**
     * Removes one memory region. Spec message {@code VHOST_USER_REM_MEM_REG}.
     *
     * @param region the region
     * @param fd an fd the front-end should not have sent; owned by this message, to be closed
     */
    record RemMemReg(MemoryRegion region, Optional<Fd> fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public RemMemReg {
            Objects.requireNonNull(region, "region");
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.REM_MEM_REG;
        }

        @Override
        public List<Fd> fds() {
            return fd.isPresent() ? List.of(fd.get()) : List.of();
        }
    }

    /**
     * Sets the device status. Spec message {@code VHOST_USER_SET_STATUS}.
     *
     * @param status the device status byte, a u64 on the wire
     */
    record SetStatus(long status) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetStatus {
            if (status < 0 || status > 0xFF) {
                throw new IllegalArgumentException("SET_STATUS " + status + " is not a u8 status");
            }
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_STATUS;
        }
    }

    /**
     * Reads the device status. Spec message {@code VHOST_USER_GET_STATUS}.
     *
     */
    record GetStatus() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_STATUS;
        }
    }

    /**
     * Looks up a shared object. Spec message {@code VHOST_USER_GET_SHARED_OBJECT}.
     *
     * @param object the UUID
     */
    record GetSharedObject(SharedObject object) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public GetSharedObject {
            Objects.requireNonNull(object, "object");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_SHARED_OBJECT;
        }
    }

    /**
     * Starts a device-state transfer. Spec message {@code VHOST_USER_SET_DEVICE_STATE_FD}.
     *
     * @param params direction and phase
     * @param fd the pipe end; owned by this message
     */
    record SetDeviceStateFd(DeviceStateParams params, Fd fd) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public SetDeviceStateFd {
            Objects.requireNonNull(params, "params");
            Objects.requireNonNull(fd, "fd");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.SET_DEVICE_STATE_FD;
        }

        @Override
        public List<Fd> fds() {
            return List.of(fd);
        }
    }

    /**
     * Checks the device-state transfer. Spec message {@code VHOST_USER_CHECK_DEVICE_STATE}.
     *
     */
    record CheckDeviceState() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.CHECK_DEVICE_STATE;
        }
    }

    /**
     * Provisional: reads shared memory region sizes. Spec message {@code VHOST_USER_GET_SHMEM_CONFIG}.
     *
     */
    record GetShmemConfig() implements FrontendMessage {
        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_SHMEM_CONFIG;
        }
    }

    /**
     * Provisional: stops a ring without draining and asks for its base. Spec message {@code VHOST_USER_GET_VRING_BASE_SKIP_DRAIN}.
     *
     * @param state index (num 0)
     */
    record GetVringBaseSkipDrain(VringState state) implements FrontendMessage {
        /** Checks the components are given and consistent. */
        public GetVringBaseSkipDrain {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public FrontendRequest request() {
            return FrontendRequest.GET_VRING_BASE_SKIP_DRAIN;
        }
    }
}
