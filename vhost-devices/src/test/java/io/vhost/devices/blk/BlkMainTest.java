package io.vhost.devices.blk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.Connector;
import io.vhost.impl.transport.TransportKind;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
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

    /** GET_FEATURES over a raw connection: the device's feature word. */
    private static long getFeatures(Connection c) throws Exception {
        c.send(ByteBuffer.allocate(12).order(ByteOrder.nativeOrder()).putInt(1).putInt(1).putInt(0).flip(), List.of());
        ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.nativeOrder());
        c.receiveHeader(header).forEach(io.vhost.api.Fd::close);
        header.flip();
        assertEquals(1, header.getInt(0), "reply to GET_FEATURES");
        assertEquals(8, header.getInt(8));
        ByteBuffer body = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder());
        c.receiveFully(body);
        return body.getLong(0);
    }

    @Test
    void anInheritedListeningFdIsServedAndStopEndsTheProgramCleanly(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("disk.img");
        BlkImage.create(img, 1 << 20);
        Path sock = dir.resolve("inherited.sock");
        OwnedFd listening = Sockets.socket(0, "test listening socket");
        Sockets.bind(listening.number(), sock.toString());
        Sockets.listen(listening.number(), 4);
        int number = listening.release(); // handed to the program, as a parent process would
        BlkMain main = new BlkMain();
        StringWriter err = new StringWriter();
        CompletableFuture<Integer> status = CompletableFuture.supplyAsync(() -> BlkMain.run(main,
                new String[] {"--fd=" + number, "--blk-file=" + img, "--read-only"},
                new PrintWriter(new StringWriter()),
                new PrintWriter(err, true)));
        try (Connection c = Connector.connect(sock, TransportKind.FFM, Duration.ofSeconds(10), 100)) {
            long features = getFeatures(c);
            assertTrue((features & 1L << BlkDevice.F_RO) != 0, "VIRTIO_BLK_F_RO is offered for --read-only");
            assertTrue((features & 1L << 32) != 0, "VIRTIO_F_VERSION_1 is offered");
        }
        main.stop(); // what the SIGTERM hook does
        assertEquals(0, status.get(20, TimeUnit.SECONDS), err.toString());
        assertTrue(Files.exists(img));
    }

    @Test
    void aFdThatIsNotASocketIsAUsageError(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("disk.img");
        BlkImage.create(img, 1 << 20);
        try (var file = new java.io.FileInputStream(img.toFile())) {
            Run r = run("--fd=" + fdNumber(file.getFD()), "--blk-file=" + img);
            assertEquals(2, r.status());
            assertTrue(r.err().contains("not a unix socket"), r.err());
        }
    }

    private static int fdNumber(java.io.FileDescriptor fd) throws Exception {
        for (String link : new java.io.File("/proc/self/fd").list()) {
            Path target = Files.readSymbolicLink(Path.of("/proc/self/fd", link));
            if (target.getFileName().toString().equals("disk.img")) {
                return Integer.parseInt(link);
            }
        }
        throw new AssertionError("no fd for the image");
    }
}
