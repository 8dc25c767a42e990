package io.vhost.impl.codec;

import static io.vhost.impl.codec.Layout.*;

import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.CryptoSession;
import io.vhost.api.message.DeviceStateParams;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.SharedObject;
import io.vhost.api.message.ShmemConfig;
import io.vhost.api.message.ShmemMapping;
import io.vhost.api.message.VringArea;
import io.vhost.api.message.VringAddress;
import io.vhost.api.message.VringFd;
import io.vhost.api.message.VringState;
import io.vhost.api.message.XenMmap;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * The payload structs of vhost-user messages, each read and written at the offsets of {@link Layout} (checked against
 * the C declarations by {@code LayoutCrossCheckTest}): the codec decides which struct a request carries and checks
 * its size; this class turns the struct's bytes into the API record and back. A reader throws
 * {@link IllegalArgumentException} for a field the spec rules out (non-zero padding, a region count out of range);
 * the codec turns that into a protocol violation naming the request.
 */
final class Payloads {

    private Payloads() {
    }

    // ---------------------------------------------------------------- readers

    static long u32(ByteBuffer b, int off) {
        return Integer.toUnsignedLong(b.getInt(off));
    }

    static VringState readState(ByteBuffer b) {
        return new VringState(u32(b, VS_INDEX), u32(b, VS_NUM));
    }

    static VringAddress readAddr(ByteBuffer b) {
        return new VringAddress(u32(b, VA_INDEX), u32(b, VA_FLAGS), b.getLong(VA_DESC), b.getLong(VA_USED),
                b.getLong(VA_AVAIL), b.getLong(VA_LOG));
    }

    static int regionBytes(CodecOptions o) {
        return o.xenMmap() ? MR_XEN_BYTES : MR_BYTES;
    }

    static MemoryRegion readRegion(ByteBuffer b, int off, CodecOptions o) {
        Optional<XenMmap> xen = o.xenMmap()
                ? Optional.of(new XenMmap(u32(b, off + MR_XEN_FLAGS), u32(b, off + MR_XEN_DOMID)))
                : Optional.empty();
        return new MemoryRegion(b.getLong(off + MR_GUEST), b.getLong(off + MR_SIZE), b.getLong(off + MR_USER),
                b.getLong(off + MR_MMAP_OFFSET), xen);
    }

    static MemoryTable readTable(ByteBuffer b, CodecOptions o) {
        long n = u32(b, MEM_NREGIONS);
        int rs = regionBytes(o);
        if (n == 0 || n > MEM_MAX_REGIONS) {
            throw new IllegalArgumentException("num_regions " + n + " is outside 1.." + MEM_MAX_REGIONS);
        }
        if (u32(b, MEM_PADDING) != 0) {
            throw new IllegalArgumentException("padding 0x" + Long.toHexString(u32(b, MEM_PADDING)) + " is not 0");
        }
        int exact = MEM_REGIONS + (int) n * rs;
        int full = MEM_REGIONS + MEM_MAX_REGIONS * rs;
        if (b.limit() != exact && b.limit() != full) {
            throw new IllegalArgumentException("payload size " + b.limit() + " is neither " + exact + " (" + n
                    + " regions of " + rs + " bytes) nor " + full);
        }
        MemoryRegion[] regions = new MemoryRegion[(int) n]; // List.of makes the one copy MemoryTable keeps as is
        for (int i = 0; i < n; i++) {
            try {
                regions[i] = readRegion(b, MEM_REGIONS + i * rs, o);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("region " + i + ": " + e.getMessage(), e);
            }
        }
        return new MemoryTable(List.of(regions));
    }

    static MemoryRegion readSingleRegion(ByteBuffer b, CodecOptions o) {
        int want = MRM_REGION + regionBytes(o);
        if (b.limit() != want) {
            throw new IllegalArgumentException("payload size " + b.limit() + " is not " + want
                    + (o.xenMmap() ? " (XEN_MMAP region)" : " (8 bytes padding + 32-byte region)"));
        }
        if (b.getLong(MRM_PADDING) != 0) {
            throw new IllegalArgumentException("padding 0x" + Long.toHexString(b.getLong(MRM_PADDING)) + " is not 0");
        }
        return readRegion(b, MRM_REGION, o);
    }

