package io.vhost.impl.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.Fd;
import io.vhost.api.frontend.SharedRegion;
import io.vhost.api.message.MemoryRegion;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Unistd;
import io.vhost.testing.NoFdLeaks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The set-up record keeps one duplicate per fd it must replay, and sends of the same open fd again reuse it: no
 * {@code dup}, no {@code close}. A different fd, or a new {@link OwnedFd} that happens to get the number of a closed
 * one, is duplicated anew and the replaced copy closed.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SetupRecordTest {

    private static final int F_DUPFD_CLOEXEC = 1030;

    private static OwnedFd eventfd(String role) throws Exception {
        return EventFds.create(EventFds.EFD_CLOEXEC, role);
    }

    /** A new eventfd whose number is {@code number} (free now). */
    private static OwnedFd ownerOfNumber(int number) throws Exception {
        OwnedFd fd = eventfd("region c");
        if (fd.number() == number) {
            return fd;
        }
        try (fd) {
            return OwnedFd.of(Unistd.fcntl(fd.number(), F_DUPFD_CLOEXEC, number), "region c");
        }
    }

    private static MemoryRegion region(int i) {
        return new MemoryRegion((long) i << 20, 1 << 20, 0x7f00_0000_0000L + ((long) i << 20), 0, Optional.empty());
    }

    private static long openFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    @Test
    void theSameOpenRegionFdsAgainKeepTheirCopies() throws Exception {
        try (OwnedFd a = eventfd("region a"); OwnedFd b = eventfd("region b"); SetupRecord record = new SetupRecord(true)) {
            record.memTable(List.of(new SharedRegion(region(0), a), new SharedRegion(region(1), b)));
            List<SharedRegion> first = record.memTable;
            assertNotEquals(a.number(), first.get(0).fd().number(), "the record holds a duplicate, not the caller's fd");
            long before = openFds();
            record.memTable(List.of(new SharedRegion(region(0), a), new SharedRegion(region(1), b)));
            assertSame(first.get(0).fd(), record.memTable.get(0).fd());
            assertSame(first.get(1).fd(), record.memTable.get(1).fd());
            assertSame(first, record.memTable, "the same table again leaves the record as it is");
            assertEquals(before, openFds(), "no dup, no close");

            MemoryRegion moved = region(7);
            record.memTable(List.of(new SharedRegion(region(0), a), new SharedRegion(moved, b))); // b's region moved
            assertEquals(moved, record.memTable.get(1).region(), "a changed region is recorded");
            assertSame(first.get(1).fd(), record.memTable.get(1).fd(), "with the copy of the same fd");
            record.memTable(List.of(new SharedRegion(region(0), a), new SharedRegion(region(1), b)));
            assertEquals(region(1), record.memTable.get(1).region());
            assertEquals(before, openFds());

            record.memTable(List.of(new SharedRegion(region(0), b), new SharedRegion(region(1), a))); // swapped
            assertSame(first.get(1).fd(), record.memTable.get(0).fd(), "each copy follows the fd it was made from");
            assertSame(first.get(0).fd(), record.memTable.get(1).fd());
            assertEquals(before, openFds());

            record.memTable(record.memTable); // a replay sends the copies themselves
            assertSame(first.get(1).fd(), record.memTable.get(0).fd());
            assertEquals(before, openFds());
        }
    }

    @Test
    void anotherFdOrANewOwnerOfAReusedNumberIsDuplicatedAndTheOldCopyClosed() throws Exception {
        try (OwnedFd a = eventfd("region a"); SetupRecord record = new SetupRecord(true)) {
            OwnedFd b = eventfd("region b");
            record.memTable(List.of(new SharedRegion(region(0), a), new SharedRegion(region(1), b)));
            Fd copyOfA = record.memTable.get(0).fd();
            Fd copyOfB = record.memTable.get(1).fd();
            int numberOfB = b.number();
            b.close();
            try (OwnedFd c = ownerOfNumber(numberOfB)) {
                assertEquals(numberOfB, c.number(), "a new owner of b's old number");
                record.memTable(List.of(new SharedRegion(region(0), a), new SharedRegion(region(1), c)));
                assertSame(copyOfA, record.memTable.get(0).fd());
                assertNotSame(copyOfB, record.memTable.get(1).fd(), "same number, other file: a new copy");
                assertFalse(copyOfB.isOpen(), "the replaced copy is closed");
                assertTrue(record.memTable.get(1).fd().isOpen());
            }
        }
    }

    @Test
    void ringEventFdsSentAgainKeepTheirCopyUntilAnotherFdOrNoFdReplacesIt() throws Exception {
        try (OwnedFd kick = eventfd("kick"); OwnedFd other = eventfd("other kick");
                SetupRecord record = new SetupRecord(true)) {
            record.eventFd(VringEventFd.KICK, 0, Optional.of(kick));
            Fd copy = record.vring(0).eventFds.get(VringEventFd.KICK).orElseThrow();
            long before = openFds();
            record.eventFd(VringEventFd.KICK, 0, Optional.of(kick));
            assertSame(copy, record.vring(0).eventFds.get(VringEventFd.KICK).orElseThrow());
            assertEquals(before, openFds());
            record.eventFd(VringEventFd.KICK, 0, Optional.of(copy)); // replayed
            assertSame(copy, record.vring(0).eventFds.get(VringEventFd.KICK).orElseThrow());

            record.eventFd(VringEventFd.KICK, 0, Optional.of(other));
            assertFalse(copy.isOpen());
            Fd copyOfOther = record.vring(0).eventFds.get(VringEventFd.KICK).orElseThrow();
            record.eventFd(VringEventFd.KICK, 0, Optional.empty()); // polling mode: no fd
            assertFalse(copyOfOther.isOpen());
            assertTrue(record.vring(0).eventFds.get(VringEventFd.KICK).isEmpty());
            record.eventFd(VringEventFd.KICK, 0, Optional.of(kick));
            assertTrue(record.vring(0).eventFds.get(VringEventFd.KICK).orElseThrow().isOpen());
        }
    }
}
