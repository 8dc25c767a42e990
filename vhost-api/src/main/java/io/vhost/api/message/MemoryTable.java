package io.vhost.api.message;

import java.util.List;

/**
 * The multiple memory regions description of {@code SET_MEM_TABLE} (and its postcopy reply): num_regions u32,
 * padding u32, then the regions.
 *
 * @param regions 1 to {@link #MAX_REGIONS} regions, all with or all without Xen fields
 */
public record MemoryTable(List<MemoryRegion> regions) {

    /** The most regions one table holds ({@code VHOST_MEMORY_BASELINE_NREGIONS}). */
    public static final int MAX_REGIONS = 8;

    /** Copies the list and checks 1..8 regions with a uniform Xen layout. */
    public MemoryTable {
        regions = List.copyOf(regions);
        if (regions.isEmpty() || regions.size() > MAX_REGIONS) {
            throw new IllegalArgumentException("memory table num_regions " + regions.size()
                    + " is outside 1.." + MAX_REGIONS);
        }
        boolean xen = regions.getFirst().xen().isPresent();
        for (int i = 1; i < regions.size(); i++) {
            if (regions.get(i).xen().isPresent() != xen) {
                throw new IllegalArgumentException("memory table mixes regions with and without Xen fields");
            }
        }
    }
}
