package io.vhost.devices.blk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BlkMainTest {

    private record Run(int status, String out, String err) {}

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int status = BlkMain.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(status, out.toString(), err.toString());
    }

    @Test
    void printCapabilitiesPrintsTheSpecJsonAndIgnoresOtherOptions() {
        Run r = run("--print-capabilities", "--socket-path=/nonexistent/dir/x.sock");
        assertEquals(0, r.status());
        String json = r.out().replaceAll("\\s", "");
        assertEquals("{\"type\":\"block\",\"features\":[\"read-only\",\"blk-file\"]}", json);
    }

    @Test
    void aMissingImageIsAClearErrorAndExitStatusOne(@TempDir Path dir) {
        Run r = run("--socket-path=" + dir.resolve("s.sock"), "--blk-file=" + dir.resolve("missing.img"));
        assertEquals(1, r.status());
        assertTrue(r.err().contains("missing.img") && r.err().contains("--create"), r.err());
    }

    @Test
    void socketPathAndFdAreExclusiveAndOneIsRequired(@TempDir Path dir) {
        Run none = run("--blk-file=" + dir.resolve("x.img"));
        assertEquals(2, none.status());
        assertTrue(none.err().contains("--socket-path"), none.err());
        Run both = run("--socket-path=" + dir.resolve("s.sock"), "--fd=3", "--blk-file=" + dir.resolve("x.img"));
        assertEquals(2, both.status());
    }

    @Test
    void sizesParseWithBinaryUnits() {
        assertEquals(128L << 20, BlkMain.parseSize("128M"));
        assertEquals(1L << 30, BlkMain.parseSize("1g"));
        assertEquals(4096, BlkMain.parseSize("4096"));
        assertThrows(IllegalArgumentException.class, () -> BlkMain.parseSize("1000"));
        assertThrows(IllegalArgumentException.class, () -> BlkMain.parseSize("-1M"));
        assertThrows(IllegalArgumentException.class, () -> BlkMain.parseSize("lots"));
    }

    @Test
    void aBadCreateSizeIsAUsageError(@TempDir Path dir) {
        Run r = run("--socket-path=" + dir.resolve("s.sock"), "--blk-file=" + dir.resolve("n.img"), "--create=12x");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--create"), r.err());
    }
}
