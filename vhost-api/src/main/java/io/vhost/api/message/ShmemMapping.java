package io.vhost.api.message;

/**
 * Provisional: {@code VhostUserMMap}, the payload of {@code BACKEND_SHMEM_MAP} and {@code BACKEND_SHMEM_UNMAP}: shmid
 * u8, 7 bytes of zero padding, fd offset, shm offset, length and flags (u64 each).
 *
 * @param shmid the shared memory region id, 0..255
 * @param fdOffset offset of the area in the fd
 * @param shmOffset offset in the shared memory region
 * @param lengthBytes length of the mapping, non-zero
 * @param flags {@link #WRITABLE} or 0
 */
public record ShmemMapping(int shmid, long fdOffset, long shmOffset, long lengthBytes, long flags) {

    /** Flag bit 0: map read-write (else read-only). */
    public static final long WRITABLE = 0x1;

    /** Checks ranges, known flags, non-zero length and no wrap of either range. */
    public ShmemMapping {
        Check.u8("shmid", shmid);
        if ((flags & ~WRITABLE) != 0) {
            throw new IllegalArgumentException("shmem map flags " + Check.hex(flags) + " has unknown bits (known: 0x1)");
        }
        if (lengthBytes == 0) {
            throw new IllegalArgumentException("shmem map len 0");
        }
        Check.noWrap("shmem map", "fd offset", fdOffset, lengthBytes);
        Check.noWrap("shmem map", "shm offset", shmOffset, lengthBytes);
    }
}
