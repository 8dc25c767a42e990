package io.vhost.impl.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.NativeCallException;
import io.vhost.testing.NoFdLeaks;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class OwnedFdTest {

    @Test
    void closeIsIdempotentAndClosesTheNumber() throws Exception {
        OwnedFd fd = EventFds.create(0, "kick eventfd of queue 2");
        int number = fd.number();
        assertTrue(Unistd.isOpen(number));
        fd.close();
        fd.close();
        assertFalse(fd.isOpen());
        assertFalse(Unistd.isOpen(number));
        IllegalStateException e = assertThrows(IllegalStateException.class, fd::number);
        assertEquals("kick eventfd of queue 2 (fd " + number + ") is closed", e.getMessage());
    }

    @Test
    void takeMovesOwnershipWithoutClosing() throws Exception {
        OwnedFd first = EventFds.create(0, "call eventfd");
        int number = first.number();
        try (OwnedFd second = first.take("call eventfd of queue 0")) {
            assertFalse(first.isOpen());
            first.close(); // empty owner: does nothing
            assertTrue(Unistd.isOpen(number));
            assertEquals(number, second.number());
            assertEquals("call eventfd of queue 0", second.role());
            IllegalStateException e = assertThrows(IllegalStateException.class, first::number);
            assertTrue(e.getMessage().contains("call eventfd") && e.getMessage().contains("taken"), e.getMessage());
            assertThrows(IllegalStateException.class, first::take);
        }
        assertFalse(Unistd.isOpen(number));
    }

    @Test
    void concurrentCloseClosesExactlyOnce() throws Exception {
        for (int round = 0; round < 20; round++) {
            OwnedFd fd = EventFds.create(0, "raced eventfd");
            CountDownLatch start = new CountDownLatch(1);
            AtomicInteger failures = new AtomicInteger();
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                threads.add(Thread.ofVirtual().start(() -> {
                    try {
                        start.await();
                        fd.close();
                    } catch (InterruptedException | RuntimeException e) {
                        failures.incrementAndGet();
                    }
                }));
            }
            start.countDown();
            for (Thread t : threads) {
                t.join();
            }
            assertEquals(0, failures.get());
            assertFalse(fd.isOpen());
        }
    }

    @Test
    void negativeNumberIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> OwnedFd.of(-1, "nothing"));
    }

    @Test
    void closingAnUnknownNumberNamesTheCallAndErrno() {
        NativeCallException e = assertThrows(NativeCallException.class, () -> Unistd.close(987_654));
        assertEquals("close on fd 987654 failed: EBADF (9, bad file descriptor)", e.getMessage());
        assertEquals("EBADF", e.errnoName());
        assertEquals(9, e.errno());
    }

    @Test
    void eventfdCounterAddsUp() throws Exception {
        try (OwnedFd fd = EventFds.create(EventFds.EFD_NONBLOCK, "counter")) {
            assertEquals(0, EventFds.drain(fd.number()));
            EventFds.signal(fd.number(), 2);
            EventFds.signal(fd.number(), 3);
            assertEquals(5, EventFds.read(fd.number()));
            assertEquals(0, EventFds.drain(fd.number()));
        }
    }

    @Test
    void memfdMappingSealsAndSize() throws Exception {
        try (OwnedFd memfd = Mman.memfd("guest-ram", 8192)) {
            assertEquals(8192, Unistd.size(memfd.number()));
            Mapping a = Mman.map(memfd.number(), 0, 8192, true, "region 0");
            try (Mapping b = Mman.map(memfd.number(), 0, 8192, false, "region 0 again")) {
                a.segment().set(ValueLayout.JAVA_LONG, 4096, 0x1122334455667788L);
                assertEquals(0x1122334455667788L, b.segment().get(ValueLayout.JAVA_LONG, 4096));
            }
            a.close();
            a.close();
            assertFalse(a.isOpen());
            IllegalStateException e = assertThrows(IllegalStateException.class, a::segment);
            assertEquals("region 0 mapping is closed", e.getMessage());
            Mman.addSeals(memfd.number(), Mman.F_SEAL_SHRINK | Mman.F_SEAL_GROW | Mman.F_SEAL_SEAL);
            assertEquals(Mman.F_SEAL_SHRINK | Mman.F_SEAL_GROW | Mman.F_SEAL_SEAL, Mman.seals(memfd.number()));
            NativeCallException grow = assertThrows(NativeCallException.class,
                    () -> Unistd.ftruncate(memfd.number(), 16384));
            assertEquals("EPERM", grow.errnoName());
        }
    }

    @Test
    void nonBlockingFlagAndCloexec() throws Exception {
        OwnedFd[] pipe = Unistd.pipe(0);
        try (OwnedFd r = pipe[0]; OwnedFd w = pipe[1]) {
            assertFalse(Unistd.isNonBlocking(r.number()));
            Unistd.setNonBlocking(r.number(), true);
            assertTrue(Unistd.isNonBlocking(r.number()));
            assertEquals(Unistd.FD_CLOEXEC, Unistd.fcntl(w.number(), Unistd.F_GETFD, 0) & Unistd.FD_CLOEXEC);
            assertEquals(-1, Unistd.read(r.number(), java.lang.foreign.Arena.ofAuto().allocate(8)));
        }
    }

    @Test
    void errnoTableNamesCommonValues() {
        assertEquals("EPIPE", Errno.name(32));
        assertEquals("the peer closed the connection", Errno.meaning(32));
        assertEquals("errno 4000", Errno.name(4000));
        assertEquals("sendmsg on fd 17 failed: EPIPE (32, the peer closed the connection)",
                Errno.failure("sendmsg", 17, 32).getMessage());
        int known = 0;
        for (int i = 1; i < 134; i++) {
            if (!Errno.name(i).startsWith("errno ")) {
                known++;
            }
        }
        assertTrue(known >= 40, "only " + known + " errno names");
    }

    /** Owners of {@code count} consecutive descriptor numbers at a free spot well above the JVM's own. */
    private static List<OwnedFd> consecutiveOwners(int count) throws Exception {
        try (OwnedFd source = EventFds.create(0, "source eventfd")) {
            for (int base = 700; base < 1000; base += 20) {
                List<OwnedFd> owners = new ArrayList<>();
                for (int i = 0; i < count; i++) {
                    owners.add(OwnedFd.of(Unistd.fcntl(source.number(), Unistd.F_DUPFD_CLOEXEC, base), "copy " + i));
                }
                if (owners.get(0).number() == base && owners.get(count - 1).number() == base + count - 1) {
                    return owners;
                }
                owners.forEach(OwnedFd::close); // something else holds a number there: try higher
            }
        }
        throw new AssertionError("no " + count + " free consecutive descriptor numbers between 700 and 1000");
    }

    @Test
    void closeAllClosesConsecutiveOwnersAndSkipsATakenOne() throws Exception {
        List<OwnedFd> owners = consecutiveOwners(8);
        int base = owners.get(0).number();
        OwnedFd kept = owners.get(3).take("kept by a handler");
        OwnedFd.closeAll(owners);
        for (int i = 0; i < 8; i++) {
            assertFalse(owners.get(i).isOpen(), "owner " + i);
            assertEquals(i == 3, Unistd.isOpen(base + i), "fd " + (base + i));
        }
        kept.close();
        OwnedFd.closeAll(owners); // closed or taken already: nothing happens
    }

    @Test
    void closeAllNeverClosesANumberInAGapItDoesNotOwn() throws Exception {
        List<OwnedFd> owners = consecutiveOwners(4);
        int base = owners.get(0).number();
        OwnedFd other = owners.get(1); // owned elsewhere: between two numbers that closeAll is given
        OwnedFd twin = OwnedFd.of(base, "a second owner of the same number (a bug elsewhere)");
        // base, base, base + 2, base + 3 span four numbers with four owners, yet base + 1 is not among them
        OwnedFd.closeAll(List.of(owners.get(0), twin, owners.get(2), owners.get(3)));
        assertTrue(Unistd.isOpen(base + 1), "the number in the gap was closed");
        assertFalse(Unistd.isOpen(base) || Unistd.isOpen(base + 2) || Unistd.isOpen(base + 3));
        other.close();
        // spread out: closed one by one
        List<OwnedFd> spread = consecutiveOwners(3);
        int first = spread.get(0).number();
        spread.get(1).close();
        OwnedFd.closeAll(List.of(spread.get(0), spread.get(2)));
        assertFalse(Unistd.isOpen(first) || Unistd.isOpen(first + 2));
    }

    @Test
    void consecutiveNeedsEachNumberOfTheRangeOnce() {
        assertTrue(OwnedFd.consecutive(new int[] {12, 10, 11}, 3, 10, 12));
        assertFalse(OwnedFd.consecutive(new int[] {10, 10, 12}, 3, 10, 12));
        assertFalse(OwnedFd.consecutive(new int[] {10, 12}, 2, 10, 12));
        assertFalse(OwnedFd.consecutive(new int[] {10, 11, 0}, 2, 10, 12)); // only the first count are looked at
    }

    @Test
    void closeRangeClosesEveryNumberOfTheRange() throws Exception {
        List<OwnedFd> owners = consecutiveOwners(3);
        int base = owners.get(0).number();
        for (OwnedFd o : owners) {
            o.release();
        }
        assertTrue(Unistd.closeRange(base, base + 2), "close_range is in every kernel since 5.9");
        assertFalse(Unistd.isOpen(base) || Unistd.isOpen(base + 1) || Unistd.isOpen(base + 2));
        assertThrows(IllegalArgumentException.class, () -> Unistd.closeRange(base + 2, base));
    }
}
