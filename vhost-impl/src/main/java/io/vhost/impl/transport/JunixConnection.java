package io.vhost.impl.transport;

import io.vhost.api.Fd;
import io.vhost.api.error.NativeCallException;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import io.vhost.impl.sys.PeerCredentials;
import io.vhost.impl.sys.Unistd;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketCredentials;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * The junixsocket transport: blocking {@link AFUNIXSocket} streams with ancillary descriptors.
 *
 * <p>Threading rule: {@link #receiveHeader} and {@link #receiveFully} throw {@link IllegalStateException} on a virtual
 * thread, because junixsocket 2.11 waits for readiness on virtual threads with a poll job on a small fixed pool and
 * misses readiness once more readers are idle than the machine has cores (see docs/architecture.md). Run the reader
 * on a platform thread; sending is allowed from any thread.
 */
final class JunixConnection implements Connection {

    private static final int ANCILLARY_BUFFER_BYTES = 512;
    private static final int F_DUPFD_CLOEXEC = 1030;

    private final AFUNIXSocket socket;
    private final InputStream in;
    private final OutputStream out;
    private final String description;
    private final int fd;
    private final OwnedFd owned;
    private final ReentrantLock sendLock = new ReentrantLock();
    private final ReentrantLock receiveLock = new ReentrantLock();
    private byte[] sendStaging = new byte[256];
    private byte[] receiveStaging = new byte[256];
    private volatile boolean closed;
    private volatile boolean shutDown;
    private volatile boolean atBoundary;

    JunixConnection(OwnedFd connected, String description) throws IOException {
        Unistd.setNonBlocking(connected.number(), false);
        int number = connected.number();
        AFUNIXSocket s;
        try {
            s = FileDescriptorCast.unsafeUsing(number).as(AFUNIXSocket.class);
        } catch (IOException | RuntimeException e) {
            connected.close();
            throw e;
        }
        this.owned = connected;
        this.socket = s;
        this.fd = number;
        this.description = "junixsocket " + description + " (fd " + number + ")";
        try {
            socket.setAncillaryReceiveBufferSize(ANCILLARY_BUFFER_BYTES);
            this.in = socket.getInputStream();
            this.out = socket.getOutputStream();
        } catch (IOException | RuntimeException e) {
            socket.close();
            connected.close();
            throw e;
        }
    }

    @Override
    public void send(ByteBuffer message, List<? extends Fd> fds) throws IOException {
        Frames.checkFdCount(fds);
        sendLock.lock();
        try {
            ensureOpen();
            int length = message.remaining();
            if (!fds.isEmpty()) {
                FileDescriptor[] outbound = new FileDescriptor[fds.size()];
                for (int i = 0; i < outbound.length; i++) {
                    outbound[i] = FileDescriptorCast.unsafeUsing(fds.get(i).number()).getFileDescriptor();
                }
                socket.setOutboundFileDescriptors(outbound);
            }
            byte[] bytes;
            int offset;
            if (message.hasArray()) {
                bytes = message.array();
                offset = message.arrayOffset() + message.position();
            } else {
                if (sendStaging.length < length) {
                    sendStaging = new byte[Integer.highestOneBit(length) << 1];
                }
                message.duplicate().get(sendStaging, 0, length);
                bytes = sendStaging;
                offset = 0;
            }
            try {
                out.write(bytes, offset, length);
            } catch (SocketException e) {
                throw disconnected(e);
            } finally {
                if (socket.hasOutboundFileDescriptors()) {
                    socket.setOutboundFileDescriptors((FileDescriptor[]) null);
                }
            }
            message.position(message.limit());
        } finally {
            sendLock.unlock();
        }
    }

    @Override
    public List<Fd> receiveHeader(ByteBuffer header) throws IOException {
        requirePlatformThread();
        receiveLock.lock();
        try {
            ensureOpen();
            atBoundary = false;
            int wanted = header.remaining();
            byte[] buf = staging(wanted);
            List<Fd> fds = new ArrayList<>(0);
            int got = 0;
            try {
                while (got < wanted) {
                    int n = read(buf, got, wanted - got);
                    collect(fds);
                    if (n < 0) {
                        if (shutDown || closed) {
                            Frames.closeAll(fds);
                            throw Frames.shutDown(description);
                        }
                        atBoundary = got == 0;
                        throw Frames.eofInHeader(description, got, wanted, fds);
                    }
                    got += n;
                }
            } catch (IOException | RuntimeException e) {
                Frames.closeAll(fds);
                throw e;
            }
            header.put(buf, 0, wanted);
            return fds;
        } finally {
            receiveLock.unlock();
        }
    }

    @Override
    public void receiveFully(ByteBuffer payload) throws IOException {
        int wanted = payload.remaining();
        if (wanted == 0) {
            return;
        }
        requirePlatformThread();
        receiveLock.lock();
        try {
            ensureOpen();
            byte[] buf = staging(wanted);
            int got = 0;
            List<Fd> stray = new ArrayList<>(0);
            while (got < wanted) {
                int n = read(buf, got, wanted - got);
                collect(stray);
                if (!stray.isEmpty()) {
                    Frames.closeAll(stray);
                    throw Frames.fdsInPayload(description, stray.size());
                }
                if (n < 0) {
                    throw shutDown || closed ? Frames.shutDown(description)
                            : Frames.eofInPayload(description, got, wanted);
                }
                got += n;
            }
            payload.put(buf, 0, wanted);
        } finally {
            receiveLock.unlock();
        }
    }

    @Override
    public boolean closedAtMessageBoundary() {
        return atBoundary;
    }

    @Override
    public void shutdown() {
        if (shutDown) {
            return;
        }
        shutDown = true;
        // shutdown(2) on the descriptor itself: junixsocket's shutdownInput() does not wake a reader blocked in its
        // native read, while SHUT_RDWR makes that read return end of stream at once.
        try {
            Sockets.shutdown(fd, Sockets.SHUT_RDWR);
        } catch (NativeCallException e) {
            System.getLogger(JunixConnection.class.getName()).log(System.Logger.Level.DEBUG,
                    description + ": shutdown: " + e.getMessage());
        }
    }

    @Override
    public List<Fd> receiveAtLeast(ByteBuffer buffer, int minBytes) throws IOException {
        Frames.checkAtLeast(buffer, minBytes);
        ByteBuffer head = buffer.duplicate().limit(buffer.position() + minBytes);
        List<Fd> fds = receiveHeader(head);
        buffer.position(head.position());
        return fds;
    }

    @Override
    public int available() throws IOException {
        ensureOpen();
        return in.available();
    }

    @Override
    public boolean awaitHangup(long timeoutNanos) {
        throw new UnsupportedOperationException(description + ": junixsocket cannot watch for a hang-up without"
                + " reading; use a reader thread");
    }

    @Override
    public PeerCredentials peerCredentials() throws IOException {
        ensureOpen();
        AFUNIXSocketCredentials c = socket.getPeerCredentials();
        return new PeerCredentials((int) c.getPid(), (int) c.getUid(), (int) c.getGid());
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public TransportKind kind() {
        return TransportKind.JUNIXSOCKET;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        shutdown();
        closed = true;
        receiveLock.lock();
        sendLock.lock();
        try {
            socket.close();
        } catch (IOException e) {
            System.getLogger(JunixConnection.class.getName()).log(System.Logger.Level.DEBUG,
                    description + ": close: " + e.getMessage());
        } finally {
            owned.close(); // junixsocket does not close a descriptor it was given through FileDescriptorCast

            sendLock.unlock();
            receiveLock.unlock();
        }
    }

    @Override
    public String toString() {
        return description;
    }

    private int read(byte[] buf, int offset, int length) throws IOException {
        try {
            return in.read(buf, offset, length);
        } catch (SocketException e) {
            if (shutDown || closed) {
                throw Frames.shutDown(description);
            }
            throw disconnected(e);
        }
    }

    private void collect(List<Fd> into) throws IOException {
        FileDescriptor[] received = socket.getReceivedFileDescriptors();
        if (received != null) {
            for (FileDescriptor fd : received) {
                // junixsocket keeps owning what it received and closes it when the socket closes, so the caller gets
                // a duplicate (close-on-exec, which junixsocket's receive does not set) and junixsocket's copy is
                // closed through its FileDescriptor at once, which also makes junixsocket's later close a no-op.
                int number = FileDescriptorCast.using(fd).as(Integer.class);
                int copy;
                try {
                    copy = Unistd.fcntl(number, F_DUPFD_CLOEXEC, 0);
                } finally {
                    new FileInputStream(fd).close();
                }
                into.add(OwnedFd.received(copy, into.size() + 1, description));
            }
            socket.clearReceivedFileDescriptors();
        }
    }

    private byte[] staging(int length) {
        if (receiveStaging.length < length) {
            receiveStaging = new byte[Integer.highestOneBit(length) << 1];
        }
        return receiveStaging;
    }

    private void requirePlatformThread() {
        if (Thread.currentThread().isVirtual()) {
            throw new IllegalStateException(description + ": junixsocket must not be read from a virtual thread "
                    + "(its virtual-thread poller misses readiness when many readers idle); receive on a platform "
                    + "thread or use the FFM transport");
        }
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw Frames.closed(description);
        }
    }

    private io.vhost.api.error.PeerDisconnectedException disconnected(SocketException e) {
        return new io.vhost.api.error.PeerDisconnectedException(description + ": peer closed the connection ("
                + e.getMessage() + ")", e);
    }
}
