package io.vhost.testing;

import io.vhost.api.Fd;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.Listener;
import io.vhost.impl.transport.TransportKind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A scripted vhost-user back-end for front-end tests: listens on a path, accepts one front-end, reads messages as
 * raw header fields, payload bytes and fds, and writes whatever bytes and fds the test tells it to, well-formed or
 * not. Nothing is validated, so tests can send wrong reply codes, missing flags, short headers. Test code only.
 */
public final class RawBackend implements AutoCloseable {

    /** Header flag: version 1. */
    public static final int VERSION = 0x1;
    /** Header flag: this is a reply. */
    public static final int REPLY = 0x4;
    /** Header flag: the sender asks for a reply-ack. */
    public static final int NEED_REPLY = 0x8;

    private final Listener listener;
    private final List<Fd> kept = new ArrayList<>();
    private Connection connection;

    /**
     * A received message; its fds are closed by {@link #close()} unless the test closes them first.
     *
     * @param request the request code
     * @param flags the flags word
     * @param payload the payload bytes
     * @param fds the fds that came with it
     */
    public record Message(int request, int flags, byte[] payload, List<Fd> fds) {
        /** @return the payload as a little-endian buffer */
        public ByteBuffer body() {
            return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        }

        /** @return the first u64 of the payload */
        public long u64() {
            return body().getLong(0);
        }

        /** @return whether NEED_REPLY is set */
        public boolean needsReply() {
            return (flags & NEED_REPLY) != 0;
        }
    }

    private RawBackend(Listener listener) {
        this.listener = listener;
    }

    /**
     * Binds a listening socket (the front-end connects later).
     *
     * @param path where to listen
     * @return the back-end, not yet connected
     * @throws IOException if binding fails
     */
    public static RawBackend listen(Path path) throws IOException {
        return new RawBackend(Listener.bind(path, TransportKind.FFM));
    }

    /**
     * Connects to a front-end listening in server mode (retrying until it listens).
     *
     * @param path the front-end's socket
     * @param timeout how long to retry
     * @return the connected back-end
     * @throws IOException if no connection could be made
     */
    public static RawBackend connect(Path path, java.time.Duration timeout) throws IOException {
        RawBackend b = new RawBackend(null);
        b.connection = io.vhost.impl.transport.Connector.connect(path, TransportKind.FFM, timeout, Integer.MAX_VALUE);
        return b;
    }

    /**
     * Wraps an fd received from the front-end (the back-end channel of SET_BACKEND_REQ_FD) as a raw peer.
     *
     * @param socket the received socket; ownership moves to the returned object
     * @return a raw peer on that socket
     * @throws IOException if the socket cannot be wrapped
     */
    public static RawBackend adopt(Fd socket) throws IOException {
        RawBackend b = new RawBackend(null);
        io.vhost.impl.sys.OwnedFd owned = ((io.vhost.impl.sys.OwnedFd) socket).take("raw back-end channel");
        b.connection = io.vhost.impl.transport.Transports.wrap(owned, TransportKind.FFM, "raw back-end channel");
        return b;
    }

    /**
     * Waits for the front-end to connect.
     *
     * @return this
     * @throws IOException if accept fails
     */
    public RawBackend accept() throws IOException {
        if (connection != null) {
            return this; // connected by connect() or adopt()
        }
        connection = listener.accept();
        return this;
    }

    /**
     * Reads one message.
     *
     * @return the message
     * @throws IOException if the front-end closed the connection or reading failed
     */
    public Message receive() throws IOException {
        ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        List<Fd> fds = connection.receiveHeader(header);
        kept.addAll(fds);
        header.flip();
        int request = header.getInt();
        int flags = header.getInt();
        int size = header.getInt();
        ByteBuffer payload = ByteBuffer.allocate(size);
        connection.receiveFully(payload);
        return new Message(request, flags, payload.array(), fds);
    }

    /**
     * Reads one message and checks its request code.
     *
     * @param request the expected code
     * @return the message
     * @throws IOException if reading failed
     * @throws AssertionError if another request came
     */
    public Message expect(int request) throws IOException {
        Message m = receive();
        if (m.request() != request) {
            throw new AssertionError("expected request " + request + ", got " + m.request() + " flags 0x"
                    + Integer.toHexString(m.flags()) + " size " + m.payload().length);
        }
        return m;
    }

    /**
     * Sends a message with any header fields.
     *
     * @param request the code
     * @param flags the flags word, sent as given
     * @param payload the payload
     * @param fds fds to attach (still owned by the caller)
     * @throws IOException if sending fails
     */
    public void send(int request, int flags, byte[] payload, Fd... fds) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(12 + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(request).putInt(flags).putInt(payload.length).put(payload).flip();
        connection.send(b, List.of(fds));
    }

    /**
     * Sends a well-formed reply with a u64 payload.
     *
     * @param request the code of the request answered
     * @param value the u64
     * @throws IOException if sending fails
     */
    public void replyU64(int request, long value) throws IOException {
        send(request, VERSION | REPLY, u64(value));
    }

    /**
     * Sends raw bytes (for example half a header).
     *
     * @param bytes what to write
     * @throws IOException if sending fails
     */
    public void sendRaw(byte[] bytes) throws IOException {
        connection.send(ByteBuffer.wrap(bytes), List.of());
    }

    /**
     * Encodes a little-endian u64.
     *
     * @param value the value
     * @return 8 bytes
     */
    public static byte[] u64(long value) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array();
    }

    /**
     * Encodes a vring state (index u32, num u32).
     *
     * @param index the ring index
     * @param num the number
     * @return 8 bytes
     */
    public static byte[] vringState(int index, int num) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(index).putInt(num).array();
    }

    /** Closes the connection to the front-end (the listener stays). */
    public void disconnect() {
        if (connection != null) {
            connection.close();
            connection = null;
        }
    }

    /** @return the listening path */
    public Path path() {
        return listener == null ? null : listener.path();
    }

    /** Closes the connection, the listener and every fd received. */
    @Override
    public void close() {
        if (listener != null) {
            listener.close(); // first, so that a front-end reconnecting at once finds nobody listening
        }
        disconnect();
        kept.forEach(Fd::close);
    }
}
