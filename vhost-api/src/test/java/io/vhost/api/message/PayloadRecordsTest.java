package io.vhost.api.message;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vhost.api.Fd;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;

/** The payload records' syntax checks, one field at a time. */
@Timeout(10)
class PayloadRecordsTest {

    private static void rejects(String message, Executable e) {
        assertEquals(message, assertThrows(IllegalArgumentException.class, e).getMessage());
    }

    @Test
    void vringState() {
        rejects("vring index -1 is not a u32 (0..4294967295)", () -> new VringState(-1, 0));
        rejects("num 4294967296 is not a u32 (0..4294967295)", () -> new VringState(0, 1L << 32));
    }

    @Test
    void vringAddressFlags() {
        new VringAddress(0, VringAddress.F_LOG, 0, 0, 0, 0);
        rejects("vring flags 0x3 has unknown bits (known: 0x1 LOG)", () -> new VringAddress(0, 3, 0, 0, 0, 0));
    }

    @Test
    void vringFdBits() {
        assertEquals(new VringFd(5, true), VringFd.fromWire(0x105));
        assertEquals(0x105, new VringFd(5, true).toWire());
        rejects("vring index 256 is not a u8 (0..255)", () -> new VringFd(256, false));
        rejects("vring fd u64 0x8000000000000000 has reserved bits set (known: 0x1ff)",
                () -> VringFd.fromWire(Long.MIN_VALUE));
    }

    @Test
    void memoryRegion() {
        rejects("memory region at guest address 0x1000 has size 0", () -> new MemoryRegion(0x1000, 0, 0, 0));
        rejects("memory region: user address 0xffffffffffffffff + size 0x2 wraps past 2^64",
                () -> new MemoryRegion(0, 2, -1, 0));
        rejects("memory region: mmap offset 0xffffffffffffffff + size 0x2 wraps past 2^64",
                () -> new MemoryRegion(0, 2, 0, -1));
        // A region ending exactly at 2^64 has an unrepresentable exclusive end (0): rejected as wrapping.
        rejects("memory region: guest address 0xfffffffffffff000 + size 0x1000 wraps past 2^64",
                () -> new MemoryRegion(0xFFFF_FFFF_FFFF_F000L, 0x1000, 0, 0));
    }

    @Test
    void memoryTableCounts() {
        MemoryRegion r = new MemoryRegion(0, 0x1000, 0, 0);
        rejects("memory table num_regions 0 is outside 1..8", () -> new MemoryTable(List.of()));
        rejects("memory table num_regions 9 is outside 1..8", () -> new MemoryTable(Collections.nCopies(9, r)));
        MemoryRegion xen = new MemoryRegion(0, 0x1000, 0, 0, Optional.of(new XenMmap(XenMmap.FOREIGN, 1)));
        rejects("memory table mixes regions with and without Xen fields", () -> new MemoryTable(List.of(r, xen)));
    }

    @Test
    void xenFlags() {
        rejects("xen_mmap_flags 0x4 has unknown bits (known: 0x103)", () -> new XenMmap(4, 0));
        rejects("xen_mmap_flags 0x3 must set exactly one of FOREIGN (0x1) and GRANT (0x2)", () -> new XenMmap(3, 0));
        new XenMmap(XenMmap.GRANT | XenMmap.ON_DEMAND, 0);
    }

    @Test
    void logRegion() {
        rejects("log size 0", () -> new LogRegion(0, 0));
        rejects("log: offset 0xfffffffffffffff0 + size 0x20 wraps past 2^64", () -> new LogRegion(0x20, -16));
    }

    @Test
    void inflightRegion() {
        rejects("inflight num_queues 0 and queue_size 256 must both be non-zero", () -> new InflightRegion(0, 0, 0, 256));
        rejects("queue_size 65536 is not a u16 (0..65535)", () -> new InflightRegion(0, 0, 1, 65536));
    }

    @Test
    void configSpace() {
        rejects("config flags 2 is neither 0 (write) nor 1 (migration)", () -> new ConfigSpace(0, 2, new byte[1]));
        rejects("config offset 4095 + size 2 exceeds 4096", () -> new ConfigSpace(4095, 0, new byte[2]));
        byte[] data = {1, 2};
        ConfigSpace c = new ConfigSpace(0, 0, data);
        data[0] = 9;
        assertEquals(1, c.bytes()[0], "the record copies its bytes");
    }

    @Test
    void iotlbEnums() {
        assertEquals(IotlbMessage.Type.ACCESS_FAIL, IotlbMessage.Type.fromWire(4));
        rejects("iotlb type 0 is not 1..4", () -> IotlbMessage.Type.fromWire(0));
        rejects("iotlb perm 4 is not 0..3", () -> IotlbMessage.Perm.fromWire(4));
    }

    @Test
    void shmem() {
        rejects("shmem map flags 0x2 has unknown bits (known: 0x1)", () -> new ShmemMapping(0, 0, 0, 1, 2));
        rejects("shmem map len 0", () -> new ShmemMapping(0, 0, 0, 0, 0));
        rejects("shmid 256 is not a u8 (0..255)", () -> new ShmemMapping(256, 0, 0, 1, 0));
        List<Long> sizes = new ArrayList<>(Collections.nCopies(256, 0L));
        sizes.set(3, 4096L);
        new ShmemConfig(1, sizes);
        rejects("shmem num_regions 2 but 1 sizes are non-zero", () -> new ShmemConfig(2, sizes));
        rejects("shmem config has 2 sizes, expected 256", () -> new ShmemConfig(0, List.of(0L, 0L)));
    }

    @Test
    void macAndStatusAndMtu() {
        assertEquals("52:54:00:12:34:56", new MacAddress(0x5634_1200_5452L).toString());
        rejects("SEND_RARP u64 0x1000000000000 has non-zero bytes 6-7", () -> new MacAddress(1L << 48));
        rejects("SET_STATUS 256 is not a u8 status", () -> new FrontendMessage.SetStatus(256));
        rejects("NET_SET_MTU 67 is outside 68..65535", () -> new FrontendMessage.NetSetMtu(67));
    }

    @Test
    void deviceState() {
        rejects("device state direction 2 is neither 0 (save) nor 1 (load)",
                () -> DeviceStateParams.Direction.fromWire(2));
    }

    @Test
    void fdConsistencyInMessages() {
        Fd fake = new Fd() {
            public int number() {
                return 3;
            }

            public boolean isOpen() {
                return true;
            }

            public String role() {
                return "fake";
            }

            public Fd take() {
                return this;
            }

            public Fd take(String r) {
                return this;
            }

            public void close() {
            }
        };
        rejects("no-fd flag true but fd present",
                () -> new FrontendMessage.SetVringKick(new VringFd(0, true), Optional.of(fake)));
        MemoryTable t = new MemoryTable(List.of(new MemoryRegion(0, 1, 0, 0)));
        rejects("carries 2 fds for 1 regions", () -> new FrontendMessage.SetMemTable(t, List.of(fake, fake)));
    }
}
