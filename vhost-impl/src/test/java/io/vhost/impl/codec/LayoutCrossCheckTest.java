package io.vhost.impl.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.vhost.api.message.Body;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compiles a C program with gcc that prints sizeof/offsetof of the kernel structs (from linux/vhost_types.h) and of
 * the vhost-user structs declared from the specification text, and compares them with {@link Layout}. gcc and the
 * kernel headers are required: the test fails without them.
 */
@Timeout(60)
class LayoutCrossCheckTest {

    /** The vhost-user structs, declared from the specification's tables (natural C alignment, as QEMU). */
    private static final String SPEC_STRUCTS = """
            typedef struct __attribute__((packed)) { uint32_t request; uint32_t flags; uint32_t size; } VhostUserHeader;
            typedef struct { uint64_t guest_phys_addr; uint64_t memory_size; uint64_t userspace_addr;
                             uint64_t mmap_offset; } VhostUserMemoryRegion;
            typedef struct { uint64_t guest_phys_addr; uint64_t memory_size; uint64_t userspace_addr;
                             uint64_t mmap_offset; uint32_t xen_mmap_flags; uint32_t domid; } VhostUserMemoryRegionXen;
            typedef struct { uint32_t nregions; uint32_t padding; VhostUserMemoryRegion regions[8]; } VhostUserMemory;
            typedef struct { uint64_t padding; VhostUserMemoryRegion region; } VhostUserMemRegMsg;
            typedef struct { uint64_t mmap_size; uint64_t mmap_offset; } VhostUserLog;
            typedef struct { uint64_t mmap_size; uint64_t mmap_offset; uint16_t num_queues; uint16_t queue_size; }
                    VhostUserInflight;
            typedef struct { uint32_t offset; uint32_t size; uint32_t flags; uint8_t region[]; } VhostUserConfig;
            typedef struct { uint64_t u64; uint64_t size; uint64_t offset; } VhostUserVringArea;
            typedef struct { unsigned char uuid[16]; } VhostUserShared;
            typedef struct { uint32_t direction; uint32_t phase; } VhostUserTransferDeviceState;
            typedef struct { uint8_t shmid; uint8_t padding[7]; uint64_t fd_offset; uint64_t shm_offset;
                             uint64_t len; uint64_t flags; } VhostUserMMap;
            typedef struct { uint32_t nregions; uint32_t padding; uint64_t memory_sizes[256]; } VhostUserShMemConfig;
            """;

    private static String cType(String name) {
        return Character.isLowerCase(name.charAt(0)) ? "struct " + name : name;
    }

    static Map<String, Long> measure(Path dir) throws IOException, InterruptedException {
        StringBuilder c = new StringBuilder("#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n"
                + "#include <linux/vhost_types.h>\n" + SPEC_STRUCTS + "int main(void) {\n");
        for (Layout.Struct s : Layout.all()) {
            String t = cType(s.cName());
            c.append("  printf(\"%s sizeof %zu\\n\", \"").append(s.cName()).append("\", sizeof(").append(t)
                    .append("));\n");
            for (String f : s.offsets().keySet()) {
                c.append("  printf(\"%s %s %zu\\n\", \"").append(s.cName()).append("\", \"").append(f)
                        .append("\", offsetof(").append(t).append(", ").append(f).append("));\n");
            }
        }
        c.append("  return 0;\n}\n");
        Path src = dir.resolve("layout.c");
        Path exe = dir.resolve("layout");
        Files.writeString(src, c);
        run(dir, List.of("gcc", "-std=c11", "-Wall", "-Werror", "-o", exe.toString(), src.toString()));
        String out = run(dir, List.of(exe.toString()));
        Map<String, Long> m = new HashMap<>();
        for (String line : out.split("\n")) {
            String[] p = line.trim().split(" ");
            m.put(p[0] + " " + p[1], Long.parseLong(p[2]));
        }
        return m;
    }

    private static String run(Path dir, List<String> cmd) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            fail("cannot run " + cmd.getFirst() + " (gcc and linux-libc-dev are required): " + e.getMessage());
            throw e;
        }
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(cmd + " timed out");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), cmd + " failed:\n" + out);
        return out;
    }

    @Test
    void codecLayoutsMatchC(@TempDir Path dir) throws Exception {
        Map<String, Long> c = measure(dir);
        int checked = 0;
        for (Layout.Struct s : Layout.all()) {
            assertEquals(c.get(s.cName() + " sizeof"), (long) s.size(), "sizeof " + s.cName());
            for (var e : s.offsets().entrySet()) {
                assertEquals(c.get(s.cName() + " " + e.getKey()), (long) e.getValue(),
                        "offsetof(" + s.cName() + ", " + e.getKey() + ")");
                checked++;
            }
        }
        assertTrue(checked > 50, "checked only " + checked + " fields");
    }

    @Test
    void ruleTableSizesMatchLayouts() {
        Map<String, Integer> size = new HashMap<>();
        Layout.all().forEach(s -> size.put(s.cName(), s.size()));
        assertEquals(size.get("vhost_vring_state"), Body.VRING_STATE.maxBytes());
        assertEquals(size.get("vhost_vring_addr"), Body.VRING_ADDR.maxBytes());
        assertEquals(size.get("vhost_iotlb_msg"), Body.IOTLB.maxBytes());
        assertEquals(size.get("VhostUserLog"), Body.LOG.maxBytes());
        assertEquals(size.get("VhostUserInflight"), Body.INFLIGHT.maxBytes());
        assertEquals(size.get("VhostUserVringArea"), Body.VRING_AREA.maxBytes());
        assertEquals(size.get("VhostUserShared"), Body.SHARED_OBJECT.maxBytes());
        assertEquals(size.get("VhostUserTransferDeviceState"), Body.DEVICE_STATE.maxBytes());
        assertEquals(size.get("VhostUserMMap"), Body.SHMEM_MAP.maxBytes());
        assertEquals(size.get("VhostUserShMemConfig"), Body.SHMEM_CONFIG.maxBytes());
        assertEquals(size.get("VhostUserMemRegMsg"), Body.SINGLE_REGION.minBytes());
        assertEquals(size.get("VhostUserMemRegMsg") + 8, Body.SINGLE_REGION.maxBytes());
        assertEquals(size.get("VhostUserConfig"), Body.CONFIG.minBytes());
        assertEquals(8 + 8 * size.get("VhostUserMemoryRegionXen"), Body.MEMORY_TABLE.maxBytes());
        assertEquals(size.get("VhostUserHeader"), VhostUserCodec.HEADER_BYTES);
    }
}
