package io.vhost.impl.transport;

import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.impl.sys.PeerCredentials;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * One connected vhost-user unix stream socket: sends framed messages with up to {@value #MAX_FDS} descriptors and
 * receives them as a header (which may carry descriptors) followed by a payload (which must not).
 *
 * <p>Thread-safety: one thread may send while another receives; concurrent senders (or receivers) are serialised.
 * {@link #shutdown()} and {@link #close()} may be called from any thread and unblock a blocked receiver or sender,
 * which then gets {@link PeerDisconnectedException}. After close, every operation throws
 * {@link PeerDisconnectedException} "... is closed".
 *
 * <p>Peer closing: a clean end of stream before the first header byte throws {@link PeerDisconnectedException}
 * and sets {@link #closedAtMessageBoundary()}; an end of stream inside a header or payload throws it with the byte
 * counts ("peer closed the connection after 5 of 12 header bytes"), after closing every descriptor received so far.
 */
public interface Connection extends AutoCloseable {

    /** The most descriptors one message may carry. */
    int MAX_FDS = 8;

    /**
     * Sends bytes {@code [position, limit)} of {@code message} (header and payload already encoded) with
     * {@code fds} attached to the first chunk, handling short writes; on return the position equals the limit.
     *
     * @param message the encoded message; a direct buffer avoids a copy
     * @param fds descriptors to pass, borrowed: they stay open and owned by the caller
     * @throws IllegalArgumentException if {@code fds} has more than {@value #MAX_FDS} entries (nothing is sent)
     * @throws PeerDisconnectedException if the peer has gone or this connection was closed or shut down
     * @throws IOException on other socket errors
     */
    void send(ByteBuffer message, List<? extends Fd> fds) throws IOException;

    /**
     * Reads exactly {@code header.remaining()} bytes and returns the descriptors that came with them.
     *
     * @param header where the header goes (usually 12 bytes)
     * @return the received descriptors, owned by the caller (empty if none)
     * @throws PeerDisconnectedException if the peer closed (see {@link #closedAtMessageBoundary()})
     * @throws ProtocolViolationException if the peer sent more than {@value #MAX_FDS} descriptors
     * @throws IOException on other socket errors
     */
    List<Fd> receiveHeader(ByteBuffer header) throws IOException;

    /**
     * Reads at least {@code minBytes} and at most {@code buffer.remaining()} bytes, in as few reads as the peer's
     * writes allow, and returns the descriptors that came with them. For a peer that sends nothing beyond the message
     * being read (a back-end answering the one request in flight), this reads a whole reply at once; never use it
     * where messages may be pipelined (descriptors of a later message could arrive with the bytes of an earlier one).
     *
     * @param buffer where the bytes go, from its position; on return the position is after the last byte read
     * @param minBytes how many bytes must be read, at least 1 and at most {@code buffer.remaining()}
     * @return the received descriptors, owned by the caller (empty if none)
     * @throws PeerDisconnectedException if the peer closed before {@code minBytes} arrived
     * @throws ProtocolViolationException if the peer sent more than {@value #MAX_FDS} descriptors
     * @throws IOException on other socket errors
     */
    List<Fd> receiveAtLeast(ByteBuffer buffer, int minBytes) throws IOException;

    /**
     * Receives one vhost-user message: its 12-byte header into {@code header} and, when the header's size field
     * (bytes 8-11, native order) is at most {@code payload.remaining()}, that many payload bytes into {@code payload}
     * at its position (which then moves past them); a larger size leaves {@code payload} untouched for the caller to
     * reject. An implementation may read ahead (the FFM one does: one {@code recvmsg} for a header and its payload,
     * or for a run of pipelined messages), so a connection that uses this method must receive only with it.
     *
     * @param header exactly 12 bytes remaining
     * @param payload room for the largest payload the caller accepts
     * @return the descriptors that came with this message, owned by the caller (empty if none)
     * @throws PeerDisconnectedException if the peer closed (see {@link #closedAtMessageBoundary()})
     * @throws ProtocolViolationException if descriptors came with payload bytes, or more than {@value #MAX_FDS}
     * @throws IOException on other socket errors
     */
    default List<Fd> receiveMessage(ByteBuffer header, ByteBuffer payload) throws IOException {
        Frames.checkHeader(header);
        List<Fd> fds = receiveHeader(header);
        long size = Integer.toUnsignedLong(header.duplicate().order(java.nio.ByteOrder.nativeOrder())
                .getInt(header.position() - 4));
        if (size <= payload.remaining()) {
            try {
                receiveFully(payload.slice(payload.position(), (int) size));
            } catch (IOException | RuntimeException e) {
                Frames.closeAll(fds);
                throw e;
            }
            payload.position(payload.position() + (int) size);
        }
        return fds;
    }

    /**
     * Receives the payload that {@link #receiveMessage} left unread because it did not fit the buffer given there: a
     * caller that keeps a small payload buffer grows it and calls this right after that {@code receiveMessage},
     * before the next one.
     *
     * @param payload exactly the message's payload size remaining; the bytes go at its position, which then moves
     *     past them
     * @throws PeerDisconnectedException if the peer closed within the payload
     * @throws ProtocolViolationException if descriptors came with payload bytes
     * @throws IllegalStateException if the last message's payload was read already, or has another size
     * @throws IOException on other socket errors
     */
    default void receivePayload(ByteBuffer payload) throws IOException {
        receiveFully(payload);
    }

    /**
     * Reads exactly {@code payload.remaining()} bytes.
     *
     * @param payload where the payload goes; may have nothing remaining
     * @throws PeerDisconnectedException if the peer closed mid-payload
     * @throws ProtocolViolationException if descriptors arrived with payload bytes (they are closed)
     * @throws IOException on other socket errors
     */
    void receiveFully(ByteBuffer payload) throws IOException;

    /**
     * Tells whether the last {@link PeerDisconnectedException} from {@link #receiveHeader} was a clean close
     * between messages (no byte of a new header had arrived).
     *
     * @return {@code true} for a clean close at a message boundary
     */
    boolean closedAtMessageBoundary();

    /**
     * Returns how many bytes can be read now without waiting (for noticing unsolicited bytes between requests).
     *
     * @return the byte count
     * @throws PeerDisconnectedException if this connection was closed
     * @throws IOException if the count cannot be read
     */
    int available() throws IOException;

    /**
     * Parks until the peer closes or shuts down its side, or the timeout passes, without reading and without
     * waking when data arrives: a monitor can watch an idle connection while callers read their own replies.
     * At most one thread may watch at a time.
     *
     * @param timeoutNanos a positive limit
     * @return {@code true} on hang-up (also after {@link #shutdown()} or {@link #close()}), {@code false} on timeout
     * @throws UnsupportedOperationException if the transport cannot watch without reading (junixsocket: use a reader
     *     thread)
     * @throws IOException if the watch cannot be set up
     */
    boolean awaitHangup(long timeoutNanos) throws IOException;

    /**
     * Shuts the socket down in both directions without closing it, unblocking blocked receivers and senders.
     * Idempotent.
     */
    void shutdown();

    /**
     * Returns the peer's {@code SO_PEERCRED} credentials.
     *
     * @return pid, uid and gid of the peer
     * @throws IOException if they cannot be read
     */
    PeerCredentials peerCredentials() throws IOException;

    /**
     * Describes the connection for logs, for example {@code "ffm /run/blk0.sock#3 (fd 17)"}.
     *
     * @return a short description
     */
    String description();

    /**
     * Returns the implementation.
     *
     * @return the kind
     */
    TransportKind kind();

    /** Shuts down, waits for in-flight operations to leave and closes the socket. Idempotent. */
    @Override
    void close();
}
