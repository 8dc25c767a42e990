package io.vhost.impl.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vhost.api.message.BackendRequest;
import io.vhost.api.message.FrontendRequest;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * Micrometer meters of one vhost-user front-end (Micrometer is an optional dependency: only load this class when
 * it is on the path). Meters, all tagged {@code session}:
 * <ul>
 *   <li>{@code vhost.frontend.requests} (timer; tags {@code request}, {@code outcome} = ok or error): each
 *       front-end request from send to reply;</li>
 *   <li>{@code vhost.frontend.backend.requests} (counter; tags {@code request}, {@code outcome}): back-end
 *       requests served;</li>
 *   <li>{@code vhost.frontend.backend.lost} and {@code vhost.frontend.reconnects} (counters).</li>
 * </ul>
 * Meters are registered up front, so the hot path does no lookup. Thread-safe.
 */
public final class FrontendMetrics implements FrontendMetricsListener {

    private final Map<FrontendRequest, Timer> ok = new EnumMap<>(FrontendRequest.class);
    private final Map<FrontendRequest, Timer> failed = new EnumMap<>(FrontendRequest.class);
    private final Map<BackendRequest, Counter> served = new EnumMap<>(BackendRequest.class);
    private final Map<BackendRequest, Counter> refused = new EnumMap<>(BackendRequest.class);
    private final Counter lost;
    private final Counter reconnects;

    /**
     * Registers the meters.
     *
     * @param registry where to register
     * @param session the session tag, e.g. the socket path
     */
    public FrontendMetrics(MeterRegistry registry, String session) {
        Objects.requireNonNull(registry, "registry");
        Objects.requireNonNull(session, "session");
        for (FrontendRequest r : FrontendRequest.values()) {
            ok.put(r, Timer.builder("vhost.frontend.requests").description("front-end requests, send to reply")
                    .tags("session", session, "request", r.name(), "outcome", "ok").register(registry));
            failed.put(r, Timer.builder("vhost.frontend.requests").description("front-end requests, send to reply")
                    .tags("session", session, "request", r.name(), "outcome", "error").register(registry));
        }
        for (BackendRequest r : BackendRequest.values()) {
            served.put(r, Counter.builder("vhost.frontend.backend.requests").description("back-end requests served")
                    .tags("session", session, "request", r.name(), "outcome", "ok").register(registry));
            refused.put(r, Counter.builder("vhost.frontend.backend.requests").description("back-end requests served")
                    .tags("session", session, "request", r.name(), "outcome", "error").register(registry));
        }
        lost = Counter.builder("vhost.frontend.backend.lost").description("back-end connections lost")
                .tag("session", session).register(registry);
        reconnects = Counter.builder("vhost.frontend.reconnects").description("set-up replays on a new connection")
                .tag("session", session).register(registry);
    }

    @Override
    public void requestCompleted(FrontendRequest request, long nanos, boolean success) {
        (success ? ok : failed).get(request).record(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void backendRequestServed(BackendRequest request, boolean success) {
        (success ? served : refused).get(request).increment();
    }

    @Override
    public void backendLost() {
        lost.increment();
    }

    @Override
    public void reconnected() {
        reconnects.increment();
    }
}
