package io.vhost.impl.memory;

/** Formats addresses for error messages. Internal. */
final class Hex {
    private Hex() {}

    static String of(long value) {
        return "0x" + Long.toHexString(value);
    }
}
