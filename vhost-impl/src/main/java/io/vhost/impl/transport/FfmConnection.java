package io.vhost.impl.transport;

import io.vhost.api.Fd;
import io.vhost.api.error.NativeCallException;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.impl.poll.BriefWait;
import io.vhost.impl.poll.Poller;
import io.vhost.impl.sys.Epoll;
import io.vhost.impl.sys.Errno;
import io.vhost.impl.sys.MessageBuffers;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.PeerCredentials;
import io.vhost.impl.sys.Sockets;
import io.vhost.impl.sys.Unistd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.StampedLock;

/**
 * The FFM transport: a socket, {@code sendmsg} (or {@code sendto} when no descriptors go along) and {@code recvmsg}
 * with reusable native buffers. A receive that has to wait first blocks in one {@code recvmsg} bounded by the socket's
 * receive timeout (on a virtual thread only with a {@link BriefWait} ticket), then, once that has run out, waits
 * through the {@link Poller} on virtual threads and in {@code poll(2)} on platform threads.
 *
 * <p>Closing: {@link #close()} shuts the socket down (waking blocked operations), then takes the write side of an
 * in-use lock that every operation holds for reading, so the descriptor is closed only when no operation can still
 * use its number.
 */
final class FfmConnection implements Connection {

    private final OwnedFd socket;
    private final int fd;
    private final String description;
    private final Poller poller;
    private final Poller.Interest readInterest; // guarded by receiveLock
    private final MessageBuffers sendBuffers = new MessageBuffers();
    private final MessageBuffers receiveBuffers = new MessageBuffers();
    private final ReentrantLock sendLock = new ReentrantLock();
    private final ReentrantLock receiveLock = new ReentrantLock();
    private final StampedLock inUse = new StampedLock(); // no per-thread state, unlike ReentrantReadWriteLock
    private final int[] sendFds = new int[MAX_FDS];
    private MemorySegment sendStaging = MemorySegment.NULL;
    private MemorySegment receiveStaging = MemorySegment.NULL;
    private ByteBuffer sendBuffer; // the last direct buffer sent from and its whole segment; guarded by sendLock
    private MemorySegment sendSegment;
    private ByteBuffer receiveBuffer; // likewise for receiving; guarded by receiveLock
    private MemorySegment receiveSegment;
    private volatile boolean closed;
    private volatile boolean shutDown;
    private volatile boolean atBoundary;
    private static final boolean READ_AHEAD = Boolean.parseBoolean(System.getProperty("vhost.transport.readAhead",
            "true"));
    private boolean waitedLastTime; // guarded by receiveLock
    private boolean lastReceiveWaited; // set by receiveSome; guarded by receiveLock
    private ReadAhead readAhead; // created by the first receiveMessage; guarded by receiveLock
    private OwnedFd hangupWatch; // a copy of the socket fd, registered for EPOLLRDHUP only; guarded by inUse
    private OwnedFd writeWatch; // a copy of the socket fd for send waits (its own epoll registration); likewise

    FfmConnection(OwnedFd socket, String description, Poller poller) throws NativeCallException {
        // Blocking mode with a receive timeout: a virtual thread holding a brief-wait ticket, and a platform thread,
        // wait and read in one blocking recvmsg; every other call passes MSG_DONTWAIT and never blocks.
        Unistd.setNonBlocking(socket.number(), false);
        if (BriefWait.limitNanos() > 0) {
            Sockets.setReceiveTimeout(socket.number(), Math.max(1_000, BriefWait.limitNanos()));
        }
        this.socket = socket;
        this.fd = socket.number();
        this.description = "ffm " + description + " (fd " + fd + ")";
        this.poller = poller;
        this.readInterest = poller.interest(fd);
    }

