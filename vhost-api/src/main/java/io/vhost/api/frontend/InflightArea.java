package io.vhost.api.frontend;

import io.vhost.api.Fd;
import io.vhost.api.message.InflightRegion;
import java.util.Objects;

/**
 * The inflight tracking area a back-end returns for {@code GET_INFLIGHT_FD}: its description and the memfd holding it.
 * The front-end keeps it across back-end restarts and hands it back with {@code SET_INFLIGHT_FD}.
 *
 * <p>The caller owns {@code fd} and closes it (this record's {@link #close()}).
 *
 * @param region size, offset, queue count and queue size of the area
 * @param fd the memfd the back-end sent
 */
public record InflightArea(InflightRegion region, Fd fd) implements AutoCloseable {

    /** Checks both parts are given. */
    public InflightArea {
        Objects.requireNonNull(region, "region");
        Objects.requireNonNull(fd, "fd");
    }

    /** Closes the fd. */
    @Override
    public void close() {
        fd.close();
    }
}
