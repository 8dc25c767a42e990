package io.vhost.api.message;

import io.vhost.api.Fd;
import java.util.Objects;
import java.util.Optional;

/** Syntax checks shared by the payload records; each failure names the field, the value and the limit. */
final class Check {

    private Check() {
    }

    static long u32(String field, long value) {
        if (value < 0 || value > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException(field + " " + value + " is not a u32 (0.." + 0xFFFF_FFFFL + ")");
        }
        return value;
    }

    static int u16(String field, int value) {
        if (value < 0 || value > 0xFFFF) {
            throw new IllegalArgumentException(field + " " + value + " is not a u16 (0..65535)");
        }
        return value;
    }

    static int u8(String field, int value) {
        if (value < 0 || value > 0xFF) {
            throw new IllegalArgumentException(field + " " + value + " is not a u8 (0..255)");
        }
        return value;
    }

    static void noWrap(String what, String startName, long start, long size) {
        long end = start + size;
        if (Long.compareUnsigned(end, start) < 0) {
            throw new IllegalArgumentException(what + ": " + startName + " 0x" + Long.toHexString(start) + " + size 0x"
                    + Long.toHexString(size) + " wraps past 2^64");
        }
    }

    /** A message with a vring fd body gives its fd as an Optional, present exactly when the no-fd flag is clear. */
    static void noFdFlag(boolean noFd, Optional<Fd> fd) {
        Objects.requireNonNull(fd, "fd");
        if (noFd == fd.isPresent()) {
            throw new IllegalArgumentException("no-fd flag " + noFd + " but fd "
                    + (fd.isPresent() ? "present" : "absent"));
        }
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}