    @Override
    public void send(ByteBuffer message, List<? extends Fd> fds) throws IOException {
        Frames.checkFdCount(fds);
        sendLock.lock();
        long useStamp = inUse.readLock();
        try {
            ensureOpen();
            int fdCount = fds.size();
            for (int i = 0; i < fdCount; i++) {
                sendFds[i] = fds.get(i).number();
            }
            int length = message.remaining();
            MemorySegment data;
            long offset;
            if (message.isDirect()) {
                data = wholeSegment(message, true);
                offset = message.position();
            } else {
                sendStaging = grow(sendStaging, length);
                data = sendStaging;
                offset = 0;
                MemorySegment.copy(MemorySegment.ofBuffer(message), 0, data, 0, length);
            }
            long sent = 0;
            while (sent < length || (length == 0 && fdCount > 0 && sent == 0)) {
                long n;
                try {
                    n = sendBuffers.send(fd, data, offset + sent, length - sent, sendFds, sent == 0 ? fdCount : 0,
                            Sockets.MSG_DONTWAIT);
                } catch (NativeCallException e) {
                    throw translate(e);
                }
                if (n < 0) {
                    awaitWritable();
                } else {
                    sent += n;
                    if (length == 0) {
                        break;
                    }
                }
            }
            Reference.reachabilityFence(message);
            message.position(message.limit());
        } finally {
            inUse.unlockRead(useStamp);
            sendLock.unlock();
        }
    }

    @Override
    public List<Fd> receiveHeader(ByteBuffer header) throws IOException {
        return receiveWithFds(header, header.remaining());
    }

    @Override
    public List<Fd> receiveAtLeast(ByteBuffer buffer, int minBytes) throws IOException {
        Frames.checkAtLeast(buffer, minBytes);
        return receiveWithFds(buffer, minBytes);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Reads ahead through {@link ReadAhead} (off with {@code -Dvhost.transport.readAhead=false}).
     */
    @Override
    public List<Fd> receiveMessage(ByteBuffer header, ByteBuffer payload) throws IOException {
        if (!READ_AHEAD) {
            return Connection.super.receiveMessage(header, payload);
        }
        Frames.checkHeader(header);
        receiveLock.lock();
        long useStamp = inUse.readLock();
        try {
            ensureOpen();
            atBoundary = false;
            if (readAhead == null) {
                readAhead = new ReadAhead();
            }
            fill(ReadAhead.HEADER_BYTES, true);
            List<Fd> fds = readAhead.takeHeader(header);
            long size = readAhead.lastPayloadSize();
            if (size <= payload.remaining()) {
                try {
                    takePayload(payload, (int) size);
                } catch (IOException | RuntimeException e) {
                    Frames.closeAll(fds);
                    throw e;
                }
            }
            return fds;
        } finally {
            inUse.unlockRead(useStamp);
            receiveLock.unlock();
        }
    }

    @Override
    public void receivePayload(ByteBuffer payload) throws IOException {
        if (!READ_AHEAD) {
            Connection.super.receivePayload(payload);
            return;
        }
        receiveLock.lock();
        long useStamp = inUse.readLock();
        try {
            ensureOpen();
            int size = payload.remaining();
            if (readAhead == null || readAhead.lastPayloadSize() != size) {
                throw new IllegalStateException(description + ": no unread payload of " + size + " bytes (unread: "
                        + (readAhead == null ? 0 : readAhead.lastPayloadSize()) + ")");
            }
            takePayload(payload, size);
        } finally {
            inUse.unlockRead(useStamp);
            receiveLock.unlock();
        }
    }

    /**
     * Receives the payload of the header just taken into {@code payload}: through the read-ahead buffer when it fits
     * there; otherwise what is buffered of it, all of which belongs to it, then the rest straight into the caller's
     * buffer. The caller holds the receive lock.
     */
    private void takePayload(ByteBuffer payload, int size) throws IOException {
        if (size <= ReadAhead.CAPACITY) {
            fill(size, false);
            readAhead.takePayload(payload, size);
            return;
        }
        int buffered = readAhead.available();
        readAhead.takePayload(payload, buffered);
        int rest = size - buffered;
        readFully(payload, rest, buffered, size);
        readAhead.skipped(rest);
    }

    /** Reads into the read-ahead buffer until it holds {@code wanted} unread bytes. */
    private void fill(int wanted, boolean header) throws IOException {
        ReadAhead ra = readAhead;
        boolean waitFirst = header && ra.available() == 0 && waitedLastTime;
        boolean waited = false;
        while (ra.available() < wanted) {
            boolean first = header && ra.available() == 0;
            ra.makeRoom();
            long n = receiveSome(ra.segment(), ra.roomOffset(), ra.roomLength(), waitFirst, first);
            waitFirst = false;
            waited |= first && lastReceiveWaited;
            List<Fd> fds = takeReceivedFds();
            if (n == 0) {
                Frames.closeAll(fds);
                int got = ra.available();
                if (header) {
                    atBoundary = got == 0 && !shutDown && !closed;
                }
                if (shutDown || closed) {
                    throw Frames.shutDown(description);
                }
                throw header ? Frames.eofInHeader(description, got, wanted, List.of())
                        : Frames.eofInPayload(description, got, wanted);
            }
            ra.added((int) n, fds, description);
        }
        if (header) {
            waitedLastTime = waited;
        }
    }

    /** Owns the descriptors the last receive collected (none: the shared empty list). */
    private List<Fd> takeReceivedFds() {
        int count = receiveBuffers.receivedCount();
        if (count == 0) {
            return List.of();
        }
        List<Fd> fds = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            fds.add(OwnedFd.received(receiveBuffers.receivedFd(i), i + 1, description));
        }
        return fds;
    }

