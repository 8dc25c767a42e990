package io.vhost.devices.blk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.GuestMemoryException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BlkRequestsTest {

    private static final int SECTORS = 64;

    @TempDir
    Path dir;
    private Path file;
    private byte[] initial;
    private BlkImage image;

    @BeforeEach
    void createImage() throws IOException {
        file = dir.resolve("disk.img");
        initial = new byte[SECTORS * 512];
        new Random(7).nextBytes(initial);
        Files.write(file, initial);
        image = BlkImage.open(file, false);
    }

    @AfterEach
    void closeImage() throws IOException {
        image.close();
    }

    private BlkRequests requests(BlkImage img) {
        return new BlkRequests(img, new BlkConfig(img.capacitySectors(), 126, 512, 1, 64, 1, 64, 1), "vht-serial-1");
    }

    /** A request as the guest lays it out: readable = header + out data; writable = in data + status. */
    static final class FakeChain implements BlkRequests.Buffers {
        final byte[] readable;
        final byte[] writable;

        FakeChain(byte[] readable, int writableBytes) {
            this.readable = readable;
            this.writable = new byte[writableBytes];
            Arrays.fill(writable, (byte) 0x5a);
        }

        @Override
        public long readableBytes() {
            return readable.length;
        }

        @Override
        public long writableBytes() {
            return writable.length;
        }

        @Override
        public void read(long offset, ByteBuffer destination) throws GuestMemoryException {
            int n = destination.remaining();
            destination.put(readable, Math.toIntExact(offset), n);
        }

        @Override
        public void write(long offset, ByteBuffer source) throws GuestMemoryException {
            int n = source.remaining();
            source.get(writable, Math.toIntExact(offset), n);
        }

        byte status() {
            return writable[writable.length - 1];
        }
    }

    static byte[] header(int type, long sector, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(16 + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(type).putInt(0).putLong(sector).put(payload);
        return b.array();
    }

    static byte[] segments(long... sectorCountFlags) {
        ByteBuffer b = ByteBuffer.allocate(sectorCountFlags.length / 3 * 16).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < sectorCountFlags.length; i += 3) {
            b.putLong(sectorCountFlags[i]).putInt((int) sectorCountFlags[i + 1]).putInt((int) sectorCountFlags[i + 2]);
        }
        return b.array();
    }

    @Test
    void readReturnsImageBytesAndStatusOk() throws Exception {
        FakeChain c = new FakeChain(header(BlkRequests.T_IN, 3, new byte[0]), 2 * 512 + 1);
        long written = requests(image).execute(c);
        assertEquals(1025, written);
        assertEquals(BlkRequests.S_OK, c.status());
        assertArrayEquals(Arrays.copyOfRange(initial, 3 * 512, 5 * 512), Arrays.copyOf(c.writable, 1024));
    }

    @Test
    void largeReadCrossesTheBounceBuffer() throws Exception {
        FakeChain c = new FakeChain(header(BlkRequests.T_IN, 0, new byte[0]), SECTORS * 512 + 1);
        assertEquals(SECTORS * 512 + 1, requests(image).execute(c));
        assertArrayEquals(initial, Arrays.copyOf(c.writable, SECTORS * 512));
    }

    @Test
    void writeLandsInTheImage() throws Exception {
        byte[] data = new byte[512];
        Arrays.fill(data, (byte) 0xab);
        FakeChain c = new FakeChain(header(BlkRequests.T_OUT, 10, data), 1);
        assertEquals(1, requests(image).execute(c));
        assertEquals(BlkRequests.S_OK, c.status());
        byte[] onDisk = Files.readAllBytes(file);
        assertArrayEquals(data, Arrays.copyOfRange(onDisk, 10 * 512, 11 * 512));
        assertArrayEquals(Arrays.copyOfRange(initial, 11 * 512, 12 * 512), Arrays.copyOfRange(onDisk, 11 * 512,
                12 * 512));
    }

    @Test
    void flushAnswersOk() throws Exception {
        FakeChain c = new FakeChain(header(BlkRequests.T_FLUSH, 0, new byte[0]), 1);
        assertEquals(1, requests(image).execute(c));
        assertEquals(BlkRequests.S_OK, c.status());
    }

    @Test
    void getIdReturnsTheSerialPaddedTo20Bytes() throws Exception {
        FakeChain c = new FakeChain(header(BlkRequests.T_GET_ID, 0, new byte[0]), 21);
        assertEquals(21, requests(image).execute(c));
        assertEquals(BlkRequests.S_OK, c.status());
        byte[] expected = Arrays.copyOf("vht-serial-1".getBytes(StandardCharsets.US_ASCII), 20);
        assertArrayEquals(expected, Arrays.copyOf(c.writable, 20));
    }

    @Test
    void writeZeroesAndDiscardZeroTheRange() throws Exception {
        FakeChain wz = new FakeChain(header(BlkRequests.T_WRITE_ZEROES, 0, segments(4, 2, BlkRequests.FLAG_UNMAP)), 1);
        assertEquals(1, requests(image).execute(wz));
        assertEquals(BlkRequests.S_OK, wz.status());
        FakeChain dc = new FakeChain(header(BlkRequests.T_DISCARD, 0, segments(20, 1, 0)), 1);
        assertEquals(1, requests(image).execute(dc));
        assertEquals(BlkRequests.S_OK, dc.status());
        byte[] onDisk = Files.readAllBytes(file);
        assertArrayEquals(new byte[1024], Arrays.copyOfRange(onDisk, 4 * 512, 6 * 512));
        assertArrayEquals(new byte[512], Arrays.copyOfRange(onDisk, 20 * 512, 21 * 512));
        assertArrayEquals(Arrays.copyOfRange(initial, 6 * 512, 20 * 512), Arrays.copyOfRange(onDisk, 6 * 512,
                20 * 512));
    }

    @Test
    void discardWithUnmapOrUnknownFlagIsUnsupported() throws Exception {
        FakeChain dc = new FakeChain(header(BlkRequests.T_DISCARD, 0, segments(0, 1, BlkRequests.FLAG_UNMAP)), 1);
        requests(image).execute(dc);
        assertEquals(BlkRequests.S_UNSUPP, dc.status());
        FakeChain wz = new FakeChain(header(BlkRequests.T_WRITE_ZEROES, 0, segments(0, 1, 0x4)), 1);
        requests(image).execute(wz);
        assertEquals(BlkRequests.S_UNSUPP, wz.status());
        assertArrayEquals(initial, Files.readAllBytes(file));
    }

    @Test
    void tooManySegmentsOrSectorsIsIoError() throws Exception {
        FakeChain two = new FakeChain(header(BlkRequests.T_WRITE_ZEROES, 0, segments(0, 1, 0, 2, 1, 0)), 1);
        requests(image).execute(two);
        assertEquals(BlkRequests.S_IOERR, two.status());
        FakeChain big = new FakeChain(header(BlkRequests.T_DISCARD, 0, segments(0, 65, 0)), 1);
        requests(image).execute(big);
        assertEquals(BlkRequests.S_IOERR, big.status());
        assertArrayEquals(initial, Files.readAllBytes(file));
    }

    @Test
    void readOnlyImageRejectsWritesButServesReads() throws Exception {
        try (BlkImage ro = BlkImage.open(file, true)) {
            BlkRequests r = requests(ro);
            FakeChain w = new FakeChain(header(BlkRequests.T_OUT, 0, new byte[512]), 1);
            r.execute(w);
            assertEquals(BlkRequests.S_IOERR, w.status());
            FakeChain wz = new FakeChain(header(BlkRequests.T_WRITE_ZEROES, 0, segments(0, 1, 0)), 1);
            r.execute(wz);
            assertEquals(BlkRequests.S_IOERR, wz.status());
            FakeChain rd = new FakeChain(header(BlkRequests.T_IN, 0, new byte[0]), 513);
            r.execute(rd);
            assertEquals(BlkRequests.S_OK, rd.status());
            FakeChain fl = new FakeChain(header(BlkRequests.T_FLUSH, 0, new byte[0]), 1);
            r.execute(fl);
            assertEquals(BlkRequests.S_OK, fl.status());
        }
        assertArrayEquals(initial, Files.readAllBytes(file));
    }

    @Test
    void outOfRangeSectorsAreIoErrors() throws Exception {
        BlkRequests r = requests(image);
        FakeChain pastEnd = new FakeChain(header(BlkRequests.T_IN, SECTORS - 1, new byte[0]), 1024 + 1);
        r.execute(pastEnd);
        assertEquals(BlkRequests.S_IOERR, pastEnd.status());
        FakeChain huge = new FakeChain(header(BlkRequests.T_OUT, Long.MAX_VALUE / 256, new byte[512]), 1);
        r.execute(huge);
        assertEquals(BlkRequests.S_IOERR, huge.status());
        FakeChain negative = new FakeChain(header(BlkRequests.T_IN, -1L, new byte[0]), 513);
        r.execute(negative);
        assertEquals(BlkRequests.S_IOERR, negative.status());
        FakeChain partial = new FakeChain(header(BlkRequests.T_OUT, 0, new byte[100]), 1);
        r.execute(partial);
        assertEquals(BlkRequests.S_IOERR, partial.status());
        assertArrayEquals(initial, Files.readAllBytes(file));
    }

    @Test
    void unknownTypeIsUnsupportedAndShortHeaderIsIoError() throws Exception {
        BlkRequests r = requests(image);
        FakeChain unknown = new FakeChain(header(99, 0, new byte[0]), 1);
        assertEquals(1, r.execute(unknown));
        assertEquals(BlkRequests.S_UNSUPP, unknown.status());
        FakeChain shortHeader = new FakeChain(new byte[8], 1);
        assertEquals(1, r.execute(shortHeader));
        assertEquals(BlkRequests.S_IOERR, shortHeader.status());
        FakeChain noStatus = new FakeChain(header(BlkRequests.T_FLUSH, 0, new byte[0]), 0);
        assertEquals(0, r.execute(noStatus));
    }

    @Test
    void missingImageGivesAClearError() {
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> BlkImage.open(dir.resolve("nope.img"),
                false));
        assertTrue(e.getMessage().contains("--create"), e.getMessage());
    }

    @Test
    void createMakesASparseImageOfTheGivenSize() throws Exception {
        Path created = dir.resolve("new.img");
        BlkImage.create(created, 1 << 20);
        try (BlkImage img = BlkImage.open(created, false)) {
            assertEquals(2048, img.capacitySectors());
        }
        assertThrows(IOException.class, () -> BlkImage.create(created, 1 << 20));
    }

    @Test
    void configSpaceLayoutMatchesTheSpec() {
        byte[] c = new BlkConfig(262144, 126, 512, 4, 1000, 1, 2000, 1).encode();
        ByteBuffer b = ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(262144L, b.getLong(0));
        assertEquals(126, b.getInt(12));
        assertEquals(512, b.getInt(20));
        assertEquals(4, b.getShort(34));
        assertEquals(1000, b.getInt(36));
        assertEquals(1, b.getInt(40));
        assertEquals(1, b.getInt(44));
        assertEquals(2000, b.getInt(48));
        assertEquals(1, b.getInt(52));
        assertEquals(0, c[56]);
        assertEquals(60, c.length);
    }

    @Test
    void anInterruptedWorkerDoesNotLeaveTheImageClosedForTheNextSession() throws Exception {
        ByteBuffer buf = ByteBuffer.allocate(512);
        Thread.currentThread().interrupt(); // a session ending interrupts its workers mid-request
        try {
            assertThrows(java.nio.channels.ClosedByInterruptException.class, () -> image.read(0, buf));
        } finally {
            Thread.interrupted();
        }
        buf.clear();
        image.read(512, buf); // the next session's worker
        assertArrayEquals(Arrays.copyOfRange(initial, 512, 1024), buf.array());
        image.write(0, ByteBuffer.wrap(new byte[512]));
        image.flush();
        assertArrayEquals(new byte[512], Arrays.copyOf(Files.readAllBytes(file), 512));
        image.close();
        assertTrue(image.isClosed());
        assertThrows(java.nio.channels.ClosedChannelException.class, () -> image.read(0, ByteBuffer.allocate(512)));
    }
}
