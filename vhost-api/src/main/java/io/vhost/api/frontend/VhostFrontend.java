package io.vhost.api.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.message.VringAddress;
import java.util.List;
import java.util.Optional;

/**
 * The control-plane operations a VMM issues to a vhost back-end, common to vhost-user (over a unix socket) and
 * kernel vhost (over ioctls on {@code /dev/vhost-*}).
 *
 * <p>Every method blocks until the back-end has taken the request (and has replied, where the protocol has a reply
 * or REPLY_ACK was negotiated). Implementations are safe to call from many threads, virtual or platform, at once:
 * requests are serialised, one in flight at a time. Fds passed in stay owned by the caller; fds returned are owned
 * by the caller.
 *
 * <p>Failures are {@link VhostException}s: {@link io.vhost.api.error.RequestRejectedException} when the back-end
 * answers with a failure, {@link io.vhost.api.error.ProtocolViolationException} when its reply is malformed,
 * {@link io.vhost.api.error.PeerDisconnectedException} when it went away,
 * {@link io.vhost.api.error.FeatureNotNegotiatedException} when a request needs a feature that was not negotiated.
 */
public interface VhostFrontend extends AutoCloseable {

    /**
     * Claims the back-end for this front-end ({@code SET_OWNER}); the first request of a session.
     *
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setOwner() throws VhostException;

    /**
     * Gives up ownership ({@code RESET_OWNER}); deprecated by the specification, kept for old back-ends.
     *
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void resetOwner() throws VhostException;

    /**
     * Reads the virtio feature bits the back-end offers ({@code GET_FEATURES}).
     *
     * @return the offered bits, unknown ones included
     * @throws VhostException if the connection fails or the reply is malformed
     */
    FeatureSet getFeatures() throws VhostException;

    /**
     * Acks virtio feature bits ({@code SET_FEATURES}); they must be a subset of {@link #getFeatures()}.
     *
     * @param features the bits to ack
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setFeatures(FeatureSet features) throws VhostException;

    /**
     * Replaces the whole guest memory table ({@code SET_MEM_TABLE}, one fd per region).
     *
     * @param regions 1 to 8 regions; the caller keeps ownership of their fds
     * @throws VhostException if the back-end refuses (it could not map a region) or the connection fails
     */
    void setMemTable(List<SharedRegion> regions) throws VhostException;

    /**
     * Sets the size of a ring ({@code SET_VRING_NUM}).
     *
     * @param queue the ring index
     * @param size the number of descriptors, a power of two for split rings
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setVringNum(int queue, int size) throws VhostException;

    /**
     * Sets the addresses of a ring ({@code SET_VRING_ADDR}), in front-end user addresses (IOVAs with
     * ACCESS_PLATFORM).
     *
     * @param address index, flags and the descriptor, used, available and log addresses
     * @throws VhostException if the back-end refuses (an address it cannot translate) or the connection fails
     */
    void setVringAddr(VringAddress address) throws VhostException;

    /**
     * Sets the next available index the back-end reads ({@code SET_VRING_BASE}).
     *
     * @param queue the ring index
     * @param base the index (split rings: bits 0-15; packed: index and wrap counters)
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setVringBase(int queue, long base) throws VhostException;

    /**
     * Stops a ring and returns its next available index ({@code GET_VRING_BASE}).
     *
     * @param queue the ring index
     * @return the base, to pass to {@link #setVringBase} when the ring is restarted
     * @throws VhostException if the connection fails or the reply is malformed
     */
    long getVringBase(int queue) throws VhostException;

    /**
     * Sets the eventfd the front-end signals when it made buffers available ({@code SET_VRING_KICK}); this starts
     * the ring.
     *
     * @param queue the ring index
     * @param kick the eventfd, or empty to make the back-end poll the ring (NOFD bit)
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setVringKick(int queue, Optional<Fd> kick) throws VhostException;

    /**
     * Sets the eventfd the back-end signals after it used buffers ({@code SET_VRING_CALL}).
     *
     * @param queue the ring index
     * @param call the eventfd, or empty for no notification (NOFD bit)
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setVringCall(int queue, Optional<Fd> call) throws VhostException;

    /**
     * Sets the eventfd the back-end signals on a ring error ({@code SET_VRING_ERR}).
     *
     * @param queue the ring index
     * @param err the eventfd, or empty for none (NOFD bit)
     * @throws VhostException if the back-end refuses or the connection fails
     */
    void setVringErr(int queue, Optional<Fd> err) throws VhostException;

    /**
     * Tells whether the connection to the back-end is up.
     *
     * @return {@code false} once the back-end went away or this front-end was closed
     */
    boolean isConnected();

    /** Closes the connection and every fd and thread the front-end owns; idempotent. */
    @Override
    void close();
}
