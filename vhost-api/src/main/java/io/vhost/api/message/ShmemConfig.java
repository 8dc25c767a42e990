package io.vhost.api.message;

import java.util.List;

/**
 * Provisional: {@code VhostUserShMemConfig}, the {@code GET_SHMEM_CONFIG} reply: num regions u32, padding u32, and
 * 256 u64 region sizes indexed by shmid.
 *
 * @param numRegions the number of valid (non-zero size) regions
 * @param sizes exactly {@link #SLOTS} sizes, in bytes
 */
public record ShmemConfig(long numRegions, List<Long> sizes) {

    /** The number of size slots. */
    public static final int SLOTS = 256;

    /** Copies the sizes and checks their count and that numRegions equals the count of non-zero sizes. */
    public ShmemConfig {
        Check.u32("shmem num_regions", numRegions);
        sizes = List.copyOf(sizes);
        if (sizes.size() != SLOTS) {
            throw new IllegalArgumentException("shmem config has " + sizes.size() + " sizes, expected " + SLOTS);
        }
        long nonZero = sizes.stream().filter(s -> s != 0).count();
        if (nonZero != numRegions) {
            throw new IllegalArgumentException("shmem num_regions " + numRegions + " but " + nonZero
                    + " sizes are non-zero");
        }
    }
}
