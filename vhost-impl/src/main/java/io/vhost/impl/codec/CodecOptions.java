package io.vhost.impl.codec;

/**
 * Session facts the codec needs to parse bytes: whether memory regions carry Xen fields (XEN_MMAP negotiated), and
 * the device's config space size that bounds GET_CONFIG/SET_CONFIG offset + size.
 *
 * @param xenMmap {@code true} when XEN_MMAP was negotiated (regions are 40 bytes instead of 32)
 * @param maxConfigBytes the device config space size, 0..4096 (256 for most devices)
 */
public record CodecOptions(boolean xenMmap, int maxConfigBytes) {

    /** No Xen, config bounded to 4096 bytes (the largest this library accepts). */
    public static final CodecOptions DEFAULT = new CodecOptions(false, 4096);

    /** Checks the config bound. */
    public CodecOptions {
        if (maxConfigBytes < 0 || maxConfigBytes > 4096) {
            throw new IllegalArgumentException("maxConfigBytes " + maxConfigBytes + " is outside 0..4096");
        }
    }
}
