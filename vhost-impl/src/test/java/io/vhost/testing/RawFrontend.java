package io.vhost.testing;

import java.io.Closeable;
import java.io.EOFException;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.FileDescriptorCast;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import io.vhost.impl.sys.Unistd;
import java.nio.file.Files;

/**
 * A scripted raw-socket vhost-user front-end for conformance tests: writes arbitrary headers, payloads and fds
 * (including malformed ones) and reads whatever comes back, without any of the library's own protocol code.
 *
 * <p>Uses junixsocket streams on the calling (platform) test thread. Every read is bounded by a timeout, so a
 * missing reply fails the test instead of hanging it. Numbers are little-endian (the native order of x86-64 and
 * aarch64, as the spec's "machine native byte order" means on our platforms).
 */
public final class RawFrontend implements Closeable {

    /** Flags of a request: version 1. */
    public static final int V1 = 0x1;
    /** Flags of a request asking for a reply-ack: version 1 and NEED_REPLY. */
    public static final int V1_NEED_REPLY = 0x1 | 0x8;
    /** The REPLY flag. */
    public static final int REPLY = 0x4;

    private final AFUNIXSocket socket;
    private final InputStream in;
    private final OutputStream out;
    private OwnedFd owner;

    private RawFrontend(AFUNIXSocket socket, Duration readTimeout) throws IOException {
        this.socket = socket;
        socket.setAncillaryReceiveBufferSize(1024);
        socket.setSoTimeout((int) readTimeout.toMillis());
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
    }