    /**
     * One {@code recvmsg} into {@code into} that returns data or end of stream, waiting as long as it takes: first in
     * one blocking {@code recvmsg} bounded by the receive timeout (waiting and reading in one call; a virtual thread
     * only with a {@link BriefWait} ticket, since it holds its carrier), then, once that ran out, a virtual thread
     * parked through the poller and a platform thread in {@code poll(2)} without a timeout. Sets
     * {@link #lastReceiveWaited}. A message's first bytes found without parking (by the brief wait or at once) end
     * the registration an earlier park left in the poller ({@link Poller.Interest}).
     *
     * @param into where the bytes go: {@code length} bytes from {@code offset}
     * @param offset where in {@code into}
     * @param length the most bytes to read
     * @param waitFirst the previous read had to wait, so this one is expected to wait too: skip the non-blocking try
     * @param messageStart these are the first bytes of a message (or of a caller's receive)
     * @return bytes received (at least 1), or 0 at end of stream
     */
    private long receiveSome(MemorySegment into, long offset, long length, boolean waitFirst, boolean messageStart)
            throws IOException {
        boolean virtual = Thread.currentThread().isVirtual();
        boolean tryNow = !waitFirst;
        boolean parked = false;
        boolean blockedOnce = false;
        lastReceiveWaited = false;
        try {
            while (true) {
                if (tryNow) {
                    long n = receiveBuffers.receive(fd, into, offset, length, Sockets.MSG_DONTWAIT);
                    if (n >= 0) {
                        if (messageStart && !parked) {
                            readInterest.readyWithoutPark();
                        }
                        return n;
                    }
                }
                tryNow = true;
                lastReceiveWaited = true;
                if (!virtual) {
                    if (!blockedOnce) {
                        // A platform thread may block: wait and read in one recvmsg, bounded by the SO_RCVTIMEO (a
                        // socket without one blocks until data or shutdown). Once that runs out, the connection is
                        // idle: poll without a timeout, so that an idle platform reader does not wake every tick.
                        blockedOnce = true;
                        long n = receiveBuffers.receive(fd, into, offset, length, 0);
                        if (n >= 0) {
                            if (messageStart) {
                                readInterest.readyWithoutPark();
                            }
                            return n;
                        }
                    }
                    Unistd.poll(fd, Unistd.POLLIN, -1);
                    continue;
                }
                BriefWait.Ticket ticket = BriefWait.begin();
                if (ticket != null) {
                    long n = -1;
                    try {
                        // Blocks for at most about the SO_RCVTIMEO. The kernel counts that timeout in scheduler ticks
                        // and ends it at a tick boundary, so a first wait that began just before one can end after
                        // microseconds; the second lasts at least a whole tick.
                        n = receiveBuffers.receive(fd, into, offset, length, 0);
                        if (n < 0) {
                            n = receiveBuffers.receive(fd, into, offset, length, 0);
                        }
                    } finally {
                        BriefWait.end(ticket, n >= 0);
                    }
                    if (n >= 0) {
                        readInterest.readyWithoutPark();
                        return n;
                    }
                }
                readInterest.park(Epoll.EPOLLIN, 0);
                parked = true;
            }
        } catch (NativeCallException e) {
            throw translate(e);
        }
    }

