package io.vhost.impl.metrics;

import io.vhost.api.message.BackendRequest;
import io.vhost.api.message.FrontendRequest;

/**
 * What a vhost-user front-end reports for metrics: one call per request and per back-end request served, and the
 * connection events. Implementations must be thread-safe and must not block. {@link #NONE} ignores everything;
 * {@link FrontendMetrics} records Micrometer meters.
 */
public interface FrontendMetricsListener {

    /** A listener that records nothing. */
    FrontendMetricsListener NONE = new FrontendMetricsListener() {
    };

    /**
     * A front-end request finished (reply received, or sent when it has no reply).
     *
     * @param request the request
     * @param nanos time from send to reply
     * @param ok {@code false} if it failed (rejected, malformed reply, disconnect)
     */
    default void requestCompleted(FrontendRequest request, long nanos, boolean ok) {
    }

    /**
     * A back-end request was served on the back-end channel.
     *
     * @param request the request
     * @param ok {@code false} if the handler refused it
     */
    default void backendRequestServed(BackendRequest request, boolean ok) {
    }

    /** The back-end went away. */
    default void backendLost() {
    }

    /** The set-up was replayed on a new connection. */
    default void reconnected() {
    }
}
