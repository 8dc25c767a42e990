package io.vhost.api.frontend;

import io.vhost.api.Fd;
import io.vhost.api.message.MemoryRegion;
import java.util.Objects;

/**
 * One guest memory region as the front-end shares it: its description and the fd backing it (a memfd, a hugetlbfs
 * file). Used by {@code SET_MEM_TABLE} and {@code ADD_MEM_REG}.
 *
 * <p>The caller keeps ownership of {@code fd}: the front-end sends a copy over the socket and, for replay after a
 * reconnect, keeps its own duplicate, which it closes when the region is replaced or the front-end is closed.
 *
 * @param region the region description (guest address, size, front-end user address, offset in the fd)
 * @param fd the fd the back-end maps
 */
public record SharedRegion(MemoryRegion region, Fd fd) {

    /** Checks both parts are given. */
    public SharedRegion {
        Objects.requireNonNull(region, "region");
        Objects.requireNonNull(fd, "fd");
    }
}