    static LogRegion readLog(ByteBuffer b) {
        return new LogRegion(b.getLong(LOG_SIZE), b.getLong(LOG_OFFSET));
    }

    static InflightRegion readInflight(ByteBuffer b) {
        if (b.getInt(INF_QUEUE_SIZE + 2) != 0) {
            throw new IllegalArgumentException("inflight tail padding is not 0");
        }
        return new InflightRegion(b.getLong(INF_MMAP_SIZE), b.getLong(INF_MMAP_OFFSET),
                Short.toUnsignedInt(b.getShort(INF_NUM_QUEUES)), Short.toUnsignedInt(b.getShort(INF_QUEUE_SIZE)));
    }

    static ConfigSpace readConfig(ByteBuffer b, CodecOptions o) {
        long offset = u32(b, CFG_OFFSET);
        long size = u32(b, CFG_SIZE);
        long flags = u32(b, CFG_FLAGS);
        if (size != b.limit() - CFG_REGION) {
            throw new IllegalArgumentException("config size " + size + " does not match the " + (b.limit() - CFG_REGION)
                    + " bytes after the config header");
        }
        if (offset + size > o.maxConfigBytes()) {
            throw new IllegalArgumentException("config offset " + offset + " + size " + size
                    + " exceeds the device config size " + o.maxConfigBytes());
        }
        byte[] data = new byte[(int) size];
        b.get(CFG_REGION, data);
        return new ConfigSpace(offset, flags, data);
    }

    static IotlbMessage readIotlb(ByteBuffer b) {
        for (int i = IOTLB_TYPE + 1; i < IOTLB_BYTES; i++) {
            if (b.get(i) != 0) {
                throw new IllegalArgumentException("iotlb tail padding byte " + i + " is not 0");
            }
        }
        return new IotlbMessage(b.getLong(IOTLB_IOVA), b.getLong(IOTLB_SIZE), b.getLong(IOTLB_UADDR),
                IotlbMessage.Perm.fromWire(Byte.toUnsignedInt(b.get(IOTLB_PERM))),
                IotlbMessage.Type.fromWire(Byte.toUnsignedInt(b.get(IOTLB_TYPE))));
    }

    static VringArea readArea(ByteBuffer b) {
        return new VringArea(VringFd.fromWire(b.getLong(AREA_U64)), b.getLong(AREA_SIZE), b.getLong(AREA_OFFSET));
    }

    static SharedObject readShared(ByteBuffer b) {
        ByteBuffer be = b.duplicate().order(ByteOrder.BIG_ENDIAN);
        return new SharedObject(new UUID(be.getLong(SHARED_UUID), be.getLong(SHARED_UUID + 8)));
    }

    static DeviceStateParams readDeviceState(ByteBuffer b) {
        return new DeviceStateParams(DeviceStateParams.Direction.fromWire(u32(b, DS_DIRECTION)),
                DeviceStateParams.Phase.fromWire(u32(b, DS_PHASE)));
    }

    static ShmemMapping readMmap(ByteBuffer b) {
        for (int i = MMAP_PADDING; i < MMAP_FD_OFFSET; i++) {
            if (b.get(i) != 0) {
                throw new IllegalArgumentException("shmem map padding byte " + i + " is not 0");
            }
        }
        return new ShmemMapping(Byte.toUnsignedInt(b.get(MMAP_SHMID)), b.getLong(MMAP_FD_OFFSET),
                b.getLong(MMAP_SHM_OFFSET), b.getLong(MMAP_LEN), b.getLong(MMAP_FLAGS));
    }