    /**
     * Connects to a back-end listening on a path.
     *
     * @param path the back-end's socket
     * @param readTimeout the bound of every read
     * @return the connected front-end
     * @throws IOException if the connection fails
     */
    public static RawFrontend connect(Path path, Duration readTimeout) throws IOException {
        return new RawFrontend(AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(path)), readTimeout);
    }

    /**
     * Listens on a path, for a back-end in client mode (like QEMU's {@code server=on} chardev).
     *
     * @param path where to listen; must not exist
     * @return the listening socket; {@link Server#accept} returns front-ends
     * @throws IOException if bind fails
     */
    public static Server listen(Path path) throws IOException {
        OwnedFd socket = Sockets.socket(0, "raw front-end listening socket " + path);
        try {
            Sockets.bind(socket.number(), path.toString());
            Sockets.listen(socket.number(), 4);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
        return new Server(socket, path);
    }

    /**
     * A listening socket for back-ends in client mode. Plain socket calls on the test's platform thread (junixsocket's
     * server socket leaves a connected socket behind when closed after an accept).
     */
    public static final class Server implements Closeable {
        private final OwnedFd socket;
        private final Path path;

        private Server(OwnedFd socket, Path path) {
            this.socket = socket;
            this.path = path;
        }

        /**
         * Accepts one back-end.
         *
         * @param timeout how long to wait, also the read timeout of the returned front-end
         * @return the front-end side of the connection
         * @throws IOException if nobody connects in time
         */
        public RawFrontend accept(Duration timeout) throws IOException {
            if (Unistd.poll(socket.number(), Unistd.POLLIN, (int) timeout.toMillis()) == 0) {
                throw new SocketTimeoutException("no back-end connected to " + path + " within " + timeout);
            }
            OwnedFd connection = Sockets.accept(socket.number(), 0, "raw front-end connection on " + path);
            if (connection == null) {
                throw new SocketTimeoutException("accept on " + path + " found no connection");
            }
            try {
                // a socket made by a cast does not close its descriptor: the front-end keeps the owner and closes it
                FileDescriptor fd = FileDescriptorCast.unsafeUsing(connection.number()).getFileDescriptor();
                RawFrontend fe = new RawFrontend(FileDescriptorCast.using(fd).as(AFUNIXSocket.class), timeout);
                fe.owner = connection;
                return fe;
            } catch (IOException | RuntimeException e) {
                connection.close();
                throw e;
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
            Files.deleteIfExists(path);
        }
    }

    /** A message the back-end sent: header fields, payload and the fds that came with it (owned by the test). */
    public record Message(int request, int flags, byte[] payload, FileDescriptor[] fds) {
        /**
         * Returns the payload as a little-endian buffer.
         *
         * @return a new buffer over the payload
         */
        public ByteBuffer body() {
            return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        }

        /**
         * Returns the payload as one u64.
         *
         * @return the value
         * @throws AssertionError if the payload is not 8 bytes
         */
        public long u64() {
            if (payload.length != 8) {
                throw new AssertionError("expected an 8-byte payload, got " + payload.length + " bytes: " + this);
            }
            return body().getLong();
        }

        /**
         * Tells whether the REPLY flag is set.
         *
         * @return {@code true} for a reply
         */
        public boolean isReply() {
            return (flags & REPLY) != 0;
        }

        @Override
        public String toString() {
            return "Message[request=" + request + ", flags=0x" + Integer.toHexString(flags) + ", size="
                    + payload.length + ", fds=" + fds.length + "]";
        }
    }

    /**
     * Sends one message: a 12-byte header with the given fields and the payload, fds attached to the first byte.
     *
     * @param request the request code
     * @param flags the flags word, e.g. {@link #V1}
     * @param payload the payload; the header's size is its length
     * @param fds fds to attach, borrowed
     * @throws IOException if the write fails
     */
    public void send(int request, int flags, byte[] payload, FileDescriptor... fds) throws IOException {
        sendWithSize(request, flags, payload.length, payload, fds);
    }

    /**
     * Sends a header whose size field may lie about the payload that follows.
     *
     * @param request the request code
     * @param flags the flags word
     * @param sizeField the header's size field (u32)
     * @param payload the bytes actually written after the header
     * @param fds fds to attach, borrowed
     * @throws IOException if the write fails
     */
    public void sendWithSize(int request, int flags, long sizeField, byte[] payload, FileDescriptor... fds)
            throws IOException {
        ByteBuffer b = ByteBuffer.allocate(12 + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(request).putInt(flags).putInt((int) sizeField).put(payload);
        sendRaw(b.array(), fds);
    }

    /**
     * Writes raw bytes, fds attached to the first byte.
     *
     * @param bytes the bytes
     * @param fds fds to attach, borrowed
     * @throws IOException if the write fails
     */
    public void sendRaw(byte[] bytes, FileDescriptor... fds) throws IOException {
        if (fds.length > 0) {
            socket.setOutboundFileDescriptors(fds);
        }
        out.write(bytes);
        out.flush();
    }

    /**
     * Reads one message.
     *
     * @return the message; close its fds with {@link #closeAll}
     * @throws EOFException if the back-end closed the connection
     * @throws SocketTimeoutException if nothing came within the read timeout
     * @throws IOException on other errors
     */
    public Message receive() throws IOException {
        byte[] header = readFully(12);
        List<FileDescriptor> fds = new ArrayList<>();
        FileDescriptor[] got = socket.getReceivedFileDescriptors();
        if (got != null) {
            fds.addAll(Arrays.asList(got));
        }
        ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        int request = h.getInt();
        int flags = h.getInt();
        int size = h.getInt();
        if (size < 0 || size > 1 << 20) {
            throw new IOException("back-end sent a header with size " + Integer.toUnsignedString(size));
        }
        byte[] payload = readFully(size);
        got = socket.getReceivedFileDescriptors();
        if (got != null) {
            fds.addAll(Arrays.asList(got));
        }
        return new Message(request, flags, payload, fds.toArray(FileDescriptor[]::new));
    }

    /**
     * Reads one message and checks it is the reply to {@code request}.
     *
     * @param request the expected request code
     * @return the reply
     * @throws IOException if reading fails
     * @throws AssertionError if it is not a reply or has another code
     */
    public Message receiveReply(int request) throws IOException {
        Message m = receive();
        if (m.request() != request || !m.isReply() || (m.flags() & 0x3) != 1) {
            closeAll(m.fds());
            throw new AssertionError("expected a version-1 reply to request " + request + ", got " + m);
        }
        return m;
    }

    /**
     * Sends a request and reads its reply.
     *
     * @param request the request code
     * @param flags the flags
     * @param payload the payload
     * @param fds fds to attach, borrowed
     * @return the reply
     * @throws IOException if sending or reading fails
     */
    public Message call(int request, int flags, byte[] payload, FileDescriptor... fds) throws IOException {
        send(request, flags, payload, fds);
        return receiveReply(request);
    }

    /**
     * Waits until the back-end closes the connection, discarding (and closing the fds of) anything it still sends.
     *
     * @return {@code true} if end of stream came within the read timeout
     * @throws IOException on errors other than a timeout
     */
    public boolean awaitClosedByPeer() throws IOException {
        byte[] buf = new byte[256];
        try {
            while (true) {
                int n = in.read(buf);
                FileDescriptor[] got = socket.getReceivedFileDescriptors();
                if (got != null) {
                    closeAll(got);
                }
                if (n < 0) {
                    return true;
                }
            }
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            if (String.valueOf(e.getMessage()).contains("reset")) {
                return true;
            }
            throw e;
        }
    }

    /**
     * Closes received fds.
     *
     * @param fds the fds
     */
    public static void closeAll(FileDescriptor... fds) {
        for (FileDescriptor fd : fds) {
            try (FileInputStream s = new FileInputStream(fd)) {
                // closing the stream closes the fd
            } catch (IOException e) {
                throw new AssertionError("cannot close a received fd", e);
            }
        }
    }

    /**
     * Opens a harmless fd to pass in messages (an open {@code /dev/null}); close the stream afterwards.
     *
     * @return the stream owning the fd
     * @throws IOException if it cannot be opened
     */
    public static FileInputStream dummyFd() throws IOException {
        return new FileInputStream("/dev/null");
    }

    /**
     * Encodes one u64.
     *
     * @param value the value
     * @return 8 little-endian bytes
     */
    public static byte[] u64(long value) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array();
    }

    /**
     * Encodes a {@code struct vhost_vring_state}.
     *
     * @param index the ring index
     * @param num the number
     * @return 8 bytes
     */
    public static byte[] vringState(int index, int num) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(index).putInt(num).array();
    }

    /**
     * Encodes little-endian u64 values one after the other.
     *
     * @param values the values
     * @return 8 bytes per value
     */
    public static byte[] u64s(long... values) {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return b.array();
    }

    /**
     * Returns a little-endian buffer to build a payload in.
     *
     * @param size the payload size
     * @return the buffer
     */
    public static ByteBuffer payload(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Closes the socket (the back-end sees end of stream). */
    @Override
    public void close() throws IOException {
        try {
            socket.close();
        } finally {
            if (owner != null) {
                owner.close();
            }
        }
    }

    private byte[] readFully(int n) throws IOException {
        byte[] b = new byte[n];
        int off = 0;
        while (off < n) {
            int r = in.read(b, off, n - off);
            if (r < 0) {
                throw new EOFException("back-end closed the connection after " + off + " of " + n + " bytes");
            }
            off += r;
        }
        return b;
    }
}
