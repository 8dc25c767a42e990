package io.vhost.api.message;

/**
 * The log description of {@code SET_LOG_BASE}: size and offset of the dirty bitmap in the supplied fd.
 *
 * @param sizeBytes size of the log area, non-zero
 * @param offset offset where the log starts in the fd
 */
public record LogRegion(long sizeBytes, long offset) {
    /** Checks size != 0 and that offset + size does not wrap. */
    public LogRegion {
        if (sizeBytes == 0) {
            throw new IllegalArgumentException("log size 0");
        }
        Check.noWrap("log", "offset", offset, sizeBytes);
    }
}
