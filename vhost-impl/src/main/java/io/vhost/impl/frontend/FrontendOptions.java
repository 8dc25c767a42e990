package io.vhost.impl.frontend;

import io.vhost.impl.metrics.MetricsFactory;
import java.time.Duration;
import java.util.Objects;

/**
 * Settings of a vhost-user front-end connection. Start from {@link #defaults()} and change what you need.
 *
 * @param connectTimeout client mode: how long to retry connecting (backoff 10 ms doubling to 1 s)
 * @param replyTimeout how long a request waits for its reply before the connection is declared broken
 * @param metrics creates each connection's {@link io.vhost.impl.metrics.SessionMetrics} (role {@code "frontend"};
 *     {@link MetricsFactory#NONE} by default, {@link io.vhost.impl.metrics.MicrometerMetrics} for Micrometer). On a
 *     front-end session {@code handled} reports each front-end request when its reply arrived (or when it was sent,
 *     if it has none) with the round-trip time, and each back-end channel request served; {@code error} reports
 *     {@code backend-lost}, {@code protocol} and {@code reply-timeout}
 * @param idleMonitor {@code true} (default): each connection's monitor notices at once a back-end that closes the
 *     connection while no request is in flight, and within one reply timeout bytes it sent unasked, and reports
 *     either to the reconnect listeners; {@code false}: the monitor only bounds reply waits and a lost back-end is
 *     noticed by the next request. Either way, with the FFM transport the calling thread reads its own reply (no
 *     thread hand-off); with junixsocket a reader thread receives replies
 * @param replaySetup {@code true} (default): the front-end records what it sent, with a duplicate of every fd, and
 *     {@link io.vhost.api.frontend.VhostUserFrontend#reconnect()} sends it all again to the new back-end; {@code false}:
 *     nothing is recorded (no fd duplicates, no {@code dup}/{@code close} per fd-carrying request) and after a
 *     reconnect the caller sends its set-up again itself, as QEMU does
 */
public record FrontendOptions(Duration connectTimeout, Duration replyTimeout, MetricsFactory metrics,
        boolean idleMonitor, boolean replaySetup) {

    /** Checks the values. */
    public FrontendOptions {
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(replyTimeout, "replyTimeout");
        Objects.requireNonNull(metrics, "metrics");
        if (connectTimeout.isNegative()) {
            throw new IllegalArgumentException("connectTimeout " + connectTimeout + " is negative");
        }
        if (replyTimeout.isNegative() || replyTimeout.isZero()) {
            throw new IllegalArgumentException("replyTimeout " + replyTimeout + " must be positive");
        }
    }

    /**
     * Returns the defaults: connect retries for 10 s, replies within 30 s, no metrics.
     *
     * @return the default options
     */
    public static FrontendOptions defaults() {
        return new FrontendOptions(Duration.ofSeconds(10), Duration.ofSeconds(30), MetricsFactory.NONE,
                true, true);
    }

    /**
     * Returns a copy with another connect timeout.
     *
     * @param timeout how long to retry connecting
     * @return the new options
     */
    public FrontendOptions withConnectTimeout(Duration timeout) {
        return new FrontendOptions(timeout, replyTimeout, metrics, idleMonitor, replaySetup);
    }

    /**
     * Returns a copy with another reply timeout.
     *
     * @param timeout how long to wait for a reply
     * @return the new options
     */
    public FrontendOptions withReplyTimeout(Duration timeout) {
        return new FrontendOptions(connectTimeout, timeout, metrics, idleMonitor, replaySetup);
    }

    /**
     * Returns a copy with a metrics factory (for example {@code MicrometerMetrics.of(registry)}).
     *
     * @param listener the factory
     * @return the new options
     */
    public FrontendOptions withMetrics(MetricsFactory listener) {
        return new FrontendOptions(connectTimeout, replyTimeout, listener, idleMonitor, replaySetup);
    }

    /**
     * Returns a copy with the idle monitor on or off (see {@link #idleMonitor()}).
     *
     * @param monitor {@code false} to notice a lost back-end only at the next request
     * @return the new options
     */
    public FrontendOptions withIdleMonitor(boolean monitor) {
        return new FrontendOptions(connectTimeout, replyTimeout, metrics, monitor, replaySetup);
    }

    /**
     * Returns a copy with set-up recording and replay on or off (see {@link #replaySetup()}).
     *
     * @param replay {@code false} to keep no record and re-send the set-up yourself after a reconnect
     * @return the new options
     */
    public FrontendOptions withReplaySetup(boolean replay) {
        return new FrontendOptions(connectTimeout, replyTimeout, metrics, idleMonitor, replay);
    }
}
