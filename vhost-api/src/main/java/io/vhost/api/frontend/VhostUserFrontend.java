package io.vhost.api.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.CryptoSession;
import io.vhost.api.message.DeviceStateParams;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.MacAddress;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.SharedObject;
import io.vhost.api.message.ShmemConfig;
import java.util.Optional;

/**
 * A vhost-user front-end: one connection to a back-end over a unix socket, with a typed method for every front-end
 * request of the specification (mainline ids 1-43; 44 and 45 provisional).
 *
 * <p>Thread safety: every method may be called from many threads at once; requests are serialised so that exactly
 * one is in flight on the socket, as the protocol requires. Replies: when REPLY_ACK is negotiated, requests without
 * a reply body are sent with NEED_REPLY and the method returns only after the back-end acked; a non-zero ack is a
 * {@link io.vhost.api.error.RequestRejectedException}. Requests whose gating feature was not negotiated fail with
 * {@link io.vhost.api.error.FeatureNotNegotiatedException} before anything is sent.
 *
 * <p>Set-up replay: the front-end records the last features, protocol features, memory table, ring settings,
 * notification fds and inflight area it sent, keeping duplicates of their fds, so that {@link #reconnect()} can
 * replay them to a new back-end.
 */
public interface VhostUserFrontend extends VhostFrontend {

    /** {@code VHOST_VRING_LITTLE_ENDIAN} for {@link #setVringEndian}. */
    int VRING_LITTLE_ENDIAN = 0;
    /** {@code VHOST_VRING_BIG_ENDIAN} for {@link #setVringEndian}. */
    int VRING_BIG_ENDIAN = 1;

    /**
     * Returns a short name for logs, e.g. the socket path and a connection number.
     *
     * @return the session name
     */
    String name();

    /**
     * Returns the virtio features acked by the last {@link #setFeatures}.
     *
     * @return the acked virtio features, empty before SET_FEATURES
     */
    FeatureSet ackedFeatures();

    /**
     * Returns the protocol features acked by the last {@link #setProtocolFeatures}.
     *
     * @return the acked protocol features, empty before SET_PROTOCOL_FEATURES
     */
    FeatureSet ackedProtocolFeatures();

    /**
     * Reads the back-end's protocol features ({@code GET_PROTOCOL_FEATURES}); the back-end must offer virtio bit 30,
     * PROTOCOL_FEATURES. Bits this library does not know are masked off (FEATURES.md 5b, rust-vmm #243).
     *
     * @return the offered protocol features this library knows
     * @throws VhostException if the back-end does not offer PROTOCOL_FEATURES or the connection fails
     */
    FeatureSet getProtocolFeatures() throws VhostException;

    /**
     * Acks protocol features ({@code SET_PROTOCOL_FEATURES}); REPLY_ACK takes effect for the requests that follow.
     *
     * @param features a subset of {@link #getProtocolFeatures()}
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setProtocolFeatures(FeatureSet features) throws VhostException;

    /**
     * Reads how many queues the back-end supports ({@code GET_QUEUE_NUM}, needs MQ).
     *
     * @return the queue count
     * @throws VhostException if MQ was not negotiated or the connection fails
     */
    long getQueueNum() throws VhostException;

    /**
     * Enables or disables a ring ({@code SET_VRING_ENABLE}, needs PROTOCOL_FEATURES acked).
     *
     * @param queue the ring index
     * @param enable {@code true} to enable
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setVringEnable(int queue, boolean enable) throws VhostException;

    /**
     * Asks a net back-end to broadcast a RARP for a MAC after migration ({@code SEND_RARP}, needs RARP).
     *
     * @param mac the guest's MAC
     * @throws VhostException if RARP was not negotiated, the back-end refuses or the connection fails
     */
    void sendRarp(MacAddress mac) throws VhostException;

    /**
     * Sets a net back-end's MTU ({@code NET_SET_MTU}, needs MTU); always acked when REPLY_ACK is negotiated.
     *
     * @param mtu the MTU in bytes
     * @throws VhostException if MTU was not negotiated, the back-end refuses or the connection fails
     */
    void setMtu(int mtu) throws VhostException;

    /**
     * Sends one end of a socket pair as the back-end request channel ({@code SET_BACKEND_REQ_FD}, needs
     * BACKEND_REQ). Most callers want {@link #openBackendChannel} instead, which also serves the channel.
     *
     * @param socket the back-end's end; the caller keeps ownership
     * @throws VhostException if BACKEND_REQ was not negotiated, the back-end refuses or the connection fails
     */
    void setBackendReqFd(Fd socket) throws VhostException;

