package io.vhost.impl.transport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.impl.poll.BriefWait;
import io.vhost.impl.poll.Poller;
import io.vhost.testing.EpollEntries;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class FfmConnectionTest extends ConnectionContractTest {

    @Override
    TransportKind kind() {
        return TransportKind.FFM;
    }

    @Test
    void aVirtualThreadReceivesThroughThePoller() throws Exception {
        AtomicReference<Object> result = new AtomicReference<>();
        Thread reader = receiveOnVirtualThread(b, result);
        await().atMost(BOUND).until(() -> Poller.shared().waiterCount() >= 1);
        a.send(message(1, new byte[] {1, 2, 3}, false), List.of(eventfd("kick")));
        assertTrue(reader.join(BOUND));
        assertArrayEquals(new byte[] {1, 2, 3}, (byte[]) result.get());
    }

    @Test
    void aReceiverThatParkedLeavesNoEpollEntryOnItsSocketOnceDataComesWithoutParking() throws Exception {
        int fd = fdNumber(b);
        AtomicReference<Object> result = new AtomicReference<>();
        Thread reader = receiveOnVirtualThread(b, result);
        await().atMost(BOUND).until(() -> Poller.shared().waiterCount() >= 1);
        a.send(message(1, new byte[] {1}, false), List.of());
        assertTrue(reader.join(BOUND));
        assertArrayEquals(new byte[] {1}, (byte[]) result.get());
        assertEquals(1, EpollEntries.count(fd), "the park left its one-shot registration, to be re-armed in place");

        a.send(message(2, new byte[] {2}, false), List.of());
        assertArrayEquals(new byte[] {2}, receive(b, new ArrayList<>(), true)); // found at once, no park
        assertEquals(0, EpollEntries.count(fd), "no epoll callback stays on the socket for the messages to come");
    }

    @Test
    void aSendAndAReceiveMayBothParkOnOneSocket() throws Exception {
        int before = Poller.shared().waiterCount();
        AtomicReference<Object> received = new AtomicReference<>();
        Thread receiver = receiveOnVirtualThread(b, received);
        await().atMost(BOUND).until(() -> Poller.shared().waiterCount() >= before + 1);
        int messages = 2_000; // 8 MB: far beyond the socket buffer, so the sender parks while a does not read
        ByteBuffer big = message(5, new byte[4096], true);
        AtomicReference<Throwable> sendFailure = new AtomicReference<>();
        Thread sender = Thread.ofVirtual().start(() -> {
            try {
                for (int i = 0; i < messages; i++) {
                    b.send(big.duplicate(), List.of());
                }
            } catch (IOException | RuntimeException e) {
                sendFailure.set(e);
            }
        });
        await().atMost(BOUND).until(() -> Poller.shared().waiterCount() >= before + 2 || !sender.isAlive());
        assertEquals(null, sendFailure.get(), "the sender parks beside the parked receiver");
        assertTrue(sender.isAlive(), "the sender is parked: the socket buffer is full");
        for (int i = 0; i < messages; i++) {
            assertEquals(4096, receive(a, new ArrayList<>(), true).length);
        }
        assertTrue(sender.join(BOUND));
        assertEquals(null, sendFailure.get());
        a.send(message(6, new byte[] {6}, false), List.of());
        assertTrue(receiver.join(BOUND));
        assertArrayEquals(new byte[] {6}, (byte[]) received.get());
    }

    @Test
    void aPlatformReceiverWaitsInRecvmsgUntilItsTimeoutAndThenInPollUntilDataComes() throws Exception {
        // poll-family system calls by architecture (x86-64: poll, ppoll; aarch64 has only ppoll)
        List<Long> pollCalls = switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> List.of(7L, 271L);
            case "aarch64" -> List.of(73L);
            default -> List.of();
        };
        assumeTrue(!pollCalls.isEmpty(), "system call numbers known for x86-64 and aarch64 only");
        assumeTrue(Files.isReadable(Path.of("/proc/thread-self/syscall")), "/proc/*/syscall is not readable here");
        // without brief waits the socket has no receive timeout: a platform reader then stays in recvmsg until data
        assumeTrue(BriefWait.limitNanos() > 0, "brief waits are off (-Dvhost.poll.briefWaitMicros=0)");
        AtomicReference<Object> result = new AtomicReference<>();
        String name = "ffm-idle-reader"; // at most 15 characters: the kernel's task name
        Thread reader = Thread.ofPlatform().name(name).start(() -> {
            try {
                result.set(receive(b, new ArrayList<>(), true));
            } catch (IOException | RuntimeException e) {
                result.set(e);
            }
        });
        // Its one blocking recvmsg runs out after the brief-wait limit (a few ms); from then on the idle reader sleeps
        // in poll without a timeout instead of waking every scheduler tick.
        await().atMost(BOUND).until(() -> pollCalls.contains(systemCallOf(name)));
        a.send(message(1, new byte[] {7}, false), List.of());
        assertTrue(reader.join(BOUND));
        assertArrayEquals(new byte[] {7}, (byte[]) result.get());
    }

    /** The system call a thread of this JVM (found by its name) is blocked in, or -1 (running, or not found). */
    private static long systemCallOf(String threadName) throws IOException {
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                try {
                    if (Files.readString(task.resolve("comm")).strip().equals(threadName)) {
                        String call = Files.readString(task.resolve("syscall")).strip();
                        return call.equals("running") ? -1 : Long.parseLong(call.split(" ")[0]);
                    }
                } catch (NoSuchFileException e) {
                    // the task ended meanwhile
                }
            }
        }
        return -1;
    }

    /** Starts a virtual thread that receives one message on {@code c}: its payload, or what it threw, goes to result. */
    private static Thread receiveOnVirtualThread(Connection c, AtomicReference<Object> result) {
        return Thread.ofVirtual().start(() -> {
            try {
                List<Fd> fds = new ArrayList<>();
                result.set(receive(c, fds, true));
                fds.forEach(Fd::close);
            } catch (IOException | RuntimeException e) {
                result.set(e);
            }
        });
    }

    private static int fdNumber(Connection c) {
        Matcher m = Pattern.compile("\\(fd (\\d+)\\)").matcher(c.description());
        assertTrue(m.find(), c.description());
        return Integer.parseInt(m.group(1));
    }

    @Test
    void shutdownUnblocksAVirtualThreadReceiver() throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                b.receiveHeader(ByteBuffer.allocate(12));
            } catch (IOException | RuntimeException e) {
                thrown.set(e);
            }
        });
        await().atMost(BOUND).until(() -> Poller.shared().waiterCount() >= 1);
        b.shutdown();
        assertTrue(reader.join(BOUND));
        assertInstanceOf(PeerDisconnectedException.class, thrown.get());
        assertEquals(0, Poller.shared().waiterCount());
    }

    @Test
    void fdsThatArriveWithPayloadBytesAloneBreakTheFraming() throws Exception {
        ByteBuffer headerOnly = ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        headerOnly.putInt(5).putInt(1).putInt(8).flip();
        a.send(headerOnly, List.of());
        AtomicReference<Object> result = new AtomicReference<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                result.set(b.receiveMessage(ByteBuffer.allocate(12), ByteBuffer.allocate(64)));
            } catch (IOException | RuntimeException e) {
                result.set(e);
            }
        });
        // the header was read; the reader waits for the payload
        await().atMost(BOUND).until(() -> Poller.shared().waiterCount() >= 1);
        a.send(ByteBuffer.wrap(new byte[8]), List.of(eventfd("fd sent with payload bytes")));
        assertTrue(reader.join(BOUND));
        assertInstanceOf(io.vhost.api.error.ProtocolViolationException.class, result.get());
        assertTrue(((Exception) result.get()).getMessage().contains("fds arrived with payload bytes"),
                String.valueOf(result.get()));
    }
}
