package io.vhost.impl.codec;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The byte layouts the codec uses: every size and field offset of the vhost-user wire structs, in one place. The
 * codec reads and writes through these constants, and {@link #all()} exposes them so that a test can compare them
 * with {@code sizeof}/{@code offsetof} from a C compiler.
 */
public final class Layout {

    /**
     * A C struct's size and field offsets, as the codec uses them.
     *
     * @param cName the C type name (kernel structs without the {@code struct} keyword)
     * @param size {@code sizeof} in bytes
     * @param offsets {@code offsetof} of each field the codec reads or writes, by C member name
     */
    public record Struct(String cName, int size, Map<String, Integer> offsets) {
        /** Copies the map, keeping field order. */
        public Struct {
            offsets = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(offsets));
        }
    }

    // VhostUserHeader (packed): request u32, flags u32, size u32.
    static final int HDR_REQUEST = 0, HDR_FLAGS = 4, HDR_SIZE = 8, HDR_BYTES = 12;
    // struct vhost_vring_state
    static final int VS_INDEX = 0, VS_NUM = 4, VS_BYTES = 8;
    // struct vhost_vring_addr
    static final int VA_INDEX = 0, VA_FLAGS = 4, VA_DESC = 8, VA_USED = 16, VA_AVAIL = 24, VA_LOG = 32, VA_BYTES = 40;
    // VhostUserMemoryRegion (+ Xen variant)
    static final int MR_GUEST = 0, MR_SIZE = 8, MR_USER = 16, MR_MMAP_OFFSET = 24, MR_BYTES = 32;
    static final int MR_XEN_FLAGS = 32, MR_XEN_DOMID = 36, MR_XEN_BYTES = 40;
    // VhostUserMemory: nregions u32, padding u32, regions[8]
    static final int MEM_NREGIONS = 0, MEM_PADDING = 4, MEM_REGIONS = 8, MEM_MAX_REGIONS = 8;
    // VhostUserMemRegMsg: padding u64, region
    static final int MRM_PADDING = 0, MRM_REGION = 8;
    // VhostUserLog
    static final int LOG_SIZE = 0, LOG_OFFSET = 8, LOG_BYTES = 16;
    // VhostUserInflight: 20 bytes of fields, tail padding to 24
    static final int INF_MMAP_SIZE = 0, INF_MMAP_OFFSET = 8, INF_NUM_QUEUES = 16, INF_QUEUE_SIZE = 18, INF_BYTES = 24;
    // VhostUserConfig header: offset, size, flags, then region[size]
    static final int CFG_OFFSET = 0, CFG_SIZE = 4, CFG_FLAGS = 8, CFG_REGION = 12;
    // struct vhost_iotlb_msg: 26 bytes of fields, tail padding to 32
    static final int IOTLB_IOVA = 0, IOTLB_SIZE = 8, IOTLB_UADDR = 16, IOTLB_PERM = 24, IOTLB_TYPE = 25,
            IOTLB_BYTES = 32;
    // VhostUserVringArea
    static final int AREA_U64 = 0, AREA_SIZE = 8, AREA_OFFSET = 16, AREA_BYTES = 24;
    // VhostUserShared
    static final int SHARED_UUID = 0, SHARED_BYTES = 16;
    // VhostUserTransferDeviceState
    static final int DS_DIRECTION = 0, DS_PHASE = 4, DS_BYTES = 8;
    // VhostUserMMap (provisional)
    static final int MMAP_SHMID = 0, MMAP_PADDING = 1, MMAP_FD_OFFSET = 8, MMAP_SHM_OFFSET = 16, MMAP_LEN = 24,
            MMAP_FLAGS = 32, MMAP_BYTES = 40;
    // VhostUserShMemConfig (provisional)
    static final int SHC_NREGIONS = 0, SHC_PADDING = 4, SHC_SIZES = 8, SHC_SLOTS = 256, SHC_BYTES = 8 + 256 * 8;
    // u64 payloads
    static final int U64_BYTES = 8;

    private Layout() {
    }

    /**
     * Returns every struct layout the codec uses, named as in the kernel headers or the specification's C code.
     *
     * @return the layouts, in a stable order
     */
    public static List<Struct> all() {
        return List.of(
                s("VhostUserHeader", HDR_BYTES, "request", HDR_REQUEST, "flags", HDR_FLAGS, "size", HDR_SIZE),
                s("vhost_vring_state", VS_BYTES, "index", VS_INDEX, "num", VS_NUM),
                s("vhost_vring_addr", VA_BYTES, "index", VA_INDEX, "flags", VA_FLAGS, "desc_user_addr", VA_DESC,
                        "used_user_addr", VA_USED, "avail_user_addr", VA_AVAIL, "log_guest_addr", VA_LOG),
                s("vhost_iotlb_msg", IOTLB_BYTES, "iova", IOTLB_IOVA, "size", IOTLB_SIZE, "uaddr", IOTLB_UADDR,
                        "perm", IOTLB_PERM, "type", IOTLB_TYPE),
                s("VhostUserMemoryRegion", MR_BYTES, "guest_phys_addr", MR_GUEST, "memory_size", MR_SIZE,
                        "userspace_addr", MR_USER, "mmap_offset", MR_MMAP_OFFSET),
                s("VhostUserMemoryRegionXen", MR_XEN_BYTES, "guest_phys_addr", MR_GUEST, "memory_size", MR_SIZE,
                        "userspace_addr", MR_USER, "mmap_offset", MR_MMAP_OFFSET, "xen_mmap_flags", MR_XEN_FLAGS,
                        "domid", MR_XEN_DOMID),
                s("VhostUserMemory", MEM_REGIONS + MEM_MAX_REGIONS * MR_BYTES, "nregions", MEM_NREGIONS,
                        "padding", MEM_PADDING, "regions", MEM_REGIONS),
                s("VhostUserMemRegMsg", MRM_REGION + MR_BYTES, "padding", MRM_PADDING, "region", MRM_REGION),
                s("VhostUserLog", LOG_BYTES, "mmap_size", LOG_SIZE, "mmap_offset", LOG_OFFSET),
                s("VhostUserInflight", INF_BYTES, "mmap_size", INF_MMAP_SIZE, "mmap_offset", INF_MMAP_OFFSET,
                        "num_queues", INF_NUM_QUEUES, "queue_size", INF_QUEUE_SIZE),
                s("VhostUserConfig", CFG_REGION, "offset", CFG_OFFSET, "size", CFG_SIZE, "flags", CFG_FLAGS,
                        "region", CFG_REGION),
                s("VhostUserVringArea", AREA_BYTES, "u64", AREA_U64, "size", AREA_SIZE, "offset", AREA_OFFSET),
                s("VhostUserShared", SHARED_BYTES, "uuid", SHARED_UUID),
                s("VhostUserTransferDeviceState", DS_BYTES, "direction", DS_DIRECTION, "phase", DS_PHASE),
                s("VhostUserMMap", MMAP_BYTES, "shmid", MMAP_SHMID, "padding", MMAP_PADDING, "fd_offset",
                        MMAP_FD_OFFSET, "shm_offset", MMAP_SHM_OFFSET, "len", MMAP_LEN, "flags", MMAP_FLAGS),
                s("VhostUserShMemConfig", SHC_BYTES, "nregions", SHC_NREGIONS, "padding", SHC_PADDING,
                        "memory_sizes", SHC_SIZES));
    }

    private static Struct s(String name, int size, Object... fieldOffsets) {
        Map<String, Integer> m = new LinkedHashMap<>();
        for (int i = 0; i < fieldOffsets.length; i += 2) {
            m.put((String) fieldOffsets[i], (Integer) fieldOffsets[i + 1]);
        }
        return new Struct(name, size, m);
    }
}
