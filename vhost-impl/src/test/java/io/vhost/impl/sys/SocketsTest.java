package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.NativeCallException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.testing.NoFdLeaks;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SocketsTest {

    @Test
    void sendsEightFdsAndReceivesThemCloexec() throws Exception {
        OwnedFd[] pair = Sockets.socketPair(0, "test pair");
        OwnedFd[] sent = new OwnedFd[8];
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]; MessageBuffers out = new MessageBuffers();
                MessageBuffers in = new MessageBuffers(); Arena arena = Arena.ofConfined()) {
            int[] numbers = new int[8];
            for (int i = 0; i < 8; i++) {
                sent[i] = EventFds.create(EventFds.EFD_NONBLOCK, "sent " + i);
                numbers[i] = sent[i].number();
            }
            MemorySegment data = arena.allocate(12);
            data.set(JAVA_INT, 0, 42);
            assertEquals(12, out.send(a.number(), data, numbers, 8, 0));
            MemorySegment received = arena.allocate(12);
            assertEquals(12, in.receive(b.number(), received, 0));
            assertEquals(42, received.get(JAVA_INT, 0));
            assertEquals(8, in.receivedCount());
            for (int i = 0; i < 8; i++) {
                try (OwnedFd fd = OwnedFd.of(in.receivedFd(i), "received " + i)) {
                    assertEquals(Unistd.FD_CLOEXEC, Unistd.fcntl(fd.number(), Unistd.F_GETFD, 0));
                    EventFds.signal(fd.number(), i + 1);
                    assertEquals(i + 1, EventFds.drain(sent[i].number()));
                }
            }
        } finally {
            for (OwnedFd fd : sent) {
                if (fd != null) {
                    fd.close();
                }
            }
        }
    }

    @Test
    void sendsARangeWithoutFdsThroughSendtoAndReportsEagainAndEpipe() throws Exception {
        OwnedFd[] pair = Sockets.socketPair(0, "sendto pair");
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]; MessageBuffers out = new MessageBuffers();
                MessageBuffers in = new MessageBuffers(); Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(32);
            for (int i = 0; i < 32; i++) {
                data.set(JAVA_BYTE, i, (byte) i);
            }
            assertEquals(12, out.send(a.number(), data, 4, 12, new int[0], 0, 0), "bytes 4..15, no fds: sendto");
            MemorySegment received = arena.allocate(64);
            assertEquals(12, in.receive(b.number(), received, 0));
            assertEquals(0, in.receivedCount());
            for (int i = 0; i < 12; i++) {
                assertEquals((byte) (i + 4), received.get(JAVA_BYTE, i));
            }
            assertThrows(IndexOutOfBoundsException.class, () -> Sockets.send(a.number(), data, 30, 4, 0));
            assertThrows(IllegalArgumentException.class,
                    () -> Sockets.send(a.number(), MemorySegment.ofArray(new byte[4]), 0, 4, 0));
            MemorySegment big = arena.allocate(1 << 20);
            long total = 0;
            long n;
            while ((n = Sockets.send(a.number(), big, 0, big.byteSize(), Sockets.MSG_DONTWAIT)) > 0) {
                total += n;
            }
            assertEquals(-1, n, "a full socket reports EAGAIN as -1 after " + total + " bytes");
            b.close();
            NativeCallException e = assertThrows(NativeCallException.class,
                    () -> Sockets.send(a.number(), data, 0, 4, 0), "no SIGPIPE: MSG_NOSIGNAL is added");
            assertTrue(e.getMessage().contains("sendto"), e.getMessage());
        }
    }

    @Test
    void tooManyFdsTruncateAndAreAllClosed() throws Exception {
        OwnedFd[] pair = Sockets.socketPair(0, "ctrunc pair");
        OwnedFd extra = EventFds.create(0, "sent ten times");
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]; MessageBuffers in = new MessageBuffers();
                Arena arena = Arena.ofConfined()) {
            int count = 10;
            MemorySegment control = arena.allocate(Structs.cmsgSpace(4L * count), 8);
            control.set(JAVA_LONG, 0, Structs.cmsgLen(4L * count));
            control.set(JAVA_INT, Structs.CMSG_LEVEL, Sockets.SOL_SOCKET);
            control.set(JAVA_INT, Structs.CMSG_TYPE, Sockets.SCM_RIGHTS);
            for (int i = 0; i < count; i++) {
                control.set(JAVA_INT, 16 + 4L * i, extra.number());
            }
            MemorySegment data = arena.allocate(4);
            MemorySegment iov = arena.allocate(Structs.IOVEC);
            iov.set(ADDRESS, Structs.IOVEC_BASE, data);
            iov.set(JAVA_LONG, Structs.IOVEC_LEN, 4);
            MemorySegment msg = arena.allocate(Structs.MSGHDR);
            msg.set(ADDRESS, Structs.MSGHDR_IOV, iov);
            msg.set(JAVA_LONG, Structs.MSGHDR_IOVLEN, 1);
            msg.set(ADDRESS, Structs.MSGHDR_CONTROL, control);
            msg.set(JAVA_LONG, Structs.MSGHDR_CONTROLLEN, control.byteSize());
            assertEquals(4, Sockets.sendmsg(a.number(), msg, 0));
            var before = io.vhost.testing.FdLeakExtension.openFds().size();
            ProtocolViolationException e = assertThrows(ProtocolViolationException.class,
                    () -> in.receive(b.number(), arena.allocate(4), 0));
            assertTrue(e.getMessage().contains("more than 8 fds"), e.getMessage());
            assertEquals(before, io.vhost.testing.FdLeakExtension.openFds().size(), "received fds were not closed");
        } finally {
            extra.close();
        }
    }

    @Test
    void peerCredentialsAreOurs() throws Exception {
        OwnedFd[] pair = Sockets.socketPair(0, "cred pair");
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]) {
            PeerCredentials c = Sockets.peerCredentials(a.number());
            assertEquals(ProcessHandle.current().pid(), c.pid());
            assertEquals(Sockets.AF_UNIX, Sockets.getIntOption(b.number(), Sockets.SOL_SOCKET, Sockets.SO_DOMAIN));
            assertEquals(0, Sockets.getIntOption(b.number(), Sockets.SOL_SOCKET, Sockets.SO_ACCEPTCONN));
        }
    }

    @Test
    void eofIsZeroAndEagainIsMinusOne() throws Exception {
        OwnedFd[] pair = Sockets.socketPair(Sockets.SOCK_NONBLOCK, "eof pair");
        try (OwnedFd b = pair[1]; MessageBuffers in = new MessageBuffers(); Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(4);
            assertEquals(-1, in.receive(b.number(), buf, 0));
            pair[0].close();
            assertEquals(0, in.receive(b.number(), buf, 0));
            assertFalse(pair[0].isOpen());
        }
    }

    @Test
    void aBlockingReceiveEndsWithEagainAfterTheReceiveTimeoutAndReadsDataThatArrives() throws Exception {
        OwnedFd[] pair = Sockets.socketPair(0, "timeout pair");
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]; MessageBuffers in = new MessageBuffers();
                MessageBuffers out = new MessageBuffers(); Arena arena = Arena.ofConfined()) {
            Sockets.setReceiveTimeout(b.number(), 2_000_000);
            MemorySegment buf = arena.allocate(4);
            assertEquals(-1, in.receive(b.number(), buf, 0), "nothing came within the timeout: EAGAIN, not a hang");
            buf.set(JAVA_INT, 0, 0x01020304);
            assertEquals(4, out.send(a.number(), buf, new int[0], 0, 0));
            buf.set(JAVA_INT, 0, 0);
            assertEquals(4, in.receive(b.number(), buf, 0));
            assertEquals(0x01020304, buf.get(JAVA_INT, 0));
            Sockets.setReceiveTimeout(b.number(), 0); // back to blocking for ever: the peer's close ends it
            a.close();
            assertEquals(0, in.receive(b.number(), buf, 0));
            assertThrows(IllegalArgumentException.class, () -> Sockets.setReceiveTimeout(b.number(), 999));
        }
    }
}