    /**
     * Reads between {@code min} and {@code buffer.remaining()} bytes with their descriptors. If the previous call had
     * to wait for its first bytes (a caller waiting for replies, a back-end between requests), this one waits before
     * its first read instead of trying it first, which saves a read that would find nothing.
     */
    private List<Fd> receiveWithFds(ByteBuffer buffer, int min) throws IOException {
        receiveLock.lock();
        long useStamp = inUse.readLock();
        try {
            ensureOpen();
            atBoundary = false;
            List<Fd> fds = List.of();
            int wanted = buffer.remaining();
            MemorySegment data = target(buffer, wanted);
            long at = buffer.isDirect() ? buffer.position() : 0;
            int got = 0;
            boolean waited = false;
            try {
                while (got < min) {
                    long n = receiveSome(data, at + got, wanted - got, got == 0 && waitedLastTime, got == 0);
                    waited |= got == 0 && lastReceiveWaited;
                    List<Fd> more = takeReceivedFds();
                    if (!more.isEmpty()) {
                        if (fds.isEmpty()) {
                            fds = more;
                        } else {
                            fds.addAll(more);
                        }
                    }
                    if (n == 0) {
                        atBoundary = got == 0 && !shutDown && !closed;
                        if (shutDown || closed) {
                            Frames.closeAll(fds);
                            throw Frames.shutDown(description);
                        }
                        throw Frames.eofInHeader(description, got, min, fds);
                    }
                    got += (int) n;
                }
            } catch (IOException | RuntimeException e) {
                Frames.closeAll(fds);
                throw e;
            }
            waitedLastTime = waited;
            finish(buffer, data, got);
            return fds;
        } finally {
            inUse.unlockRead(useStamp);
            receiveLock.unlock();
        }
    }

    @Override
    public void receiveFully(ByteBuffer payload) throws IOException {
        int wanted = payload.remaining();
        if (wanted == 0) {
            return;
        }
        receiveLock.lock();
        long useStamp = inUse.readLock();
        try {
            ensureOpen();
            readFully(payload, wanted, 0, wanted);
        } finally {
            inUse.unlockRead(useStamp);
            receiveLock.unlock();
        }
    }

    /**
     * Reads exactly {@code length} payload bytes into {@code payload} at its position; descriptors that come with
     * them are a protocol violation. The caller holds the receive lock.
     *
     * @param done payload bytes the caller has already, for messages
     * @param total the whole payload, for messages
     */
    private void readFully(ByteBuffer payload, int length, int done, int total) throws IOException {
        MemorySegment data = target(payload, length);
        long at = payload.isDirect() ? payload.position() : 0;
        int got = 0;
        while (got < length) {
            long n = receiveSome(data, at + got, length - got, false, false);
            List<Fd> stray = takeReceivedFds();
            if (!stray.isEmpty()) {
                Frames.closeAll(stray);
                throw Frames.fdsInPayload(description, stray.size());
            }
            if (n == 0) {
                throw shutDown || closed ? Frames.shutDown(description)
                        : Frames.eofInPayload(description, done + got, total);
            }
            got += (int) n;
        }
        finish(payload, data, length);
    }

    @Override
    public boolean closedAtMessageBoundary() {
        return atBoundary;
    }

    @Override
    public void shutdown() {
        if (!shutDown) {
            shutDown = true;
            long useStamp = inUse.readLock();
            try {
                if (socket.isOpen()) {
                    Sockets.shutdown(fd, Sockets.SHUT_RDWR);
                }
            } catch (NativeCallException e) {
                System.getLogger(FfmConnection.class.getName()).log(System.Logger.Level.DEBUG,
                        description + ": shutdown: " + e.getMessage());
            } finally {
                inUse.unlockRead(useStamp);
            }
        }
    }