    /**
     * Opens the back-end request channel: creates a socket pair, sends one end with {@code SET_BACKEND_REQ_FD} and
     * serves every request the back-end sends on it to {@code handler}, on a child thread of this front-end, until
     * the front-end is closed or the channel is replaced. Replies only where the specification requires one.
     *
     * @param handler serves back-end requests; its default methods refuse them as not supported
     * @throws VhostException if BACKEND_REQ was not negotiated, the back-end refuses or the connection fails
     */
    void openBackendChannel(BackendRequestHandler handler) throws VhostException;

    /**
     * Sends a device IOTLB message ({@code IOTLB_MSG}, needs ACCESS_PLATFORM); the back-end replies with a status.
     *
     * @param message the update, invalidation or access-failure message
     * @throws VhostException if the back-end answers a non-zero status or the connection fails
     */
    void iotlbMessage(IotlbMessage message) throws VhostException;

    /**
     * Sets a ring's endianness for legacy cross-endian devices ({@code SET_VRING_ENDIAN}, needs CROSS_ENDIAN).
     *
     * @param queue the ring index
     * @param endian {@link #VRING_LITTLE_ENDIAN} or {@link #VRING_BIG_ENDIAN}
     * @throws VhostException if CROSS_ENDIAN was not negotiated, the back-end refuses or the connection fails
     */
    void setVringEndian(int queue, int endian) throws VhostException;

    /**
     * Reads device config space ({@code GET_CONFIG}, needs CONFIG).
     *
     * @param offset offset in the config space
     * @param sizeBytes how many bytes to read, at most {@link ConfigSpace#MAX_BYTES}
     * @return the bytes read, exactly {@code sizeBytes} of them
     * @throws VhostException if the back-end answers an error (an empty payload) or a reply of another size
     */
    ConfigSpace getConfig(long offset, int sizeBytes) throws VhostException;

    /**
     * Writes device config space ({@code SET_CONFIG}, needs CONFIG).
     *
     * @param config offset, flags ({@link ConfigSpace#FLAG_WRITE} or {@link ConfigSpace#FLAG_MIGRATION}) and bytes
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setConfig(ConfigSpace config) throws VhostException;

    /**
     * Creates a crypto session ({@code CREATE_CRYPTO_SESSION}, needs CRYPTO_SESSION).
     *
     * @param request the session parameters (session id ignored)
     * @return the back-end's reply, holding the new session id (negative on failure)
     * @throws VhostException if CRYPTO_SESSION was not negotiated or the connection fails
     */
    CryptoSession createCryptoSession(CryptoSession request) throws VhostException;

    /**
     * Closes a crypto session ({@code CLOSE_CRYPTO_SESSION}, needs CRYPTO_SESSION).
     *
     * @param sessionId the id {@link #createCryptoSession} returned
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void closeCryptoSession(long sessionId) throws VhostException;

    /**
     * Starts postcopy migration ({@code POSTCOPY_ADVISE}, needs PAGEFAULT); the back-end opens a userfaultfd.
     *
     * @return the back-end's userfaultfd, owned by the caller
     * @throws VhostException if PAGEFAULT was not negotiated, no fd came back or the connection fails
     */
    Fd postcopyAdvise() throws VhostException;

    /**
     * Puts the back-end in postcopy listening mode ({@code POSTCOPY_LISTEN}, needs PAGEFAULT).
     *
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void postcopyListen() throws VhostException;

    /**
     * Ends postcopy ({@code POSTCOPY_END}, needs PAGEFAULT); the back-end replies with a status.
     *
     * @throws VhostException if the back-end answers a non-zero status or the connection fails
     */
    void postcopyEnd() throws VhostException;

    /**
     * Asks the back-end for an inflight tracking area ({@code GET_INFLIGHT_FD}, needs INFLIGHT_SHMFD). The front-end
     * records a duplicate of the fd and replays it with {@code SET_INFLIGHT_FD} after a reconnect.
     *
     * @param numQueues the number of queues to track
     * @param queueSize the size of each queue
     * @return the area, owned by the caller
     * @throws VhostException if INFLIGHT_SHMFD was not negotiated, no fd came back or the connection fails
     */
    InflightArea getInflightFd(int numQueues, int queueSize) throws VhostException;

    /**
     * Hands an inflight tracking area to the back-end ({@code SET_INFLIGHT_FD}, needs INFLIGHT_SHMFD).
     *
     * @param region the area's description as {@link #getInflightFd} returned it
     * @param fd the area's memfd; the caller keeps ownership
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setInflightFd(InflightRegion region, Fd fd) throws VhostException;

    /**
     * Passes the vhost-user-gpu socket ({@code GPU_SET_SOCKET}).
     *
     * @param socket the socket; the caller keeps ownership
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void gpuSetSocket(Fd socket) throws VhostException;

    /**
     * Resets the device, keeping ownership ({@code RESET_DEVICE}, needs RESET_DEVICE).
     *
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void resetDevice() throws VhostException;

    /**
     * Kicks a ring in-band ({@code VRING_KICK}, needs INBAND_NOTIFICATIONS).
     *
     * @param queue the ring index
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void vringKick(int queue) throws VhostException;

    /**
     * Reads the maximum number of memory slots ({@code GET_MAX_MEM_SLOTS}, needs CONFIGURE_MEM_SLOTS).
     *
     * @return the slot count
     * @throws VhostException if CONFIGURE_MEM_SLOTS was not negotiated or the connection fails
     */
    long getMaxMemSlots() throws VhostException;

