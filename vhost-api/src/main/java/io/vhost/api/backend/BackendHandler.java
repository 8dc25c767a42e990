package io.vhost.api.backend;

import io.vhost.api.Fd;
import io.vhost.api.error.VhostException;
import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.CryptoSession;
import io.vhost.api.message.DeviceStateParams;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.MacAddress;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.ShmemConfig;
import io.vhost.api.message.VringAddress;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * What a vhost-user device implements: one method per front-end request, called by the back-end engine after the
 * request passed every protocol check.
 *
 * <p><b>What the engine has already done.</b> Before a method is called the engine has checked the header, the
 * payload size and the fd count against the rule table, checked that the gating feature was negotiated, checked
 * that a queue index is below {@link #queueCount()}, that a ring size is a power of two no larger than
 * {@link #maxQueueSize()}, and that acked feature bits were all offered. The device never builds a reply header and
 * never deals with NEED_REPLY or REPLY_ACK: a method that returns normally is a success (ack 0); a method that
 * throws a {@link VhostException} is a failure, which the engine answers with a non-zero ack (or the request's
 * defined error reply) and logs; the session goes on. Any other exception is a bug of the device and ends the
 * session.
 *
 * <p><b>File descriptors.</b> Received fds reach a method as {@link Fd} owners. A method that keeps one must call
 * {@link Fd#take()} and own the result; every fd not taken is closed by the engine when the method returns or
 * throws. Fds a method returns (inflight area, userfaultfd, shared object, device state) move to the engine, which
 * sends and closes them.
 *
 * <p><b>Ring states</b> (spec §Ring states). Each ring starts stopped and disabled. The engine tracks the enable
 * state and calls {@link #setVringEnable} on every change: on {@code SET_VRING_ENABLE}, for every ring when
 * {@code SET_FEATURES} arrives without {@code VHOST_USER_F_PROTOCOL_FEATURES} (it never disables rings on a later
 * {@code SET_FEATURES}), and to disable every ring on {@code RESET_DEVICE}. A device starts a ring when its kick fd
 * becomes readable or on {@link #vringKick}, and stops it in {@link #getVringBase}.
 *
 * <p><b>Optional parts</b> are default methods that throw "not supported". The engine never calls a method whose
 * gating protocol feature the device did not offer in {@link #protocolFeatures()}, so offering a feature and
 * overriding its methods go together.
 *
 * <p><b>Threading.</b> One session calls its handler from one thread at a time (the session's reader), in request
 * order. Device workers (vring threads) may run concurrently with those calls; synchronising with them is the
 * device's business. {@link #close()} is called once, after the session's threads have ended.
 */
public interface BackendHandler extends AutoCloseable {

    /** The answer of {@code GET_MAX_MEM_SLOTS} unless a device overrides {@link #maxMemorySlots()}: QEMU's value. */
    int DEFAULT_MAX_MEM_SLOTS = 509;

    /** The largest ring size of a split virtqueue (virtio 1.x), the default of {@link #maxQueueSize()}. */
    int MAX_SPLIT_QUEUE_SIZE = 32768;

    /** How {@link #getVringBase} stops a ring. */
    enum StopMode {
        /** {@code GET_VRING_BASE} with num 0: complete (drain) every in-flight request before answering. */
        DRAIN,
        /**
         * {@code GET_VRING_BASE} with num 1 (needs {@code GET_VRING_BASE_INFLIGHT}), or the provisional
         * {@code GET_VRING_BASE_SKIP_DRAIN}: suspend in-flight requests and record them in the inflight area.
         */
        SUSPEND_INFLIGHT
    }

    // ---- features ------------------------------------------------------------------------------------------------

    /**
     * Returns the virtio (and vhost) feature bits the device offers, the {@code GET_FEATURES} answer. The engine
     * adds {@code VHOST_USER_F_PROTOCOL_FEATURES} (bit 30) itself.
     *
     * @return the offered feature word
     */
    long features();

    /**
     * Applies the feature bits the front-end acked ({@code SET_FEATURES}). The engine has checked that every bit was
     * offered (bit 30 included) and applies the ring-enable rule itself. May be called again while rings run, for
     * example to toggle {@code VHOST_F_LOG_ALL} during migration.
     *
     * @param acked the acked feature word
     * @throws VhostException if the device refuses the combination
     */
    void setFeatures(long acked) throws VhostException;

    /**
     * Returns the protocol feature bits the device offers, part of the {@code GET_PROTOCOL_FEATURES} answer. The
     * engine adds the bits it implements on its own: {@code MQ} (answered from {@link #queueCount()}) and
     * {@code REPLY_ACK}. Offer a bit only together with the handler methods it enables.
     *
     * @return the offered protocol feature word
     */
    long protocolFeatures();

    /**
     * Applies the protocol feature bits the front-end acked ({@code SET_PROTOCOL_FEATURES}); may arrive before
     * {@code SET_FEATURES}. The engine has checked that every bit was offered.
     *
     * @param acked the acked protocol feature word
     * @throws VhostException if the device refuses the combination
     */
    default void setProtocolFeatures(long acked) throws VhostException {
    }

    // ---- queues --------------------------------------------------------------------------------------------------

    /**
     * Returns how many rings the device has: the {@code GET_QUEUE_NUM} answer and the bound on every queue index.
     *
     * @return the queue count, 1 to 256
     */
    int queueCount();

    /**
     * Returns the largest ring size the device accepts in {@code SET_VRING_NUM}.
     *
     * @return the maximum ring size, a power of two
     */
    default int maxQueueSize() {
        return MAX_SPLIT_QUEUE_SIZE;
    }

    // ---- session -------------------------------------------------------------------------------------------------

    /**
     * Marks the start of a session ({@code SET_OWNER}). Nothing is required of the device.
     *
     * @throws VhostException if the device refuses
     */
    default void setOwner() throws VhostException {
    }

    /**
     * Handles the deprecated {@code RESET_OWNER}. The engine keeps every negotiated feature (the spec warns against
     * discarding them) and changes no ring state; a device may ignore this.
     *
     * @throws VhostException if the device refuses
     */
    default void resetOwner() throws VhostException {
    }

    /**
     * Resets the device ({@code RESET_DEVICE}, protocol feature {@code RESET_DEVICE}): drop device state and ring
     * state, keep ownership and the connection. The engine has already disabled every ring
     * ({@link #setVringEnable} with {@code false}); afterwards it forgets the acked virtio features (the front-end
     * sends {@code SET_FEATURES} again) but keeps the protocol features and REPLY_ACK, which QEMU does not
     * renegotiate.
     *
     * @throws VhostException if the reset failed
     */
    default void resetDevice() throws VhostException {
        throw NotSupported.request("RESET_DEVICE");
    }

    // ---- memory --------------------------------------------------------------------------------------------------

    /**
     * Replaces the guest memory table ({@code SET_MEM_TABLE}). May arrive while rings run.
     *
     * @param table the regions, 1 to 8
     * @param fds one fd per region, in the same order; take the ones you map
     * @throws VhostException if a region cannot be mapped
     */
    void setMemoryTable(MemoryTable table, List<Fd> fds) throws VhostException;

    /**
     * Adds one region ({@code ADD_MEM_REG}, protocol feature {@code CONFIGURE_MEM_SLOTS}).
     *
     * @param region the region to add
     * @param fd its fd; take it to keep it
     * @throws VhostException if the region cannot be mapped or overlaps another one
     */
    default void addMemoryRegion(MemoryRegion region, Fd fd) throws VhostException {
        throw NotSupported.request("ADD_MEM_REG");
    }

    /**
     * Removes one region ({@code REM_MEM_REG}, protocol feature {@code CONFIGURE_MEM_SLOTS}). A fd that came with
     * the request was already closed by the engine, as the spec asks.
     *
     * @param region the region to remove, matched by guest address, size and user address
     * @throws VhostException if no such region is mapped
     */
    default void removeMemoryRegion(MemoryRegion region) throws VhostException {
        throw NotSupported.request("REM_MEM_REG");
    }

    /**
     * Returns the {@code GET_MAX_MEM_SLOTS} answer.
     *
     * @return the number of memory slots, {@value #DEFAULT_MAX_MEM_SLOTS} by default
     */
    default int maxMemorySlots() {
        return DEFAULT_MAX_MEM_SLOTS;
    }

    // ---- rings ---------------------------------------------------------------------------------------------------

    /**
     * Sets a ring's size ({@code SET_VRING_NUM}).
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @param size the size, a power of two no larger than {@link #maxQueueSize()}
     * @throws VhostException if the device refuses
     */
    void setVringNum(int queue, int size) throws VhostException;

    /**
     * Sets a ring's addresses ({@code SET_VRING_ADDR}). They are front-end user addresses (IOVAs with
     * {@code ACCESS_PLATFORM}); the device translates them through its memory table and should re-read the used
     * index here (a guest reboot otherwise breaks the ring).
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @param address the addresses and the log flag
     * @throws VhostException if an address is outside guest memory or misaligned
     */
    void setVringAddress(int queue, VringAddress address) throws VhostException;

    /**
     * Sets the index where the ring resumes ({@code SET_VRING_BASE}): the next avail index for split rings; for
     * packed rings avail index and wrap in bits 0-15, used index and wrap in bits 16-31.
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @param base the u32 value
     * @throws VhostException if the device refuses
     */
    void setVringBase(int queue, long base) throws VhostException;

    /**
     * Stops a ring and returns where it stopped ({@code GET_VRING_BASE}, or the provisional
     * {@code GET_VRING_BASE_SKIP_DRAIN}). After this the ring is not processed until a new kick; the device drops
     * its kick and call fds.
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @param mode whether to drain or suspend in-flight requests
     * @return the u32 base, encoded as for {@link #setVringBase}
     * @throws VhostException if the ring cannot be stopped
     */
    long getVringBase(int queue, StopMode mode) throws VhostException;

    /**
     * Sets a ring's kick eventfd ({@code SET_VRING_KICK}); the ring starts when it becomes readable. Empty when the
     * front-end set the NOFD bit: then the ring is kicked in band ({@link #vringKick}) or must be polled.
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @param kick the eventfd; take it to keep it
     * @throws VhostException if the device refuses
     */
    void setVringKick(int queue, Optional<Fd> kick) throws VhostException;

    /**
     * Sets a ring's call eventfd ({@code SET_VRING_CALL}), which the device writes to notify the guest. Empty with
     * the NOFD bit: then notifications go in band through {@link FrontendChannel#vringCall}, or not at all.
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @param call the eventfd; take it to keep it
     * @throws VhostException if the device refuses
     */
    void setVringCall(int queue, Optional<Fd> call) throws VhostException;

    /**
     * Sets a ring's error eventfd ({@code SET_VRING_ERR}). The default ignores it (the engine closes the fd).
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @param err the eventfd; take it to keep it
     * @throws VhostException if the device refuses
     */
    default void setVringErr(int queue, Optional<Fd> err) throws VhostException {
    }

    /**
     * Enables or disables a ring. Called on {@code SET_VRING_ENABLE} and on the implicit enable and disable the
     * class description lists. A started but disabled ring is processed without side effects.
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @param enabled the new state
     * @throws VhostException if the device refuses
     */
    void setVringEnable(int queue, boolean enabled) throws VhostException;

    /**
     * Handles an in-band kick ({@code VRING_KICK}, protocol feature {@code INBAND_NOTIFICATIONS}); starts the ring.
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @throws VhostException if the device refuses
     */
    default void vringKick(int queue) throws VhostException {
        throw NotSupported.request("VRING_KICK");
    }

    /**
     * Sets a ring's endianness ({@code SET_VRING_ENDIAN}, protocol feature {@code CROSS_ENDIAN}, legacy devices).
     *
     * @param queue the ring index, below {@link #queueCount()}
     * @param bigEndian {@code true} for big endian
     * @throws VhostException if the device refuses
     */
    default void setVringEndian(int queue, boolean bigEndian) throws VhostException {
        throw NotSupported.request("SET_VRING_ENDIAN");
    }

    // ---- config space --------------------------------------------------------------------------------------------

    /**
     * Reads device config space ({@code GET_CONFIG}, protocol feature {@code CONFIG}). A failure is answered with
     * a zero-size reply, as the spec defines.
     *
     * @param offset the offset in config space
     * @param sizeBytes the number of bytes asked for
     * @return exactly {@code sizeBytes} bytes
     * @throws VhostException if the range is not readable
     */
    default byte[] getConfig(int offset, int sizeBytes) throws VhostException {
        throw NotSupported.request("GET_CONFIG");
    }

    /**
     * Writes device config space ({@code SET_CONFIG}, protocol feature {@code CONFIG}). Reject writes to
     * read-only fields unless the flags say migration.
     *
     * @param config offset, flags ({@link ConfigSpace#FLAG_WRITE} or {@link ConfigSpace#FLAG_MIGRATION}) and data
     * @throws VhostException if the write is refused
     */
    default void setConfig(ConfigSpace config) throws VhostException {
        throw NotSupported.request("SET_CONFIG");
    }

    // ---- back-end channel ----------------------------------------------------------------------------------------

    /**
     * Hands the device the back-end to front-end channel opened by {@code SET_BACKEND_REQ_FD} (protocol feature
     * {@code BACKEND_REQ}). The engine owns the channel and its socket and closes them when the session ends or a
     * new channel replaces this one; the channel is also available from {@link SessionContext#frontendChannel()}.
     * The default keeps no reference.
     *
     * @param channel the sender, thread-safe
     * @throws VhostException if the device refuses
     */
    default void setFrontendChannel(FrontendChannel channel) throws VhostException {
    }

    // ---- migration: dirty log, device state, postcopy ---------------------------------------------------------------

    /**
     * Sets the dirty page log ({@code SET_LOG_BASE} with protocol feature {@code LOG_SHMFD}); may replace an
     * earlier log while rings run. The engine replies with a u64 0 on success.
     *
     * @param log size and offset of the bitmap in the fd
     * @param fd the shared memory fd; take it to keep it
     * @throws VhostException if the log cannot be mapped
     */
    default void setLogBase(LogRegion log, Fd fd) throws VhostException {
        throw NotSupported.request("SET_LOG_BASE");
    }

    /**
     * Sets the eventfd the device kicks after logging ({@code SET_LOG_FD}).
     *
     * @param fd the eventfd; take it to keep it
     * @throws VhostException if the device refuses
     */
    default void setLogFd(Fd fd) throws VhostException {
        throw NotSupported.request("SET_LOG_FD");
    }

    /**
     * Starts a device state transfer ({@code SET_DEVICE_STATE_FD}, protocol feature {@code DEVICE_STATE}).
     *
     * @param params direction and phase
     * @param fd the front-end's pipe end; take it to use it
     * @return empty to use the front-end's fd, or the device's own fd, which the engine sends back and closes
     * @throws VhostException if the transfer cannot start; answered with a non-zero error code
     */
    default Optional<Fd> setDeviceStateFd(DeviceStateParams params, Fd fd) throws VhostException {
        throw NotSupported.request("SET_DEVICE_STATE_FD");
    }

    /**
     * Reports whether the last device state transfer succeeded ({@code CHECK_DEVICE_STATE}).
     *
     * @throws VhostException if it failed; answered with a non-zero result
     */
    default void checkDeviceState() throws VhostException {
        throw NotSupported.request("CHECK_DEVICE_STATE");
    }

    /**
     * Opens a userfaultfd for postcopy ({@code POSTCOPY_ADVISE}, protocol feature {@code PAGEFAULT}).
     *
     * @return the userfaultfd, which the engine sends and closes
     * @throws VhostException if postcopy cannot start
     */
    default Fd postcopyAdvise() throws VhostException {
        throw NotSupported.request("POSTCOPY_ADVISE");
    }

    /**
     * Enters postcopy listening mode ({@code POSTCOPY_LISTEN}). Later memory tables go to
     * {@link #setMemoryTablePostcopy}.
     *
     * @throws VhostException if the mode cannot be entered
     */
    default void postcopyListen() throws VhostException {
        throw NotSupported.request("POSTCOPY_LISTEN");
    }

    /**
     * Maps a memory table in postcopy listening mode and returns the same regions with the device's own mapping
     * addresses as user addresses, for the reply the front-end acks with an empty {@code SET_MEM_TABLE}.
     *
     * @param table the regions
     * @param fds one fd per region, in order; take the ones you map
     * @return the table to reply with
     * @throws VhostException if a region cannot be mapped
     */
    default MemoryTable setMemoryTablePostcopy(MemoryTable table, List<Fd> fds) throws VhostException {
        throw NotSupported.request("SET_MEM_TABLE in postcopy mode");
    }

    /**
     * Ends postcopy ({@code POSTCOPY_END}): close the userfaultfd.
     *
     * @throws VhostException if it failed; answered with a non-zero result
     */
    default void postcopyEnd() throws VhostException {
        throw NotSupported.request("POSTCOPY_END");
    }

    // ---- inflight I/O tracking ---------------------------------------------------------------------------------------

    /**
     * An inflight tracking area and its fd, the answer to {@code GET_INFLIGHT_FD}.
     *
     * @param region size and offset of the area in the fd, with the queue count and size it was laid out for
     * @param fd the memfd holding the area; ownership moves to the engine, which sends and closes it
     */
    record InflightArea(InflightRegion region, Fd fd) {
        /**
         * Checks both parts are present.
         *
         * @param region the area description
         * @param fd the memfd
         */
        public InflightArea {
            java.util.Objects.requireNonNull(region, "region");
            java.util.Objects.requireNonNull(fd, "fd");
        }
    }

    /**
     * Allocates the inflight tracking area ({@code GET_INFLIGHT_FD}, protocol feature {@code INFLIGHT_SHMFD}).
     *
     * @param request the queue count and size to lay the area out for
     * @return the area; the device keeps its own mapping of it
     * @throws VhostException if it cannot be allocated
     */
    default InflightArea getInflightFd(InflightRegion request) throws VhostException {
        throw NotSupported.request("GET_INFLIGHT_FD");
    }

    /**
     * Hands back an inflight area after a reconnect ({@code SET_INFLIGHT_FD}).
     *
     * @param region size, offset, queue count and size of the area
     * @param fd the memfd; take it to keep it
     * @throws VhostException if it cannot be mapped
     */
    default void setInflightFd(InflightRegion region, Fd fd) throws VhostException {
        throw NotSupported.request("SET_INFLIGHT_FD");
    }

    // ---- IOTLB, status, shared objects, shared memory ------------------------------------------------------------------

    /**
     * Handles a device IOTLB update or invalidation ({@code IOTLB_MSG}, with {@code ACCESS_PLATFORM}).
     *
     * @param message the message
     * @throws VhostException if it cannot be applied; answered with a non-zero result
     */
    default void iotlbMessage(IotlbMessage message) throws VhostException {
        throw NotSupported.request("IOTLB_MSG");
    }

    /**
     * Sets the virtio device status byte ({@code SET_STATUS}, protocol feature {@code STATUS}).
     *
     * @param status the status bits (u8)
     * @throws VhostException if the device refuses
     */
    default void setStatus(int status) throws VhostException {
        throw NotSupported.request("SET_STATUS");
    }

    /**
     * Returns the virtio device status byte ({@code GET_STATUS}).
     *
     * @return the status bits (u8)
     * @throws VhostException if unsupported
     */
    default int getStatus() throws VhostException {
        throw NotSupported.request("GET_STATUS");
    }

    /**
     * Looks up a shared (dmabuf) object ({@code GET_SHARED_OBJECT}, protocol feature {@code SHARED_OBJECT}).
     *
     * @param uuid the object's UUID
     * @return the dmabuf fd, which the engine sends and closes, or empty if unknown
     * @throws VhostException if the lookup failed
     */
    default Optional<Fd> getSharedObject(UUID uuid) throws VhostException {
        throw NotSupported.request("GET_SHARED_OBJECT");
    }

    /**
     * Returns the sizes of the device's VIRTIO shared memory regions (provisional {@code GET_SHMEM_CONFIG},
     * protocol feature {@code SHMEM}).
     *
     * @return the region sizes
     * @throws VhostException if unsupported
     */
    default ShmemConfig getShmemConfig() throws VhostException {
        throw NotSupported.request("GET_SHMEM_CONFIG");
    }

    // ---- device-specific: net, crypto, GPU ---------------------------------------------------------------------------

    /**
     * Asks a net device to broadcast a RARP for a migrated guest ({@code SEND_RARP}, protocol feature
     * {@code RARP}).
     *
     * @param mac the guest's MAC address
     * @throws VhostException if the device refuses
     */
    default void sendRarp(MacAddress mac) throws VhostException {
        throw NotSupported.request("SEND_RARP");
    }

    /**
     * Sets a net device's MTU ({@code NET_SET_MTU}, protocol feature {@code MTU}).
     *
     * @param mtu the MTU in bytes
     * @throws VhostException if the value is refused
     */
    default void setMtu(long mtu) throws VhostException {
        throw NotSupported.request("NET_SET_MTU");
    }

    /**
     * Creates a crypto session ({@code CREATE_CRYPTO_SESSION}, protocol feature {@code CRYPTO_SESSION}).
     *
     * @param session the setup data (its id field is ignored)
     * @return the new session id, non-negative
     * @throws VhostException if the session cannot be created; answered with id -1
     */
    default long createCryptoSession(CryptoSession session) throws VhostException {
        throw NotSupported.request("CREATE_CRYPTO_SESSION");
    }

    /**
     * Closes a crypto session ({@code CLOSE_CRYPTO_SESSION}).
     *
     * @param sessionId the id returned by {@link #createCryptoSession}
     * @throws VhostException if no such session exists
     */
    default void closeCryptoSession(long sessionId) throws VhostException {
        throw NotSupported.request("CLOSE_CRYPTO_SESSION");
    }

    /**
     * Receives the vhost-user-gpu socket ({@code GPU_SET_SOCKET}).
     *
     * @param socket the socket; take it to keep it
     * @throws VhostException if the device is not a GPU
     */
    default void setGpuSocket(Fd socket) throws VhostException {
        throw NotSupported.request("GPU_SET_SOCKET");
    }

    // ---- end -----------------------------------------------------------------------------------------------------

    /**
     * Releases what the device holds for this session (mappings, fds, workers it started outside the
     * {@link SessionContext}). Called once when the session has ended and its threads are joined. The default
     * does nothing.
     */
    @Override
    default void close() {
    }
}
