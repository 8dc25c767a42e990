package io.vhost.impl.sys;

import java.util.Locale;
import java.util.Map;

/**
 * The kernel's numbers for the system calls {@link Libc#syscall} makes directly, per architecture (from the kernel's
 * {@code unistd} tables; {@code StructsTest} checks this machine's against gcc's {@code SYS_} constants, and
 * {@code SyscallTest} the aarch64 ones against {@code asm-generic/unistd.h}, which arm64 uses). aarch64 has no
 * {@code poll} or {@code epoll_wait} (only their {@code p} forms), so those keep the C library's wrapper there.
 */
final class SyscallNumbers {

    /** No number: call the C library's wrapper. */
    static final long UNKNOWN = -1;

    private static final Map<String, Long> X86_64 = Map.of("read", 0L, "write", 1L, "close", 3L, "poll", 7L,
            "sendto", 44L, "sendmsg", 46L, "recvmsg", 47L, "epoll_wait", 232L, "close_range", 436L);
    private static final Map<String, Long> AARCH64 = Map.of("close", 57L, "read", 63L, "write", 64L,
            "sendto", 206L, "sendmsg", 211L, "recvmsg", 212L, "close_range", 436L);
    private static final Map<String, Long> CURRENT = forArch(System.getProperty("os.arch", ""));

    private SyscallNumbers() {
    }

    /**
     * Returns this architecture's number for a system call.
     *
     * @param name the call
     * @return its number, or {@link #UNKNOWN}
     */
    static long of(String name) {
        return CURRENT.getOrDefault(name, UNKNOWN);
    }

    static Map<String, Long> forArch(String arch) {
        return switch (arch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64" -> X86_64;
            case "aarch64" -> AARCH64;
            default -> Map.of();
        };
    }
}