    @Override
    public int available() throws IOException {
        long useStamp = inUse.readLock();
        try {
            ensureOpen();
            return Sockets.bytesAvailable(fd);
        } catch (NativeCallException e) {
            throw translate(e);
        } finally {
            inUse.unlockRead(useStamp);
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Waits through the poller on a copy of the socket fd registered for {@code EPOLLRDHUP} alone (plus the
     * always-reported hang-up and error), so arriving data never wakes the watcher: receivers keep their own waits.
     */
    @Override
    public boolean awaitHangup(long timeoutNanos) throws IOException {
        if (timeoutNanos <= 0) {
            throw new IllegalArgumentException("timeout " + timeoutNanos + " ns must be positive");
        }
        long useStamp = inUse.readLock();
        try {
            if (closed || shutDown) {
                return true;
            }
            int watch;
            synchronized (this) {
                if (hangupWatch == null) {
                    hangupWatch = Unistd.dup(fd, "hang-up watch of " + description);
                }
                watch = hangupWatch.number();
            }
            return poller.await(watch, Epoll.EPOLLRDHUP, timeoutNanos) || shutDown || closed;
        } catch (NativeCallException e) {
            throw translate(e);
        } finally {
            inUse.unlockRead(useStamp);
        }
    }

    @Override
    public PeerCredentials peerCredentials() throws IOException {
        long useStamp = inUse.readLock();
        try {
            ensureOpen();
            return Sockets.peerCredentials(fd);
        } finally {
            inUse.unlockRead(useStamp);
        }
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public TransportKind kind() {
        return TransportKind.FFM;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        shutdown();
        closed = true;
        long closeStamp = inUse.writeLock();
        try {
            if (socket.isOpen()) {
                synchronized (this) {
                    if (hangupWatch != null) {
                        hangupWatch.close();
                    }
                    if (writeWatch != null) {
                        writeWatch.close();
                    }
                }
                socket.close();
                sendBuffers.close();
                receiveBuffers.close();
                if (readAhead != null) {
                    readAhead.close();
                }
            }
        } finally {
            inUse.unlockWrite(closeStamp);
        }
    }

    @Override
    public String toString() {
        return description;
    }

    private void ensureOpen() throws PeerDisconnectedException {
        if (closed) {
            throw Frames.closed(description);
        }
    }

    private IOException translate(NativeCallException e) {
        if (e.errno() == Errno.EPIPE || e.errno() == Errno.ECONNRESET || e.errno() == Errno.ENOTCONN) {
            if (shutDown || closed) {
                return Frames.shutDown(description);
            }
            return new PeerDisconnectedException(description + ": peer closed the connection ("
                    + e.getMessage() + ")", e);
        }
        return e;
    }

    /**
     * Waits until the socket takes more bytes. A virtual thread parks on a copy of the socket fd, which has its own
     * registration in the poller: a send wait and a receive wait (and the receive side's {@link Poller.Interest})
     * never touch each other's registration, and both may park at once.
     */
    private void awaitWritable() throws IOException {
        if (Thread.currentThread().isVirtual()) {
            int watch;
            synchronized (this) {
                if (writeWatch == null) {
                    writeWatch = Unistd.dup(fd, "send-wait copy of " + description);
                }
                watch = writeWatch.number();
            }
            poller.awaitWritable(watch);
        } else {
            Unistd.poll(fd, Unistd.POLLOUT, -1);
        }
    }

    /**
     * Where bytes for {@code buffer} are received: a direct buffer's own memory (the whole buffer; they go at its
     * position), or the staging area (from 0) that {@link #finish} copies into a heap buffer.
     */
    private MemorySegment target(ByteBuffer buffer, int length) {
        if (buffer.isReadOnly()) {
            throw new IllegalArgumentException(description + ": cannot receive into a read-only buffer");
        }
        if (buffer.isDirect()) {
            return wholeSegment(buffer, false);
        }
        receiveStaging = grow(receiveStaging, length);
        return receiveStaging;
    }

    /**
     * A segment over the whole capacity of a direct buffer, kept for the last buffer seen on each side: callers reuse
     * their buffers, so a request and its reply make no segment object. Guarded by the side's lock.
     */
    private MemorySegment wholeSegment(ByteBuffer buffer, boolean sending) {
        if (sending) {
            if (buffer != sendBuffer) {
                sendSegment = MemorySegment.ofBuffer(buffer.duplicate().clear());
                sendBuffer = buffer;
            }
            return sendSegment;
        }
        if (buffer != receiveBuffer) {
            receiveSegment = MemorySegment.ofBuffer(buffer.duplicate().clear());
            receiveBuffer = buffer;
        }
        return receiveSegment;
    }

    /** Copies {@code length} received bytes into a heap buffer (a direct one has them already) and moves past them. */
    private static void finish(ByteBuffer buffer, MemorySegment data, int length) {
        if (!buffer.isDirect()) {
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, 0, MemorySegment.ofBuffer(buffer), ValueLayout.JAVA_BYTE,
                    0, length);
        }
        Reference.reachabilityFence(buffer);
        buffer.position(buffer.position() + length);
    }

    private static MemorySegment grow(MemorySegment current, int length) {
        if (current.byteSize() >= length) {
            return current;
        }
        long size = Math.max(256, Long.highestOneBit(Math.max(1, length - 1)) << 1);
        return Arena.ofAuto().allocate(size, 8);
    }
}
