package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.vhost.api.error.NativeCallException;
import io.vhost.api.error.ProtocolViolationException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Reusable native {@code msghdr}, {@code iovec} and control buffer for one direction of one socket, so that sending
 * or receiving a framed message with up to {@link #MAX_FDS} descriptors allocates nothing.
 *
 * <p>Not thread-safe: the owning connection uses one instance for sending and one for receiving, each under its own
 * lock. {@link #close()} frees the native memory; the calls hand it to the kernel by address, so the owner closes it
 * only when no call can be running.
 */
public final class MessageBuffers implements AutoCloseable {

    /** The most descriptors one vhost-user message may carry. */
    public static final int MAX_FDS = 8;

    private static final long CONTROL_BYTES = Structs.cmsgSpace(4L * MAX_FDS);
    private static final long CMSG_DATA = Structs.cmsgAlign(Structs.CMSGHDR.byteSize());

    private final Arena arena = Arena.ofShared();
    private final MemorySegment msghdr = arena.allocate(Structs.MSGHDR);
    private final MemorySegment iovec = arena.allocate(Structs.IOVEC);
    private final MemorySegment control = arena.allocate(CONTROL_BYTES, 8);
    private final int[] received = new int[MAX_FDS];
    private int receivedCount;

    /** Allocates the buffers. */
    public MessageBuffers() {
    }

    /**
     * Sends {@code data} with {@code fdCount} descriptors attached in one {@code sendmsg}, or without descriptors in
     * one {@code sendto}.
     *
     * @param socket the socket
     * @param data native bytes to send
     * @param fds descriptor numbers, borrowed (not closed)
     * @param fdCount how many of {@code fds} to attach, at most {@link #MAX_FDS}
     * @param flags extra flags ({@link Sockets#MSG_DONTWAIT})
     * @return bytes sent (possibly fewer than {@code data.byteSize()}; the descriptors went with them), or -1 on EAGAIN
     * @throws NativeCallException if sendmsg or sendto fails
     */
    public long send(int socket, MemorySegment data, int[] fds, int fdCount, int flags) throws NativeCallException {
        return send(socket, data, 0, data.byteSize(), fds, fdCount, flags);
    }

    /**
     * As {@link #send(int, MemorySegment, int[], int, int)}, for bytes {@code [offset, offset + length)} of a native
     * segment, without making a slice of it.
     *
     * @param socket the socket
     * @param data a native segment, kept alive by the caller during the call
     * @param offset where the bytes start in {@code data}
     * @param length how many to send
     * @param fds descriptor numbers, borrowed (not closed)
     * @param fdCount how many of {@code fds} to attach, at most {@link #MAX_FDS}
     * @param flags extra flags ({@link Sockets#MSG_DONTWAIT})
     * @return bytes sent, or -1 on EAGAIN
     * @throws NativeCallException if sendmsg or sendto fails
     * @throws IndexOutOfBoundsException if the range is not inside {@code data}
     */
    public long send(int socket, MemorySegment data, long offset, long length, int[] fds, int fdCount, int flags)
            throws NativeCallException {
        if (fdCount < 0 || fdCount > MAX_FDS) {
            throw new IllegalArgumentException("a message carries at most " + MAX_FDS + " fds, got " + fdCount);
        }
        if (fdCount == 0) {
            return Sockets.send(socket, data, offset, length, flags); // no msghdr: the kernel copies less
        }
        prepare(data, offset, length);
        control.set(JAVA_LONG, Structs.CMSG_LEN_OFFSET, Structs.cmsgLen(4L * fdCount));
        control.set(JAVA_INT, Structs.CMSG_LEVEL, Sockets.SOL_SOCKET);
        control.set(JAVA_INT, Structs.CMSG_TYPE, Sockets.SCM_RIGHTS);
        for (int i = 0; i < fdCount; i++) {
            control.set(JAVA_INT, CMSG_DATA + 4L * i, fds[i]);
        }
        msghdr.set(ADDRESS, Structs.MSGHDR_CONTROL, control);
        msghdr.set(JAVA_LONG, Structs.MSGHDR_CONTROLLEN, Structs.cmsgSpace(4L * fdCount));
        return Sockets.sendmsg(socket, msghdr, flags);
    }

    /**
     * Receives into {@code data} with {@code MSG_CMSG_CLOEXEC}, collecting any {@code SCM_RIGHTS} descriptors; read
     * them with {@link #receivedCount()} and {@link #receivedFd(int)} before the next call. The caller owns them.
     *
     * @param socket the socket
     * @param data where the bytes go
     * @param flags extra flags ({@link Sockets#MSG_DONTWAIT})
     * @return bytes received, 0 at end of stream, -1 on EAGAIN
     * @throws NativeCallException if recvmsg fails
     * @throws ProtocolViolationException if the peer sent more descriptors than fit ({@code MSG_CTRUNC}); every
     *     descriptor that did arrive is closed first
     */
    public long receive(int socket, MemorySegment data, int flags)
            throws NativeCallException, ProtocolViolationException {
        return receive(socket, data, 0, data.byteSize(), flags);
    }

    /**
     * As {@link #receive(int, MemorySegment, int)}, into bytes {@code [offset, offset + length)} of a native segment,
     * without making a slice of it.
     *
     * @param socket the socket
     * @param data a native segment, kept alive by the caller during the call
     * @param offset where the bytes go in {@code data}
     * @param length the most bytes to receive
     * @param flags extra flags ({@link Sockets#MSG_DONTWAIT})
     * @return bytes received, 0 at end of stream, -1 on EAGAIN (or when a receive timeout ran out)
     * @throws NativeCallException if recvmsg fails
     * @throws ProtocolViolationException if the peer sent more descriptors than fit (they are closed)
     * @throws IndexOutOfBoundsException if the range is not inside {@code data}
     */
    public long receive(int socket, MemorySegment data, long offset, long length, int flags)
            throws NativeCallException, ProtocolViolationException {
        prepare(data, offset, length);
        receivedCount = 0;
        msghdr.set(ADDRESS, Structs.MSGHDR_CONTROL, control);
        msghdr.set(JAVA_LONG, Structs.MSGHDR_CONTROLLEN, CONTROL_BYTES);
        long n = Sockets.recvmsg(socket, msghdr, flags | Sockets.MSG_CMSG_CLOEXEC);
        if (n < 0) {
            return n;
        }
        collectFds();
        if ((msghdr.get(JAVA_INT, Structs.MSGHDR_FLAGS) & Sockets.MSG_CTRUNC) != 0) {
            int arrived = receivedCount;
            closeReceived();
            throw new ProtocolViolationException("peer sent more than " + MAX_FDS + " fds in one message on fd "
                    + socket + " (control data truncated); closed the " + arrived + " that arrived");
        }
        return n;
    }

    /**
     * Returns how many descriptors the last {@link #receive} collected.
     *
     * @return 0 to {@link #MAX_FDS}
     */
    public int receivedCount() {
        return receivedCount;
    }

    /**
     * Returns a descriptor collected by the last {@link #receive}; the caller must own it (wrap it in an
     * {@link OwnedFd}) at once.
     *
     * @param i index below {@link #receivedCount()}
     * @return the descriptor number
     */
    public int receivedFd(int i) {
        if (i < 0 || i >= receivedCount) {
            throw new IndexOutOfBoundsException("fd index " + i + " of " + receivedCount);
        }
        return received[i];
    }

    /** Frees the native buffers. */
    @Override
    public void close() {
        arena.close();
    }

    private void prepare(MemorySegment data, long offset, long length) {
        // ADDRESS is 8 bytes here (StructsTest)
        iovec.set(JAVA_LONG, Structs.IOVEC_BASE, Sockets.bufferAddress(data, offset, length));
        iovec.set(JAVA_LONG, Structs.IOVEC_LEN, length);
        msghdr.set(ADDRESS, Structs.MSGHDR_NAME, MemorySegment.NULL);
        msghdr.set(JAVA_INT, Structs.MSGHDR_NAMELEN, 0);
        msghdr.set(ADDRESS, Structs.MSGHDR_IOV, iovec);
        msghdr.set(JAVA_LONG, Structs.MSGHDR_IOVLEN, 1L);
        msghdr.set(ADDRESS, Structs.MSGHDR_CONTROL, MemorySegment.NULL);
        msghdr.set(JAVA_LONG, Structs.MSGHDR_CONTROLLEN, 0L);
        msghdr.set(JAVA_INT, Structs.MSGHDR_FLAGS, 0);
    }

    private void collectFds() {
        long length = msghdr.get(JAVA_LONG, Structs.MSGHDR_CONTROLLEN);
        long offset = 0;
        while (offset + CMSG_DATA <= length) {
            long cmsgLen = control.get(JAVA_LONG, offset + Structs.CMSG_LEN_OFFSET);
            if (cmsgLen < CMSG_DATA || offset + cmsgLen > length) {
                break;
            }
            if (control.get(JAVA_INT, offset + Structs.CMSG_LEVEL) == Sockets.SOL_SOCKET
                    && control.get(JAVA_INT, offset + Structs.CMSG_TYPE) == Sockets.SCM_RIGHTS) {
                int count = (int) ((cmsgLen - CMSG_DATA) / 4);
                for (int i = 0; i < count && receivedCount < MAX_FDS; i++) {
                    received[receivedCount++] = control.get(JAVA_INT, offset + CMSG_DATA + 4L * i);
                }
            }
            offset += Structs.cmsgAlign(cmsgLen);
        }
    }

    private void closeReceived() {
        for (int i = 0; i < receivedCount; i++) {
            OwnedFd.of(received[i], "unexpected received fd").close();
        }
        receivedCount = 0;
    }
}