    static ShmemConfig readShmemConfig(ByteBuffer b) {
        if (b.getInt(SHC_PADDING) != 0) {
            throw new IllegalArgumentException("shmem config padding is not 0");
        }
        List<Long> sizes = new ArrayList<>(SHC_SLOTS);
        for (int i = 0; i < SHC_SLOTS; i++) {
            sizes.add(b.getLong(SHC_SIZES + i * 8));
        }
        return new ShmemConfig(u32(b, SHC_NREGIONS), sizes);
    }

    static CryptoSession readCrypto(ByteBuffer b) {
        byte[] setup = new byte[b.limit() - 8];
        b.get(8, setup);
        return new CryptoSession(b.getLong(0), setup);
    }

    // ---------------------------------------------------------------- writers

    static void writeState(ByteBuffer b, VringState s) {
        b.putInt((int) s.index()).putInt((int) s.num());
    }

    static void writeAddr(ByteBuffer b, VringAddress a) {
        b.putInt((int) a.index()).putInt((int) a.flags()).putLong(a.descAddress()).putLong(a.usedAddress())
                .putLong(a.availAddress()).putLong(a.logGuestAddress());
    }

    static void writeRegion(ByteBuffer b, MemoryRegion r, CodecOptions o) {
        if (r.xen().isPresent() != o.xenMmap()) {
            throw new IllegalArgumentException("memory region Xen fields " + (r.xen().isPresent() ? "present" : "absent")
                    + " but XEN_MMAP is " + (o.xenMmap() ? "on" : "off"));
        }
        b.putLong(r.guestAddress()).putLong(r.sizeBytes()).putLong(r.userAddress()).putLong(r.mmapOffset());
        if (r.xen().isPresent()) { // not ifPresent: its lambda, capturing b, was allocated for every region
            XenMmap x = r.xen().get();
            b.putInt((int) x.flags()).putInt((int) x.domid());
        }
    }

    static void writeTable(ByteBuffer b, MemoryTable t, CodecOptions o) {
        List<MemoryRegion> regions = t.regions();
        b.putInt(regions.size()).putInt(0);
        for (int i = 0; i < regions.size(); i++) { // indexed: no iterator object, even before the JIT removes it
            writeRegion(b, regions.get(i), o);
        }
    }

    static void writeSingleRegion(ByteBuffer b, MemoryRegion r, CodecOptions o) {
        b.putLong(0);
        writeRegion(b, r, o);
    }

    static void writeInflight(ByteBuffer b, InflightRegion i) {
        b.putLong(i.mmapSizeBytes()).putLong(i.mmapOffset()).putShort((short) i.numQueues())
                .putShort((short) i.queueSize()).putInt(0);
    }

    static void writeConfig(ByteBuffer b, ConfigSpace c) {
        b.putInt((int) c.offset()).putInt(c.sizeBytes()).putInt((int) c.flags()).put(c.bytes());
    }

    static void writeIotlb(ByteBuffer b, IotlbMessage m) {
        b.putLong(m.iova()).putLong(m.sizeBytes()).putLong(m.userAddress()).put((byte) m.perm().wire())
                .put((byte) m.type().wire()).put(new byte[IOTLB_BYTES - IOTLB_TYPE - 1]);
    }

    static void writeShared(ByteBuffer b, SharedObject s) {
        ByteOrder order = b.order();
        b.order(ByteOrder.BIG_ENDIAN).putLong(s.uuid().getMostSignificantBits())
                .putLong(s.uuid().getLeastSignificantBits()).order(order);
    }

    static void writeMmap(ByteBuffer b, ShmemMapping m) {
        b.put((byte) m.shmid()).put(new byte[MMAP_FD_OFFSET - MMAP_PADDING]).putLong(m.fdOffset())
                .putLong(m.shmOffset()).putLong(m.lengthBytes()).putLong(m.flags());
    }

    static void writeCrypto(ByteBuffer b, CryptoSession s) {
        b.putLong(s.sessionId()).put(s.setup());
    }
}
