package io.vhost.impl.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.StructLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checks the hand-written inflight region layouts against gcc's view of the structs as the vhost-user specification
 * declares them (§Inflight I/O tracking: {@code QueueRegionSplit}, {@code DescStateSplit}, {@code QueueRegionPacked},
 * {@code DescStatePacked}; natural C alignment, as QEMU and DPDK compile them), field by field, and the
 * {@code GET_INFLIGHT_FD} size arithmetic. gcc is required.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InflightLayoutTest {

    /** The structs, typed in from the specification text. */
    private static final String SPEC_STRUCTS = """
            typedef struct DescStateSplit {
                uint8_t inflight; uint8_t padding[5]; uint16_t next; uint64_t counter;
            } DescStateSplit;
            typedef struct QueueRegionSplit {
                uint64_t features; uint16_t version; uint16_t desc_num; uint16_t last_batch_head; uint16_t used_idx;
                DescStateSplit desc[];
            } QueueRegionSplit;
            typedef struct DescStatePacked {
                uint8_t inflight; uint8_t padding; uint16_t next; uint16_t last; uint16_t num; uint64_t counter;
                uint16_t id; uint16_t flags; uint32_t len; uint64_t addr;
            } DescStatePacked;
            typedef struct QueueRegionPacked {
                uint64_t features; uint16_t version; uint16_t desc_num; uint16_t free_head; uint16_t old_free_head;
                uint16_t used_idx; uint16_t old_used_idx; uint8_t used_wrap_counter; uint8_t old_used_wrap_counter;
                uint8_t padding[7];
                DescStatePacked desc[];
            } QueueRegionPacked;
            """;

    private static final List<StructLayout> LAYOUTS = List.of(InflightSplitQueue.HEADER,
            InflightSplitQueue.DESC_STATE, InflightPackedQueue.HEADER, InflightPackedQueue.DESC_STATE);

    private static Map<String, Long> c;

    @BeforeAll
    static void compileAndRun(@TempDir Path dir) throws IOException, InterruptedException {
        StringBuilder p = new StringBuilder("#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n")
                .append(SPEC_STRUCTS)
                .append("#define P(name, value) printf(\"%s=%ld\\n\", name, (long) (value))\nint main(void) {\n");
        for (StructLayout s : LAYOUTS) {
            String t = s.name().orElseThrow();
            p.append("  P(\"").append(t).append(".size\", sizeof(").append(t).append("));\n");
            for (MemoryLayout m : s.memberLayouts()) {
                if (m.name().isPresent()) {
                    String f = m.name().get();
                    p.append("  P(\"").append(t).append('.').append(f).append("\", offsetof(").append(t).append(", ")
                            .append(f).append("));\n");
                }
            }
        }
        p.append("  P(\"QueueRegionSplit.desc\", offsetof(QueueRegionSplit, desc));\n");
        p.append("  P(\"QueueRegionPacked.desc\", offsetof(QueueRegionPacked, desc));\n");
        p.append("  return 0;\n}\n");
        Path source = dir.resolve("inflight.c");
        Path binary = dir.resolve("inflight");
        Files.writeString(source, p);
        run(List.of("gcc", "-std=c11", "-Wall", "-Werror", "-O0", "-o", binary.toString(), source.toString()), dir);
        String out = run(List.of(binary.toString()), dir);
        c = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            c.put(line.substring(0, eq), Long.parseLong(line.substring(eq + 1)));
        }
        assertTrue(c.size() >= 30, "the C program printed too few values: " + c.keySet());
    }

    private static String run(List<String> command, Path dir) throws IOException, InterruptedException {
        Process proc = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!proc.waitFor(30, TimeUnit.SECONDS)) {
            proc.destroyForcibly();
        }
        assertEquals(0, proc.exitValue(), command + " failed (gcc is required on PATH):\n" + output);
        return output;
    }

    private static void same(String name, long java) {
        Long expected = c.get(name);
        assertEquals(expected, Long.valueOf(java), name + ": C says " + expected + ", Java says " + java);
    }

    @Test
    void everyNamedFieldAndSizeMatchesC() {
        int checked = 0;
        for (StructLayout s : LAYOUTS) {
            String t = s.name().orElseThrow();
            same(t + ".size", s.byteSize());
            for (MemoryLayout m : s.memberLayouts()) {
                if (m.name().isPresent()) {
                    same(t + "." + m.name().get(), s.byteOffset(PathElement.groupElement(m.name().get())));
                    checked++;
                }
            }
        }
        assertEquals(5 + 4 + 10 + 10, checked, "fields checked");
    }

    @Test
    void entriesStartWhereTheFlexibleArrayStarts() {
        same("QueueRegionSplit.desc", InflightSplitQueue.HEADER_BYTES);
        same("QueueRegionPacked.desc", InflightPackedQueue.HEADER_BYTES);
        same("DescStateSplit.size", InflightSplitQueue.DESC_STATE_BYTES);
        same("DescStatePacked.size", InflightPackedQueue.DESC_STATE_BYTES);
    }

    @Test
    void packedMmapSizeIsTheSpecRegionRoundedToSixtyFourBytes() {
        for (int queueSize : new int[] {1, 2, 3, 4, 128, 256, 1000, 1024, 32768}) {
            long region = c.get("QueueRegionPacked.size") + c.get("DescStatePacked.size") * queueSize;
            long aligned = (region + 63) / 64 * 64;
            assertEquals(aligned, InflightPackedQueue.queueRegionBytes(queueSize), "queue size " + queueSize);
            // The sum of the header's field sizes (29 bytes, without the flexible array's padding) gives the same.
            assertEquals((32L * queueSize + 29 + 63) / 64 * 64, InflightPackedQueue.queueRegionBytes(queueSize));
            assertEquals(3 * aligned, InflightPackedQueue.mmapBytes(3, queueSize));
        }
        assertEquals(8256, InflightPackedQueue.queueRegionBytes(256)); // 32 + 8192 = 8224 -> 8256
    }
}
