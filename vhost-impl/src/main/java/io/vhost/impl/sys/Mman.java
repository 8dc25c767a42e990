package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.vhost.api.error.NativeCallException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;

/** Memory files and mappings: {@code memfd_create}, seals, {@code mmap}, {@code munmap}. None of these block. */
public final class Mman {

    /** {@code PROT_READ}. */
    public static final int PROT_READ = 1;
    /** {@code PROT_WRITE}. */
    public static final int PROT_WRITE = 2;
    /** {@code MAP_SHARED}. */
    public static final int MAP_SHARED = 1;
    /** {@code MFD_CLOEXEC}. */
    public static final int MFD_CLOEXEC = 1;
    /** {@code MFD_ALLOW_SEALING}. */
    public static final int MFD_ALLOW_SEALING = 2;
    /** {@code F_SEAL_SEAL}. */
    public static final int F_SEAL_SEAL = 1;
    /** {@code F_SEAL_SHRINK}. */
    public static final int F_SEAL_SHRINK = 2;
    /** {@code F_SEAL_GROW}. */
    public static final int F_SEAL_GROW = 4;
    /** {@code F_SEAL_WRITE}. */
    public static final int F_SEAL_WRITE = 8;

    private static final System.Logger LOG = System.getLogger(Mman.class.getName());
    private static final MethodHandle MEMFD_CREATE =
            Libc.downcall("memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle MMAP = Libc.downcall("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP =
            Libc.downcall("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));

    private Mman() {
    }

    /**
     * Creates an anonymous memory file ({@code MFD_CLOEXEC | MFD_ALLOW_SEALING}) of the given size.
     *
     * @param name a debugging name (shown in /proc/self/fd as {@code /memfd:name})
     * @param sizeBytes the initial size
     * @return the owned descriptor
     * @throws NativeCallException if memfd_create or ftruncate fails
     */
    public static OwnedFd memfd(String name, long sizeBytes) throws NativeCallException {
        CallState cs = CallState.current();
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cname = arena.allocateFrom(name, StandardCharsets.UTF_8);
            fd = (int) MEMFD_CREATE.invokeExact(cs.errnoSegment, cname, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (fd < 0) {
            throw Errno.failure("memfd_create", "(name=" + name + ")", cs.errno());
        }
        OwnedFd owned = OwnedFd.of(fd, "memfd " + name);
        try {
            Unistd.ftruncate(fd, sizeBytes);
        } catch (NativeCallException | RuntimeException e) {
            owned.close();
            throw e;
        }
        return owned;
    }

    /**
     * Adds seals to a memfd ({@code fcntl(F_ADD_SEALS)}).
     *
     * @param fd the memfd
     * @param seals {@link #F_SEAL_SHRINK} and friends
     * @throws NativeCallException if refused (EPERM once sealed with {@link #F_SEAL_SEAL})
     */
    public static void addSeals(int fd, int seals) throws NativeCallException {
        Unistd.fcntl(fd, Unistd.F_ADD_SEALS, seals);
    }

    /**
     * Reads a memfd's seals ({@code fcntl(F_GET_SEALS)}).
     *
     * @param fd the memfd
     * @return the seal bits
     * @throws NativeCallException if it fails
     */
    public static int seals(int fd) throws NativeCallException {
        return Unistd.fcntl(fd, Unistd.F_GET_SEALS, 0);
    }

    /**
     * Maps a file shared, read-write or read-only.
     *
     * @param fd the file (need not stay open after this returns)
     * @param offset file offset, page-aligned
     * @param sizeBytes length
     * @param writable whether to add {@code PROT_WRITE}
     * @param role what the mapping is for
     * @return the owner of the mapping
     * @throws NativeCallException if mmap fails
     */
    public static Mapping map(int fd, long offset, long sizeBytes, boolean writable, String role)
            throws NativeCallException {
        if (sizeBytes <= 0) {
            throw new IllegalArgumentException("mapping size must be positive, got " + sizeBytes + " for " + role);
        }
        CallState cs = CallState.current();
        MemorySegment address;
        try {
            address = (MemorySegment) MMAP.invokeExact(cs.errnoSegment, MemorySegment.NULL, sizeBytes,
                    PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, offset);
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (address.address() == -1L) {
            throw Errno.failure("mmap", "(fd=" + fd + ", offset=" + offset + ", size=" + sizeBytes + ") for " + role,
                    cs.errno());
        }
        return new Mapping(address, sizeBytes, role);
    }

    static void munmapQuietly(MemorySegment segment) {
        CallState cs = CallState.current();
        int r;
        try {
            r = (int) MUNMAP.invokeExact(cs.errnoSegment, MemorySegment.ofAddress(segment.address()),
                    segment.byteSize());
        } catch (Throwable t) {
            throw Fail.unexpected(t);
        }
        if (r < 0) {
            LOG.log(System.Logger.Level.ERROR, Errno.failure("munmap", "(address=0x" + Long.toHexString(
                    segment.address()) + ", size=" + segment.byteSize() + ")", cs.errno()).getMessage());
        }
    }
}
