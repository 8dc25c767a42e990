package io.vhost.devices.blk;

import io.vhost.api.error.GuestMemoryException;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * Executes virtio-blk requests against a {@link BlkImage}.
 *
 * <p>A request is one descriptor chain: the device-readable part starts with the 16-byte header
 * ({@code le32 type, le32 reserved, le64 sector}) and carries the data of writes and the segments of discard and
 * write-zeroes; the device-writable part holds the data of reads and get-id and ends with the one-byte status. The
 * guest is untrusted: a malformed request gets {@link #S_IOERR} (or {@link #S_UNSUPP} for an unknown type), never an
 * exception; only a failure of guest memory itself propagates (the ring is then broken).
 *
 * <p>One instance per queue worker (it owns a bounce buffer); the image is shared.
 */
public final class BlkRequests {

    /** Sector size of virtio-blk addressing, independent of {@code blk_size}. */
    public static final int SECTOR_SIZE = 512;
    /** {@code VIRTIO_BLK_T_IN}: read. */
    public static final int T_IN = 0;
    /** {@code VIRTIO_BLK_T_OUT}: write. */
    public static final int T_OUT = 1;
    /** {@code VIRTIO_BLK_T_FLUSH}. */
    public static final int T_FLUSH = 4;
    /** {@code VIRTIO_BLK_T_GET_ID}: 20-byte device id string. */
    public static final int T_GET_ID = 8;
    /** {@code VIRTIO_BLK_T_DISCARD}. */
    public static final int T_DISCARD = 11;
    /** {@code VIRTIO_BLK_T_WRITE_ZEROES}. */
    public static final int T_WRITE_ZEROES = 13;
    /** {@code VIRTIO_BLK_S_OK}. */
    public static final byte S_OK = 0;
    /** {@code VIRTIO_BLK_S_IOERR}. */
    public static final byte S_IOERR = 1;
    /** {@code VIRTIO_BLK_S_UNSUPP}. */
    public static final byte S_UNSUPP = 2;
    /** Length of the request header. */
    public static final int HEADER_BYTES = 16;
    /** Length of a discard / write-zeroes segment. */
    public static final int SEGMENT_BYTES = 16;
    /** Length of the get-id answer. */
    public static final int ID_BYTES = 20;
    /** {@code VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP}. */
    public static final int FLAG_UNMAP = 1;

    private static final Logger LOG = System.getLogger(BlkRequests.class.getName());
    private static final int BOUNCE_BYTES = 256 * 1024;

    /**
     * The two byte sequences of one request: what the driver gave (readable by the device) and the room for the
     * answer (writable by the device). A {@link io.vhost.api.device.DescriptorChain} is one.
     */
    public interface Buffers {
        /**
         * Returns the length of the device-readable sequence.
         *
         * @return bytes
         */
        long readableBytes();

        /**
         * Returns the length of the device-writable sequence.
         *
         * @return bytes
         */
        long writableBytes();

        /**
         * Fills {@code destination} from the readable sequence at {@code offset}.
         *
         * @param offset position in the readable sequence
         * @param destination where to copy; its remaining bytes are filled
         * @throws GuestMemoryException if guest memory fails
         */
        void read(long offset, ByteBuffer destination) throws GuestMemoryException;

        /**
         * Copies {@code source} into the writable sequence at {@code offset}.
         *
         * @param offset position in the writable sequence
         * @param source what to copy; its remaining bytes are consumed
         * @throws GuestMemoryException if guest memory fails
         */
        void write(long offset, ByteBuffer source) throws GuestMemoryException;
    }

    private final String name;
    private final BlkImage image;
    private final BlkConfig config;
    private final byte[] id;
    private final ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer segment = ByteBuffer.allocate(SEGMENT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer bounce = ByteBuffer.allocateDirect(BOUNCE_BYTES);
    private final ByteBuffer status = ByteBuffer.allocate(1);

    /**
     * Creates a request executor.
     *
     * @param image the backing image
     * @param config the configuration the guest sees (limits for discard and write-zeroes)
     * @param serial the device id returned by get-id; at most 20 bytes of it are used
     */
    public BlkRequests(BlkImage image, BlkConfig config, String serial) {
        this(image.path().getFileName() + " queue ?", image, config, serial);
    }

    /**
     * Creates a request executor whose log lines start with {@code name}.
     *
     * @param name the prefix of log lines, e.g. {@code "disk.img queue 0"}
     * @param image the backing image
     * @param config the configuration the guest sees (limits for discard and write-zeroes)
     * @param serial the device id returned by get-id; at most 20 bytes of it are used
     */
    public BlkRequests(String name, BlkImage image, BlkConfig config, String serial) {
        this.name = Objects.requireNonNull(name, "name");
        this.image = Objects.requireNonNull(image, "image");
        this.config = Objects.requireNonNull(config, "config");
        byte[] s = serial.getBytes(StandardCharsets.US_ASCII);
        this.id = new byte[ID_BYTES];
        System.arraycopy(s, 0, id, 0, Math.min(ID_BYTES, s.length));
    }

    /**
     * Executes one request and writes its status byte.
     *
     * @param request the request's buffers
     * @return how many bytes were written into the writable sequence (data plus status), for the used ring
     * @throws GuestMemoryException if guest memory fails (the ring is broken; no status can be written)
     */
    public long execute(Buffers request) throws GuestMemoryException {
        long writable = request.writableBytes();
        if (writable < 1) {
            LOG.log(Level.WARNING, name + ": virtio-blk request without room for the status byte (readable {0},"
                    + " writable 0); returned unanswered", request.readableBytes());
            return 0;
        }
        if (request.readableBytes() < HEADER_BYTES) {
            LOG.log(Level.WARNING, name + ": virtio-blk request header is {0} bytes, less than 16; answered IOERR",
                    request.readableBytes());
            return finish(request, writable, 0, S_IOERR);
        }
        header.clear();
        request.read(0, header);
        int type = header.getInt(0);
        long sector = header.getLong(8);
        return switch (type) {
            case T_IN -> read(request, sector, writable);
            case T_OUT -> write(request, sector, writable);
            case T_FLUSH -> flush(request, writable);
            case T_GET_ID -> getId(request, writable);
            case T_DISCARD, T_WRITE_ZEROES -> zeroOrDiscard(request, type, writable);
            default -> {
                LOG.log(Level.DEBUG, name + ": virtio-blk request type {0} is not supported; answered UNSUPP",
                        Integer.toUnsignedString(type));
                yield finish(request, writable, 0, S_UNSUPP);
            }
        };
    }

    private long read(Buffers request, long sector, long writable) throws GuestMemoryException {
        long length = writable - 1;
        if (!inRange("read", sector, length)) {
            return finish(request, writable, 0, S_IOERR);
        }
        long position = sector * SECTOR_SIZE;
        long done = 0;
        try {
            while (done < length) {
                int n = (int) Math.min(BOUNCE_BYTES, length - done);
                bounce.clear().limit(n);
                image.read(position + done, bounce);
                bounce.flip();
                request.write(done, bounce);
                done += n;
            }
        } catch (GuestMemoryException e) {
            throw e;
        } catch (IOException e) {
            LOG.log(Level.WARNING, name + ": virtio-blk read of " + length + " bytes at sector " + sector + " from "
                    + image.path() + " failed: " + e.getMessage() + "; answered IOERR");
            return finish(request, writable, done, S_IOERR);
        }
        return finish(request, writable, length, S_OK);
    }

    private long write(Buffers request, long sector, long writable) throws GuestMemoryException {
        long length = request.readableBytes() - HEADER_BYTES;
        if (image.readOnly()) {
            LOG.log(Level.DEBUG, name + ": virtio-blk write to read-only image {0}; answered IOERR", image.path());
            return finish(request, writable, 0, S_IOERR);
        }
        if (!inRange("write", sector, length)) {
            return finish(request, writable, 0, S_IOERR);
        }
        long position = sector * SECTOR_SIZE;
        try {
            long done = 0;
            while (done < length) {
                int n = (int) Math.min(BOUNCE_BYTES, length - done);
                bounce.clear().limit(n);
                request.read(HEADER_BYTES + done, bounce);
                bounce.flip();
                image.write(position + done, bounce);
                done += n;
            }
        } catch (GuestMemoryException e) {
            throw e;
        } catch (IOException e) {
            LOG.log(Level.WARNING, name + ": virtio-blk write of " + length + " bytes at sector " + sector + " to "
                    + image.path() + " failed: " + e.getMessage() + "; answered IOERR");
            return finish(request, writable, 0, S_IOERR);
        }
        return finish(request, writable, 0, S_OK);
    }

    private long flush(Buffers request, long writable) throws GuestMemoryException {
        if (image.readOnly()) {
            return finish(request, writable, 0, S_OK);
        }
        try {
            image.flush();
        } catch (IOException e) {
            LOG.log(Level.WARNING, name + ": virtio-blk flush of " + image.path() + " failed: " + e.getMessage()
                    + "; answered IOERR");
            return finish(request, writable, 0, S_IOERR);
        }
        return finish(request, writable, 0, S_OK);
    }

    private long getId(Buffers request, long writable) throws GuestMemoryException {
        int n = (int) Math.min(ID_BYTES, writable - 1);
        request.write(0, ByteBuffer.wrap(id, 0, n));
        return finish(request, writable, n, S_OK);
    }

    private long zeroOrDiscard(Buffers request, int type, long writable) throws GuestMemoryException {
        boolean discard = type == T_DISCARD;
        String what = discard ? "discard" : "write-zeroes";
        if (image.readOnly()) {
            return finish(request, writable, 0, S_IOERR);
        }
        long data = request.readableBytes() - HEADER_BYTES;
        long maxSegments = discard ? config.maxDiscardSegments() : config.maxWriteZeroesSegments();
        long maxSectors = Integer.toUnsignedLong(discard ? config.maxDiscardSectors() : config.maxWriteZeroesSectors());
        if (data == 0 || data % SEGMENT_BYTES != 0 || data / SEGMENT_BYTES > maxSegments) {
            LOG.log(Level.DEBUG, name + ": virtio-blk {0} with {1} data bytes: not 1..{2} segments of 16 bytes;"
                    + " answered IOERR", what, data, maxSegments);
            return finish(request, writable, 0, S_IOERR);
        }
        for (long off = HEADER_BYTES; off < request.readableBytes(); off += SEGMENT_BYTES) {
            segment.clear();
            request.read(off, segment);
            long sector = segment.getLong(0);
            long sectors = Integer.toUnsignedLong(segment.getInt(8));
            int flags = segment.getInt(12);
            if ((flags & ~FLAG_UNMAP) != 0 || (discard && flags != 0)) {
                LOG.log(Level.DEBUG, name + ": virtio-blk {0} segment flags 0x{1} not supported; answered UNSUPP",
                        what, Integer.toHexString(flags));
                return finish(request, writable, 0, S_UNSUPP);
            }
            if (sectors > maxSectors || !inRange(what, sector, sectors * SECTOR_SIZE)) {
                return finish(request, writable, 0, S_IOERR);
            }
        }
        try {
            for (long off = HEADER_BYTES; off < request.readableBytes(); off += SEGMENT_BYTES) {
                segment.clear();
                request.read(off, segment);
                // Discard may leave any content; zeroing keeps reads deterministic and needs no hole punching.
                image.writeZeroes(segment.getLong(0) * SECTOR_SIZE,
                        Integer.toUnsignedLong(segment.getInt(8)) * SECTOR_SIZE);
            }
        } catch (GuestMemoryException e) {
            throw e;
        } catch (IOException e) {
            LOG.log(Level.WARNING, name + ": virtio-blk " + what + " on " + image.path() + " failed: " + e.getMessage()
                    + "; answered IOERR");
            return finish(request, writable, 0, S_IOERR);
        }
        return finish(request, writable, 0, S_OK);
    }

    private boolean inRange(String what, long sector, long lengthBytes) {
        long capacity = image.capacitySectors();
        boolean ok = lengthBytes % SECTOR_SIZE == 0 && sector >= 0 && sector <= capacity
                && lengthBytes / SECTOR_SIZE <= capacity - sector;
        if (!ok) {
            LOG.log(Level.WARNING, name + ": virtio-blk {0} of {1} bytes at sector {2} is outside the {3} sectors of"
                    + " {4} or not whole sectors; answered IOERR", what, lengthBytes, Long.toUnsignedString(sector),
                    capacity, image.path());
        }
        return ok;
    }

    private long finish(Buffers request, long writable, long dataBytes, byte code) throws GuestMemoryException {
        status.clear();
        status.put(0, code);
        request.write(writable - 1, status);
        return dataBytes + 1;
    }
}
