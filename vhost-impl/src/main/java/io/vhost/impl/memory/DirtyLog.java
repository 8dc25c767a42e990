package io.vhost.impl.memory;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The migration dirty-page bitmap shared with the front-end ({@code VHOST_USER_SET_LOG_BASE}): one bit per 4 KiB
 * page, page {@code p} at bit {@code p % 8} of byte {@code p / 8} (vhost-user §Migration).
 *
 * <p>Bits are set with an atomic OR on the aligned 64-bit word holding them, since the front-end reads and clears
 * the log concurrently. Marking allocates nothing. Thread-safe. Does not own the segment.
 */
public final class DirtyLog {

    /** Size of a logged page, {@code VHOST_LOG_PAGE}. */
    public static final long PAGE_SIZE = 0x1000;

    private static final VarHandle WORD = ValueLayout.JAVA_LONG.varHandle();
    private static final boolean BIG_ENDIAN = ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN;

    private final MemorySegment bitmap;
    private final long sizeBytes;

    /**
     * Wraps a mapped log.
     *
     * @param mapping the mapped log bytes, 8-byte aligned; it may be longer than {@code sizeBytes} (page rounding)
     * @param sizeBytes the log size sent with {@code SET_LOG_BASE}; pages beyond {@code sizeBytes * 8} are rejected
     * @throws IllegalArgumentException if the mapping is misaligned or shorter than {@code sizeBytes} rounded up to 8
     */
    public DirtyLog(MemorySegment mapping, long sizeBytes) {
        if (sizeBytes <= 0) {
            throw new IllegalArgumentException("dirty log size " + sizeBytes + " must be positive");
        }
        if (mapping.address() % 8 != 0) {
            throw new IllegalArgumentException("dirty log mapping at " + Hex.of(mapping.address())
                    + " is not 8-byte aligned");
        }
        long rounded = (sizeBytes + 7) & ~7L;
        if (mapping.byteSize() < rounded) {
            throw new IllegalArgumentException("dirty log mapping of " + mapping.byteSize()
                    + " bytes is shorter than the log size " + sizeBytes + " rounded up to 8 bytes");
        }
        this.bitmap = mapping;
        this.sizeBytes = sizeBytes;
    }

    /**
     * Returns the log size in bytes.
     *
     * @return the size sent with {@code SET_LOG_BASE}
     */
    public long sizeBytes() {
        return sizeBytes;
    }

    /**
     * Marks every page touched by {@code [address, address + length)} as dirty.
     *
     * @param address the first written guest address (or the used ring's log address)
     * @param length the number of bytes written; 0 marks nothing
     * @throws GuestMemoryException if a page lies beyond the log or the range wraps around; nothing is marked then
     */
    public void mark(long address, long length) throws GuestMemoryException {
        if (length == 0) {
            return;
        }
        long last = address + length - 1;
        if (length < 0 || Long.compareUnsigned(last, address) < 0) {
            throw new GuestMemoryException("dirty log: address " + Hex.of(address) + " length "
                    + Long.toUnsignedString(length) + " wraps around");
        }
        long firstPage = Long.divideUnsigned(address, PAGE_SIZE);
        long lastPage = Long.divideUnsigned(last, PAGE_SIZE);
        if (Long.compareUnsigned(lastPage >>> 3, sizeBytes) >= 0) {
            throw new GuestMemoryException("dirty log: address " + Hex.of(address) + " length " + length
                    + " reaches page " + Hex.of(lastPage) + ", beyond the log of " + sizeBytes + " bytes (covers up to "
                    + Hex.of(sizeBytes * 8 * PAGE_SIZE - 1) + "); page not logged");
        }
        try {
            for (long page = firstPage; Long.compareUnsigned(page, lastPage) <= 0; ) {
                long wordIndex = page >>> 6;
                long mask = 0;
                long end = Math.min(lastPage, (wordIndex << 6) | 63);
                for (long p = page; p <= end; p++) {
                    mask |= bitInWord(p);
                }
                WORD.getAndBitwiseOr(bitmap, wordIndex << 3, mask);
                page = end + 1;
            }
        } catch (IllegalStateException e) {
            throw new GuestMemoryException("dirty log at " + Hex.of(address) + " is no longer mapped", e);
        }
    }

    /**
     * Tells whether a page is marked.
     *
     * @param address any address in the page
     * @return {@code true} if the page's bit is set
     * @throws IndexOutOfBoundsException if the page is beyond the log
     */
    public boolean isDirty(long address) {
        long page = Long.divideUnsigned(address, PAGE_SIZE);
        if (Long.compareUnsigned(page >>> 3, sizeBytes) >= 0) {
            throw new IndexOutOfBoundsException("page " + page + " beyond dirty log of " + sizeBytes + " bytes");
        }
        return (bitmap.get(ValueLayout.JAVA_BYTE, page >>> 3) & (1 << (page & 7))) != 0;
    }

    private static long bitInWord(long page) {
        int byteInWord = (int) ((page >>> 3) & 7);
        int shift = (BIG_ENDIAN ? 7 - byteInWord : byteInWord) * 8 + (int) (page & 7);
        return 1L << shift;
    }
}
