package io.vhost.impl.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class MemoryTableTest {

    private final Arena arena = Arena.ofShared();

    @AfterEach
    void tearDown() {
        arena.close();
    }

    private MemoryRegion region(long gpa, long user, long size) {
        return MemoryRegion.of(gpa, user, arena.allocate(size, 4096));
    }

    private MemoryTable twoContiguous() throws GuestMemoryException {
        return MemoryTable.of(List.of(region(0x20000, 0x9000_0000L, 0x10000), region(0x10000, 0x7000_0000L, 0x10000)));
    }

    @Test
    void translatesGuestAndUserAddresses() throws Exception {
        MemoryRegion a = region(0x10000, 0x7000_0000L, 0x10000);
        MemoryTable table = MemoryTable.of(List.of(a));
        MemorySegment s = table.slice(0x10100, 16);
        assertEquals(a.mapping().address() + 0x100, s.address());
        assertEquals(16, s.byteSize());
        assertEquals(0x10234, table.userToGuest(0x7000_0234L));
        assertEquals(a.mapping().address() + 0x234, table.sliceUser(0x7000_0234L, 4).address());
        assertEquals(0, table.indexOfGuest(0x1ffff));
        assertEquals(-1, table.indexOfGuest(0x20000));
        assertEquals(-1, table.indexOfGuest(0xffff));
    }

    @Test
    void regionsAreSortedByGuestAddress() throws Exception {
        MemoryTable table = twoContiguous();
        assertEquals(0x10000, table.region(0).guestAddress());
        assertEquals(0x20000, table.region(1).guestAddress());
        assertEquals(1, table.indexOfGuest(0x2ffff));
    }

    @Test
    void clampsToOneRegion() throws Exception {
        MemoryTable table = twoContiguous();
        assertEquals(0x10, table.clampedLength(0x1fff0, 0x100));
        assertEquals(0x10, table.sliceClamped(0x1fff0, 0x100).byteSize());
        var e = assertThrows(GuestMemoryException.class, () -> table.slice(0x1fff0, 0x100));
        assertEquals("guest address 0x1fff0 length 256 is not backed by guest memory (crosses the region's end);"
                + " nearest region [GPA 0x10000..0x1ffff, user 0x70000000..0x7000ffff]", e.getMessage());
    }

    @Test
    void hintedLookupFallsBackToTheSearchWhenTheHintMisses() throws Exception {
        MemoryTable table = twoContiguous();
        assertEquals(0, table.indexOfGuest(0x10010, 0));
        assertEquals(1, table.indexOfGuest(0x20010, 0));
        assertEquals(0, table.indexOfGuest(0x1ffff, 1));
        assertEquals(1, table.indexOfGuest(0x20000, 7));
        assertEquals(1, table.indexOfGuest(0x20000, -1));
        assertEquals(-1, table.indexOfGuest(0x30000, 1));
        assertEquals(-1, table.indexOfGuest(0xffff, 0));
        assertEquals(-1, MemoryTable.empty().indexOfGuest(0x10000, 0));
    }

    @Test
    void straddlingBufferIsSplitExplicitly() throws Exception {
        MemoryTable table = twoContiguous();
        List<MemorySegment> parts = table.slices(0x1fff0, 0x20);
        assertEquals(2, parts.size());
        assertEquals(0x10, parts.get(0).byteSize());
        assertEquals(0x10, parts.get(1).byteSize());
        assertEquals(table.region(1).mapping().address(), parts.get(1).address());

        byte[] data = new byte[0x20];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i + 1);
        }
        table.write(0x1fff0, MemorySegment.ofArray(data));
        assertEquals(0x11, table.region(1).mapping().get(ValueLayout.JAVA_BYTE, 0));
        byte[] back = new byte[0x20];
        table.read(0x1fff0, MemorySegment.ofArray(back));
        assertArrayEquals(data, back);
    }

    @Test
    void accessOutsideMemoryNamesAddressLengthAndNearestRegion() throws Exception {
        MemoryTable table = twoContiguous();
        var e = assertThrows(GuestMemoryException.class, () -> table.read(0x2fff8, MemorySegment.ofArray(new byte[16])));
        assertEquals("guest address 0x2fff8 length 16 is not backed by guest memory (unmapped from 0x30000);"
                + " nearest region [GPA 0x20000..0x2ffff, user 0x90000000..0x9000ffff]", e.getMessage());
        var below = assertThrows(GuestMemoryException.class, () -> table.slice(0x100, 1));
        assertEquals("guest address 0x100 length 1 is not backed by guest memory;"
                + " nearest region [GPA 0x10000..0x1ffff, user 0x70000000..0x7000ffff]", below.getMessage());
        var user = assertThrows(GuestMemoryException.class, () -> table.userToGuest(0x8000_0000L));
        assertEquals("user address 0x80000000 length 1 is not backed by guest memory;"
                + " nearest region [GPA 0x10000..0x1ffff, user 0x70000000..0x7000ffff]", user.getMessage());
        var wrap = assertThrows(GuestMemoryException.class, () -> table.checkRange(-8, 16));
        assertEquals("guest address 0xfffffffffffffff8 length 16 wraps around the guest address space",
                wrap.getMessage());
        var empty = assertThrows(GuestMemoryException.class, () -> MemoryTable.empty().slice(0, 1));
        assertEquals("guest address 0x0 length 1 is not backed by guest memory; nearest region none"
                + " (memory table is empty)", empty.getMessage());
    }

    @Test
    void overlapInGuestSpaceIsRejected() {
        var e = assertThrows(GuestMemoryException.class, () -> MemoryTable.of(List.of(
                region(0x10000, 0x7000_0000L, 0x10000), region(0x1f000, 0x9000_0000L, 0x1000))));
        assertEquals("memory region [GPA 0x1f000..0x1ffff, user 0x90000000..0x90000fff] overlaps region"
                + " [GPA 0x10000..0x1ffff, user 0x70000000..0x7000ffff] in guest-physical space; memory table rejected",
                e.getMessage());
    }

    @Test
    void overlapInUserSpaceIsRejected() {
        var e = assertThrows(GuestMemoryException.class, () -> MemoryTable.of(List.of(
                region(0x10000, 0x7000_0000L, 0x10000), region(0x40000, 0x7000_8000L, 0x1000))));
        assertEquals("memory region [GPA 0x40000..0x40fff, user 0x70008000..0x70008fff] overlaps region"
                + " [GPA 0x10000..0x1ffff, user 0x70000000..0x7000ffff] in front-end user address space;"
                + " memory table rejected", e.getMessage());
    }

    @Test
    void atMost509Regions() throws Exception {
        MemorySegment page = arena.allocate(4096, 4096);
        List<MemoryRegion> regions = new ArrayList<>();
        for (int i = 0; i < 510; i++) {
            regions.add(MemoryRegion.of(0x100000L * i, 0x7000_0000_0000L + 0x100000L * i, page));
        }
        MemoryTable full = MemoryTable.of(regions.subList(0, 509));
        assertEquals(509, full.regionCount());
        assertEquals(508, full.indexOfGuest(0x100000L * 508 + 5));
        var e = assertThrows(GuestMemoryException.class, () -> MemoryTable.of(regions));
        assertEquals("memory table has 510 regions, more than the 509 supported; rejected", e.getMessage());
        assertThrows(GuestMemoryException.class, () -> full.withRegion(regions.get(509)));
    }

    @Test
    void addAndRemoveRegions() throws Exception {
        MemoryTable one = MemoryTable.of(List.of(region(0x10000, 0x7000_0000L, 0x10000)));
        MemoryTable two = one.withRegion(region(0x40000, 0x9000_0000L, 0x1000));
        assertEquals(1, one.regionCount());
        assertEquals(2, two.regionCount());
        MemoryTable back = two.withoutRegion(0x10000, 0x10000);
        assertEquals(0x40000, back.region(0).guestAddress());
        var e = assertThrows(GuestMemoryException.class, () -> back.withoutRegion(0x10000, 0x10000));
        assertEquals("REM_MEM_REG: no region at GPA 0x10000 with size 0x10000; nearest"
                + " [GPA 0x40000..0x40fff, user 0x90000000..0x90000fff]", e.getMessage());
    }

    @Test
    void regionValidatesItsMapping() {
        MemorySegment small = arena.allocate(4096);
        var e = assertThrows(IllegalArgumentException.class,
                () -> new MemoryRegion(0x1000, 0x2000, 0x5000, 0, small, 0));
        assertEquals("memory region at GPA 0x1000 size 0x2000 at offset 0 does not fit its mapping of 4096 bytes",
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new MemoryRegion(-4096, 8192, 0, 0, small, 0));
        assertThrows(IllegalArgumentException.class, () -> new MemoryRegion(0, 0, 0, 0, small, 0));
    }

    @Test
    void regionInsideALargerMappingUsesItsOffset() throws Exception {
        MemorySegment mapping = arena.allocate(0x3000, 4096);
        mapping.set(ValueLayout.JAVA_BYTE, 0x1010, (byte) 7);
        MemoryTable table = MemoryTable.of(List.of(new MemoryRegion(0x80000, 0x1000, 0x6000_0000L, 0x1000,
                mapping, 0x1000)));
        assertEquals(7, table.slice(0x80010, 1).get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void accessAfterUnmapIsAGuestMemoryException() throws Exception {
        Arena own = Arena.ofShared();
        MemoryTable table = MemoryTable.of(List.of(MemoryRegion.of(0x1000, 0x5000, own.allocate(4096))));
        own.close();
        var e = assertThrows(GuestMemoryException.class, () -> table.read(0x1000, MemorySegment.ofArray(new byte[4])));
        assertEquals(true, e.getMessage().startsWith("guest memory at 0x1000 length 4 is no longer accessible"));
    }
}
