package io.vhost.impl.codec;

import java.util.HexFormat;

/** Hex helpers for golden bytes; spaces in hex strings are for readability and ignored. */
final class Hex {
    private Hex() {
    }

    static byte[] bytes(String hex) {
        return HexFormat.of().parseHex(hex.replace(" ", ""));
    }

    static String of(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    /** A header in little-endian hex: request, flags, size (x86-64 native order). */
    static String header(int request, int flags, int size) {
        return le32(request) + le32(flags) + le32(size);
    }

    static String le32(int v) {
        return String.format("%02x%02x%02x%02x", v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    }
}
