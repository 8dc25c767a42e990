package io.vhost.impl.frontend;

import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.impl.virtqueue.DriverRing;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/**
 * Minimal virtio-blk driver requests over a {@link DriverQueue}, for tests and benchmarks: one request at a time,
 * {@code struct virtio_blk_outhdr} (le32 type, le32 reserved, le64 sector), the data, then a 1-byte status
 * (virtio 1.x, section 5.2.6).
 */
public final class VirtioBlkDriver {

    /** {@code VIRTIO_BLK_T_IN}: read. */
    public static final int T_IN = 0;
    /** {@code VIRTIO_BLK_T_OUT}: write. */
    public static final int T_OUT = 1;
    /** {@code VIRTIO_BLK_T_FLUSH}. */
    public static final int T_FLUSH = 4;
    /** {@code VIRTIO_BLK_T_GET_ID}: a 20-byte id string. */
    public static final int T_GET_ID = 8;
    /** {@code VIRTIO_BLK_S_OK}. */
    public static final int S_OK = 0;
    /** The size of a sector in virtio-blk addressing. */
    public static final int SECTOR_BYTES = 512;

    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_LONG =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final VmmMemory memory;
    private final DriverQueue queue;
    private final long headerGpa;
    private final long statusGpa;
    private final long dataGpa;
    private final int maxDataBytes;
    private final Duration timeout;

    /**
     * Allocates the request header, status byte and a data buffer in guest memory.
     *
     * @param memory guest memory
     * @param queue the request queue, set up on the back-end
     * @param maxDataBytes the largest transfer
     * @param timeout how long each request may take
     */
    public VirtioBlkDriver(VmmMemory memory, DriverQueue queue, int maxDataBytes, Duration timeout) {
        this.memory = memory;
        this.queue = queue;
        this.maxDataBytes = maxDataBytes;
        this.timeout = timeout;
        this.headerGpa = memory.allocate(16, 16);
        this.statusGpa = memory.allocate(1, 1);
        this.dataGpa = memory.allocate(maxDataBytes, 4096);
    }

    /**
     * Returns where the data buffer lies in guest memory.
     *
     * @return the guest physical address of the data buffer
     */
    public long dataGuestAddress() {
        return dataGpa;
    }

    /**
     * Writes bytes at a sector.
     *
     * @param sector the first 512-byte sector
     * @param data a multiple of 512 bytes
     * @throws IOException if the device fails the request or does not complete it in time
     */
    public void write(long sector, byte[] data) throws IOException {
        checkLength(data.length);
        MemorySegment.copy(data, 0, memory.segment(dataGpa, data.length), ValueLayout.JAVA_BYTE, 0, data.length);
        submit(T_OUT, sector, data.length, false);
    }

    /**
     * Reads bytes at a sector.
     *
     * @param sector the first 512-byte sector
     * @param length a multiple of 512 bytes
     * @return the bytes read
     * @throws IOException if the device fails the request or does not complete it in time
     */
    public byte[] read(long sector, int length) throws IOException {
        checkLength(length);
        submit(T_IN, sector, length, true);
        return memory.segment(dataGpa, length).toArray(ValueLayout.JAVA_BYTE);
    }

    /**
     * Flushes the device's write cache.
     *
     * @throws IOException if the device fails the request
     */
    public void flush() throws IOException {
        submit(T_FLUSH, 0, 0, false);
    }

    /**
     * Reads the device id string (up to 20 bytes, NUL-padded).
     *
     * @return the id
     * @throws IOException if the device fails the request
     */
    public String id() throws IOException {
        submit(T_GET_ID, 0, 20, true);
        byte[] raw = memory.segment(dataGpa, 20).toArray(ValueLayout.JAVA_BYTE);
        int n = 0;
        while (n < raw.length && raw[n] != 0) {
            n++;
        }
        return new String(raw, 0, n, StandardCharsets.US_ASCII);
    }

    private void checkLength(int length) {
        if (length <= 0 || length % SECTOR_BYTES != 0 || length > maxDataBytes) {
            throw new IllegalArgumentException("virtio-blk transfer of " + length + " bytes: must be a positive "
                    + "multiple of 512 up to " + maxDataBytes);
        }
    }

    private void submit(int type, long sector, int dataBytes, boolean deviceWritesData) throws IOException {
        MemorySegment header = memory.segment(headerGpa, 16);
        header.set(LE_INT, 0, type);
        header.set(LE_INT, 4, 0);
        header.set(LE_LONG, 8, sector);
        memory.segment(statusGpa, 1).set(ValueLayout.JAVA_BYTE, 0, (byte) 0xff);
        DriverRing.Buffer hdr = new DriverRing.Buffer(headerGpa, 16);
        DriverRing.Buffer status = new DriverRing.Buffer(statusGpa, 1);
        DriverRing.Buffer data = dataBytes > 0 ? new DriverRing.Buffer(dataGpa, dataBytes) : null;
        List<DriverRing.Buffer> readable = data != null && !deviceWritesData ? List.of(hdr, data) : List.of(hdr);
        List<DriverRing.Buffer> writable = data != null && deviceWritesData ? List.of(data, status) : List.of(status);
        int head = queue.add(readable, writable);
        if (head < 0) {
            throw new IllegalStateException("virtio-blk queue " + queue.index() + " has no free descriptors");
        }
        queue.kick();
        DriverRing.Used used = queue.awaitUsed(timeout);
        if (used == null) {
            throw new ProtocolViolationException("virtio-blk request type " + type + " at sector " + sector
                    + " not completed within " + timeout.toMillis() + " ms");
        }
        if (used.head() != head) {
            throw new ProtocolViolationException("virtio-blk request completed head " + used.head() + ", expected "
                    + head);
        }
        int s = Byte.toUnsignedInt(statusByte());
        if (s != S_OK) {
            throw new RequestRejectedException("virtio-blk request type " + type + " at sector " + sector
                    + " failed with status " + s + " (1 = IOERR, 2 = UNSUPP)");
        }
    }

    private byte statusByte() throws GuestMemoryException {
        return memory.segment(statusGpa, 1).get(ValueLayout.JAVA_BYTE, 0);
    }
}
