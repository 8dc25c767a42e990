package io.vhost.devices.blk;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The virtio-blk configuration space ({@code struct virtio_blk_config}, virtio 1.x "Device configuration layout" of
 * the block device), little-endian. Only the fields this device fills are parameters; the others are zero.
 *
 * <pre>
 *  0 le64 capacity (512-byte sectors)        32 u8   writeback
 *  8 le32 size_max                           34 le16 num_queues
 * 12 le32 seg_max                            36 le32 max_discard_sectors
 * 16 geometry (le16 cyl, u8 heads, u8 sect)  40 le32 max_discard_seg
 * 20 le32 blk_size                           44 le32 discard_sector_alignment
 * 24 topology (u8, u8, le16, le32)           48 le32 max_write_zeroes_sectors
 *                                            52 le32 max_write_zeroes_seg
 *                                            56 u8   write_zeroes_may_unmap
 * </pre>
 *
 * @param capacitySectors the disk size in 512-byte sectors
 * @param segMax the maximum number of data segments in one request
 * @param blkSize the logical block size in bytes
 * @param numQueues the number of request queues
 * @param maxDiscardSectors the maximum sectors in one discard segment
 * @param maxDiscardSegments the maximum segments in one discard request
 * @param maxWriteZeroesSectors the maximum sectors in one write-zeroes segment
 * @param maxWriteZeroesSegments the maximum segments in one write-zeroes request
 */
public record BlkConfig(long capacitySectors, int segMax, int blkSize, int numQueues, int maxDiscardSectors,
                        int maxDiscardSegments, int maxWriteZeroesSectors, int maxWriteZeroesSegments) {

    /** Size of the encoded configuration space: up to and including {@code max_secure_erase} padding (60 bytes). */
    public static final int SIZE = 60;

    /** Offset of {@code capacity}. */
    public static final int CAPACITY = 0;
    /** Offset of {@code seg_max}. */
    public static final int SEG_MAX = 12;
    /** Offset of {@code blk_size}. */
    public static final int BLK_SIZE = 20;
    /** Offset of {@code writeback}. */
    public static final int WRITEBACK = 32;
    /** Offset of {@code num_queues}. */
    public static final int NUM_QUEUES = 34;
    /** Offset of {@code max_discard_sectors}. */
    public static final int MAX_DISCARD_SECTORS = 36;
    /** Offset of {@code max_discard_seg}. */
    public static final int MAX_DISCARD_SEG = 40;
    /** Offset of {@code discard_sector_alignment}. */
    public static final int DISCARD_SECTOR_ALIGNMENT = 44;
    /** Offset of {@code max_write_zeroes_sectors}. */
    public static final int MAX_WRITE_ZEROES_SECTORS = 48;
    /** Offset of {@code max_write_zeroes_seg}. */
    public static final int MAX_WRITE_ZEROES_SEG = 52;
    /** Offset of {@code write_zeroes_may_unmap}. */
    public static final int WRITE_ZEROES_MAY_UNMAP = 56;

    /**
     * Encodes the configuration space.
     *
     * @return {@value #SIZE} bytes, little-endian
     */
    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(CAPACITY, capacitySectors);
        b.putInt(SEG_MAX, segMax);
        b.putInt(BLK_SIZE, blkSize);
        b.putShort(NUM_QUEUES, (short) numQueues);
        b.putInt(MAX_DISCARD_SECTORS, maxDiscardSectors);
        b.putInt(MAX_DISCARD_SEG, maxDiscardSegments);
        b.putInt(DISCARD_SECTOR_ALIGNMENT, blkSize / BlkRequests.SECTOR_SIZE);
        b.putInt(MAX_WRITE_ZEROES_SECTORS, maxWriteZeroesSectors);
        b.putInt(MAX_WRITE_ZEROES_SEG, maxWriteZeroesSegments);
        return b.array();
    }
}
