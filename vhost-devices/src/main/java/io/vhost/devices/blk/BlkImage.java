package io.vhost.devices.blk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A raw disk image file: positional reads and writes, flush, zeroing. The capacity is the file size rounded down to
 * whole 512-byte sectors, fixed at open.
 *
 * <p>Thread-safe: positional I/O on one {@link FileChannel} from several queue workers. A {@code FileChannel} is
 * closed by the JDK when a thread is interrupted during I/O; a session that ends interrupts its workers, so the
 * image reopens its channel (once per close) and the next session goes on with it. The interrupted request itself
 * fails; requests of other threads that saw the close are retried on the new channel.
 */
public final class BlkImage implements AutoCloseable {

    private static final int ZERO_CHUNK = 1 << 20;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();

    private final Path path;
    private final Set<StandardOpenOption> options;
    private final ReentrantLock reopenLock = new ReentrantLock();
    private volatile FileChannel channel;
    private volatile boolean closed;
    private final boolean readOnly;
    private final long capacityBytes;

    /** One positional operation on the channel. */
    @FunctionalInterface
    private interface Io {
        int run(FileChannel ch) throws IOException;
    }

    private BlkImage(Path path, Set<StandardOpenOption> options, FileChannel channel, boolean readOnly,
                     long sizeBytes) {
        this.path = path;
        this.options = options;
        this.channel = channel;
        this.readOnly = readOnly;
        this.capacityBytes = sizeBytes - sizeBytes % BlkRequests.SECTOR_SIZE;
    }

    /**
     * Opens an existing image.
     *
     * @param path the image file
     * @param readOnly open without write access; writes are then refused with {@code VIRTIO_BLK_S_IOERR}
     * @return the open image
     * @throws IOException if the file does not exist ("image file X does not exist; create it with --create SIZE"),
     *     is not a regular file, is smaller than one sector, or cannot be opened
     */
    public static BlkImage open(Path path, boolean readOnly) throws IOException {
        Objects.requireNonNull(path, "path");
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null,
                    "image file does not exist; create it first (for example with --create 128M) or give the path"
                            + " of an existing raw image");
        }
        if (!Files.isRegularFile(path)) {
            throw new IOException("image " + path + " is not a regular file; only raw image files are supported");
        }
        Set<StandardOpenOption> options = readOnly ? EnumSet.of(StandardOpenOption.READ)
                : EnumSet.of(StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileChannel channel = FileChannel.open(path, options);
        try {
            long size = channel.size();
            if (size < BlkRequests.SECTOR_SIZE) {
                throw new IOException("image " + path + " has " + size + " bytes, less than one 512-byte sector");
            }
            return new BlkImage(path, options, channel, readOnly, size);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /**
     * Creates a new sparse image of the given size.
     *
     * @param path the file to create; must not exist
     * @param sizeBytes the size, a positive multiple of 512
     * @throws IOException if the file exists or cannot be created
     */
    public static void create(Path path, long sizeBytes) throws IOException {
        if (sizeBytes <= 0 || sizeBytes % BlkRequests.SECTOR_SIZE != 0) {
            throw new IllegalArgumentException("image size " + sizeBytes
                    + " must be a positive multiple of 512 bytes");
        }
        if (Files.exists(path)) {
            throw new FileAlreadyExistsException(path.toString(), null, "refusing to overwrite an existing image");
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.truncate(0);
            ch.write(ByteBuffer.allocate(1), sizeBytes - 1);
        }
    }

    /**
     * Returns the image file.
     *
     * @return the path
     */
    public Path path() {
        return path;
    }

    /**
     * Tells whether the image was opened read-only.
     *
     * @return {@code true} if writes are refused
     */
    public boolean readOnly() {
        return readOnly;
    }

    /**
     * Returns the capacity in bytes (whole sectors).
     *
     * @return the capacity
     */
    public long capacityBytes() {
        return capacityBytes;
    }

    /**
     * Returns the capacity in 512-byte sectors.
     *
     * @return the capacity
     */
    public long capacitySectors() {
        return capacityBytes / BlkRequests.SECTOR_SIZE;
    }

    /**
     * Fills {@code destination}'s remaining bytes from the image at {@code position}.
     *
     * @param position byte offset in the image
     * @param destination where to read
     * @throws IOException on an I/O error or end of file
     */
    public void read(long position, ByteBuffer destination) throws IOException {
        long at = position;
        while (destination.hasRemaining()) {
            long from = at;
            int n = io(ch -> ch.read(destination, from));
            if (n < 0) {
                throw new IOException("unexpected end of image " + path + " at byte " + at);
            }
            at += n;
        }
    }

    /**
     * Writes {@code source}'s remaining bytes to the image at {@code position}.
     *
     * @param position byte offset in the image
     * @param source what to write
     * @throws IOException on an I/O error
     */
    public void write(long position, ByteBuffer source) throws IOException {
        long at = position;
        while (source.hasRemaining()) {
            long from = at;
            at += io(ch -> ch.write(source, from));
        }
    }

    /**
     * Writes {@code length} zero bytes at {@code position}.
     *
     * @param position byte offset in the image
     * @param length how many bytes
     * @throws IOException on an I/O error
     */
    public void writeZeroes(long position, long length) throws IOException {
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(ZERO_CHUNK, length - done);
            write(position + done, ZEROS.duplicate().limit(n));
            done += n;
        }
    }

    /**
     * Makes written data durable ({@code fdatasync}).
     *
     * @throws IOException on an I/O error
     */
    public void flush() throws IOException {
        io(ch -> {
            ch.force(false);
            return 0;
        });
    }

    private int io(Io op) throws IOException {
        while (true) {
            FileChannel ch = channel;
            try {
                return op.run(ch);
            } catch (ClosedByInterruptException e) {
                reopen(ch);
                throw e; // this thread was interrupted: its request fails, the image stays usable
            } catch (ClosedChannelException e) {
                if (closed) {
                    throw e;
                }
                reopen(ch); // another thread's interrupt closed the channel under us: retry on a new one
            }
        }
    }

    private void reopen(FileChannel broken) throws IOException {
        reopenLock.lock();
        try {
            if (closed || channel != broken) {
                return;
            }
            channel = FileChannel.open(path, options);
        } finally {
            reopenLock.unlock();
        }
    }

    /**
     * Tells whether the image was closed.
     *
     * @return {@code true} after {@link #close()}
     */
    public boolean isClosed() {
        return closed;
    }

    @Override
    public void close() throws IOException {
        reopenLock.lock();
        try {
            closed = true;
            channel.close();
        } finally {
            reopenLock.unlock();
        }
    }

    @Override
    public String toString() {
        return "BlkImage[" + path + ", " + capacitySectors() + " sectors" + (readOnly ? ", read-only" : "") + "]";
    }
}