    /**
     * Adds one memory region ({@code ADD_MEM_REG}, needs CONFIGURE_MEM_SLOTS).
     *
     * @param region the region and its fd; the caller keeps ownership of the fd
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void addMemReg(SharedRegion region) throws VhostException;

    /**
     * Removes one memory region ({@code REM_MEM_REG}, needs CONFIGURE_MEM_SLOTS); no fd is sent.
     *
     * @param region the region as it was added
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void remMemReg(MemoryRegion region) throws VhostException;

    /**
     * Sets the virtio device status byte ({@code SET_STATUS}, needs STATUS).
     *
     * @param status the status bits (ACKNOWLEDGE 1, DRIVER 2, DRIVER_OK 4, FEATURES_OK 8, ...)
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setStatus(int status) throws VhostException;

    /**
     * Reads the virtio device status byte ({@code GET_STATUS}, needs STATUS).
     *
     * @return the status bits
     * @throws VhostException if STATUS was not negotiated or the connection fails
     */
    int getStatus() throws VhostException;

    /**
     * Looks up a shared (dmabuf) object by UUID ({@code GET_SHARED_OBJECT}, needs SHARED_OBJECT).
     *
     * @param object the object's UUID
     * @return its dmabuf fd, owned by the caller
     * @throws VhostException if the back-end answers a non-zero status or sends no fd
     */
    Fd getSharedObject(SharedObject object) throws VhostException;

    /**
     * Starts a device-state transfer ({@code SET_DEVICE_STATE_FD}, needs DEVICE_STATE).
     *
     * @param params direction (save or load) and phase
     * @param pipe the pipe end the back-end reads or writes; the caller keeps ownership
     * @return the back-end's own pipe end to use instead, owned by the caller, or empty to use {@code pipe}
     * @throws VhostException if the back-end answers a non-zero status or the connection fails
     */
    Optional<Fd> setDeviceStateFd(DeviceStateParams params, Fd pipe) throws VhostException;

    /**
     * Checks that the device-state transfer succeeded ({@code CHECK_DEVICE_STATE}, needs DEVICE_STATE).
     *
     * @throws VhostException if the back-end answers a non-zero status or the connection fails
     */
    void checkDeviceState() throws VhostException;

    /**
     * Provisional: reads the VIRTIO shared memory region sizes ({@code GET_SHMEM_CONFIG}, needs SHMEM).
     *
     * @return the region count and sizes
     * @throws VhostException if SHMEM was not negotiated or the connection fails
     */
    ShmemConfig getShmemConfig() throws VhostException;

    /**
     * Provisional: stops a ring without draining in-flight requests and returns its base
     * ({@code GET_VRING_BASE_SKIP_DRAIN}, needs GET_VRING_BASE_SKIP_DRAIN).
     *
     * @param queue the ring index
     * @return the ring's next available index
     * @throws VhostException if the feature was not negotiated or the connection fails
     */
    long getVringBaseSkipDrain(int queue) throws VhostException;

    /**
     * Sets the dirty log area ({@code SET_LOG_BASE}, fd and reply with LOG_SHMFD). A reply of 0 or 8 bytes is
     * accepted (peers differ: FEATURES.md 4.6).
     *
     * @param log size and offset of the log in {@code fd}
     * @param fd the shared memory holding the log; the caller keeps ownership
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setLogBase(LogRegion log, Fd fd) throws VhostException;

    /**
     * Sets the eventfd the back-end signals after writing the log ({@code SET_LOG_FD}, needs LOG_SHMFD).
     *
     * @param fd the eventfd; the caller keeps ownership
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setLogFd(Fd fd) throws VhostException;

    /**
     * Connects to the back-end again (client mode: with retry; server mode: accepts the next back-end) and replays
     * the recorded set-up: SET_OWNER, features, protocol features, the back-end channel, memory table, inflight area,
     * and for each configured ring its size, base, addresses, call, error and kick fds and enable state. Listeners
     * hear {@link ReconnectListener#reconnected} when it is done.
     *
     * @throws VhostException if no back-end could be reached or it refused part of the replay
     */
    void reconnect() throws VhostException;

    /**
     * Adds a listener told when the back-end goes away and when the set-up was replayed.
     *
     * @param listener the listener; it is called on a thread of the front-end and must not block for long
     */
    void addReconnectListener(ReconnectListener listener);
}
