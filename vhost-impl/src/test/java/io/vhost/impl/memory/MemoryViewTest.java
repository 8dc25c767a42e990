package io.vhost.impl.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.device.GuestMemory;
import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class MemoryViewTest {

    @Test
    void deviceFacingReadWriteByGuestAddressWithDirtyLogging() throws Exception {
        try (Arena arena = Arena.ofShared();
             SharedGuestMemory memory = new SharedGuestMemory();
             DirtyLogHolder log = new DirtyLogHolder()) {
            memory.publish(MemoryTable.of(List.of(
                    MemoryRegion.of(0x10000, 0x7000_0000L, arena.allocate(0x10000, 4096)),
                    MemoryRegion.of(0x20000, 0x9000_0000L, arena.allocate(0x10000, 4096)))), null);
            DirtyLog bitmap = new DirtyLog(arena.allocate(8, 8), 8);
            log.replace(bitmap, null);
            log.setLogging(true);
            try (MemoryView view = memory.acquire().withDirtyLog(log)) {
                GuestMemory guest = view;
                guest.write(0x1fffe, ByteBuffer.wrap(new byte[] {1, 2, 3, 4}));
                ByteBuffer back = ByteBuffer.allocate(4);
                guest.read(0x1fffe, back);
                assertEquals(4, back.position());
                assertArrayEquals(new byte[] {1, 2, 3, 4}, back.array());
                assertTrue(bitmap.isDirty(0x1f000));
                assertTrue(bitmap.isDirty(0x20000));
                assertFalse(bitmap.isDirty(0x21000));
                var e = assertThrows(GuestMemoryException.class, () -> guest.read(0x2fffe, ByteBuffer.allocate(4)));
                assertEquals("guest address 0x2fffe length 4 is not backed by guest memory (unmapped from 0x30000);"
                        + " nearest region [GPA 0x20000..0x2ffff, user 0x90000000..0x9000ffff]", e.getMessage());
            }
        }
    }
}
