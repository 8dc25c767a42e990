package io.vhost.impl.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class DirtyLogTest {

    private final Arena arena = Arena.ofShared();

    @AfterEach
    void tearDown() {
        arena.close();
    }

    private byte bitmapByte(MemorySegment log, long index) {
        return log.get(ValueLayout.JAVA_BYTE, index);
    }

    @Test
    void marksOneBitPerFourKibPageAsTheSpecSays() throws Exception {
        MemorySegment bitmap = arena.allocate(4096, 8);
        DirtyLog log = new DirtyLog(bitmap, 4096);
        log.mark(0x1000, 1); // page 1: log[0] |= 1 << 1
        assertEquals(0b10, bitmapByte(bitmap, 0));
        log.mark(0xa000 + 0xfff, 1); // page 10: log[1] |= 1 << 2
        assertEquals(0b100, bitmapByte(bitmap, 1));
        log.mark(0x3fff, 2); // straddles pages 3 and 4
        assertEquals(0b11010, bitmapByte(bitmap, 0));
        assertTrue(log.isDirty(0x4000));
        assertFalse(log.isDirty(0x5000));
        log.mark(0x5000, 0);
        assertFalse(log.isDirty(0x5000));
    }

    @Test
    void marksRangesAcrossWordBoundaries() throws Exception {
        MemorySegment bitmap = arena.allocate(64, 8);
        DirtyLog log = new DirtyLog(bitmap, 64);
        log.mark(60 * DirtyLog.PAGE_SIZE, 10 * DirtyLog.PAGE_SIZE); // pages 60..69, words 0 and 1
        for (int page = 0; page < 512; page++) {
            assertEquals(page >= 60 && page <= 69, log.isDirty(page * DirtyLog.PAGE_SIZE), "page " + page);
        }
        assertEquals((byte) 0xf0, bitmapByte(bitmap, 7));
        assertEquals(0x3f, bitmapByte(bitmap, 8));
    }

    @Test
    void rejectsPagesBeyondTheLog() throws Exception {
        DirtyLog log = new DirtyLog(arena.allocate(8, 8), 2); // 16 pages: 0..0xffff
        log.mark(0xf000, 0x1000);
        var e = assertThrows(GuestMemoryException.class, () -> log.mark(0xf000, 0x1001));
        assertEquals("dirty log: address 0xf000 length 4097 reaches page 0x10, beyond the log of 2 bytes"
                + " (covers up to 0xffff); page not logged", e.getMessage());
        var wrap = assertThrows(GuestMemoryException.class, () -> log.mark(-4096, 8192));
        assertEquals("dirty log: address 0xfffffffffffff000 length 8192 wraps around", wrap.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new DirtyLog(arena.allocate(8, 8), 9));
        assertThrows(IllegalArgumentException.class, () -> new DirtyLog(arena.allocate(16, 8).asSlice(1, 8), 4));
    }

    @Test
    void concurrentMarkingLosesNoBit() throws Exception {
        MemorySegment bitmap = arena.allocate(1024, 8);
        DirtyLog log = new DirtyLog(bitmap, 1024);
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int offset = t;
                futures.add(pool.submit(() -> {
                    for (int page = offset; page < 8192; page += 8) {
                        log.mark(page * DirtyLog.PAGE_SIZE, 1);
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(5, TimeUnit.SECONDS);
            }
        }
        for (long i = 0; i < 1024; i++) {
            assertEquals((byte) 0xff, bitmapByte(bitmap, i), "byte " + i);
        }
    }

    @Test
    void holderLogsOnlyWhenActiveAndReleasesReplacedLogs() throws Exception {
        MemorySegment first = arena.allocate(8, 8);
        MemorySegment second = arena.allocate(8, 8);
        AtomicInteger released = new AtomicInteger();
        try (DirtyLogHolder holder = new DirtyLogHolder()) {
            holder.mark(0, 1); // nothing installed: no-op
            holder.replace(new DirtyLog(first, 8), released::incrementAndGet);
            holder.mark(0, 1);
            assertEquals(0, first.get(ValueLayout.JAVA_BYTE, 0), "logging off");
            holder.setLogging(true);
            assertTrue(holder.isActive());
            holder.mark(0, 1);
            assertEquals(1, first.get(ValueLayout.JAVA_BYTE, 0));
            holder.replace(new DirtyLog(second, 8), released::incrementAndGet);
            assertEquals(1, released.get());
            holder.mark(0x2000, 1);
            assertEquals(4, second.get(ValueLayout.JAVA_BYTE, 0));
        }
        assertEquals(2, released.get());
    }
}
