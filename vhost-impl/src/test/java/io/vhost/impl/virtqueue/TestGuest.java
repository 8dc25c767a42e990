package io.vhost.impl.virtqueue;

import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.memory.MemoryRegion;
import io.vhost.impl.memory.MemoryTable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Guest memory built by hand in native memory: region A (GPA 0x10000, 64 KiB) and region B (GPA 0x20000, 64 KiB)
 * are contiguous in guest-physical space but not in user space, so a buffer over 0x20000 straddles them; region C
 * (GPA 0x1000000, 16 MiB) holds large buffers.
 */
final class TestGuest implements AutoCloseable {

    static final long A_GPA = 0x10000;
    static final long A_USER = 0x7f0000010000L;
    static final long B_GPA = 0x20000;
    static final long B_USER = 0x7f0001000000L;
    static final long C_GPA = 0x1000000;
    static final long C_USER = 0x7f0010000000L;
    static final long REGION = 0x10000;
    static final long C_SIZE = 16 << 20;

    final Arena arena = Arena.ofShared();
    final MemoryRegion a = MemoryRegion.of(A_GPA, A_USER, arena.allocate(REGION, 4096));
    final MemoryRegion b = MemoryRegion.of(B_GPA, B_USER, arena.allocate(REGION, 4096));
    final MemoryRegion c = MemoryRegion.of(C_GPA, C_USER, arena.allocate(C_SIZE, 4096));
    final MemoryTable table;

    TestGuest() throws GuestMemoryException {
        table = MemoryTable.of(List.of(b, c, a));
    }

    /** One ring: driver side plus device side, laid out at {@code gpa} in region A. */
    final class Ring {
        final int size;
        final long descGpa;
        final long availGpa;
        final long usedGpa;
        final DriverRing driver;
        final SplitVirtqueue device;

        Ring(int queue, int size, long gpa) throws GuestMemoryException {
            this.size = size;
            this.descGpa = gpa;
            this.availGpa = gpa + DriverRing.descTableBytes(size);
            this.usedGpa = (availGpa + DriverRing.availBytes(size) + 3) & ~3L;
            this.driver = new DriverRing(size, table.slice(descGpa, DriverRing.descTableBytes(size)),
                    table.slice(availGpa, DriverRing.availBytes(size)), table.slice(usedGpa, DriverRing.usedBytes(size)));
            this.device = new SplitVirtqueue(queue, size);
            device.configure(table, user(descGpa), user(availGpa), user(usedGpa));
        }

        MemorySegment descTable() throws GuestMemoryException {
            return table.slice(descGpa, DriverRing.descTableBytes(size));
        }

        void reconfigure() throws GuestMemoryException {
            device.configure(table, user(descGpa), user(availGpa), user(usedGpa));
        }
    }

    Ring ring(int queue, int size, long gpa) throws GuestMemoryException {
        return new Ring(queue, size, gpa);
    }

    static long user(long gpaInA) {
        return A_USER + (gpaInA - A_GPA);
    }

    void put(long gpa, byte[] data) throws GuestMemoryException {
        table.write(gpa, MemorySegment.ofArray(data));
    }

    byte[] get(long gpa, int length) throws GuestMemoryException {
        byte[] out = new byte[length];
        table.read(gpa, MemorySegment.ofArray(out));
        return out;
    }

    @Override
    public void close() {
        arena.close();
    }
}
