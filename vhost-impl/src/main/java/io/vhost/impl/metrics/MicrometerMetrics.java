package io.vhost.impl.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vhost.api.message.Request;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Binds session metrics to a Micrometer {@link MeterRegistry}. Meters, tagged {@code role}, {@code session} and where
 * it applies {@code request}:
 * <ul>
 *   <li>{@code vhost.requests} (counter): requests handled, tagged also {@code outcome} = ok or rejected;</li>
 *   <li>{@code vhost.request.duration} (timer): time from decoded request to reply sent;</li>
 *   <li>{@code vhost.bytes} (counter): bytes, tagged {@code direction} = received or sent;</li>
 *   <li>{@code vhost.errors} (counter): errors outside a handled request, tagged {@code kind}.</li>
 * </ul>
 * A session's meters are removed from the registry when the session ends. This is the only class that refers to
 * Micrometer types; Micrometer must be on the class or module path when it is used.
 */
public final class MicrometerMetrics implements MetricsFactory {

    private final MeterRegistry registry;

    private MicrometerMetrics(MeterRegistry registry) {
        this.registry = Objects.requireNonNull(registry, "registry");
    }

    /**
     * Creates a factory that registers every session's meters in {@code registry}.
     *
     * @param registry the registry
     * @return the factory, to pass in the engines' options
     */
    public static MetricsFactory of(MeterRegistry registry) {
        return new MicrometerMetrics(registry);
    }

    @Override
    public SessionMetrics session(String role, String session) {
        return new Bound(registry, role, session);
    }

    private static final class Bound implements SessionMetrics {
        private final MeterRegistry registry;
        private final String role;
        private final String session;
        private final Map<Request, Counter> ok = new ConcurrentHashMap<>();
        private final Map<Request, Counter> rejected = new ConcurrentHashMap<>();
        private final Map<Request, Timer> timers = new ConcurrentHashMap<>();
        private final Map<String, Counter> errors = new ConcurrentHashMap<>();
        private final Counter received;
        private final Counter sent;
        private final List<Meter> meters = new CopyOnWriteArrayList<>();

        Bound(MeterRegistry registry, String role, String session) {
            this.registry = registry;
            this.role = role;
            this.session = session;
            this.received = keep(Counter.builder("vhost.bytes").tags("role", role, "session", session,
                    "direction", "received").baseUnit("bytes").register(registry));
            this.sent = keep(Counter.builder("vhost.bytes").tags("role", role, "session", session,
                    "direction", "sent").baseUnit("bytes").register(registry));
        }

        private <M extends Meter> M keep(M meter) {
            meters.add(meter);
            return meter;
        }

        @Override
        public boolean enabled() {
            return true;
        }

        @Override
        public void handled(Request request, long bytes, long nanos, boolean success) {
            received.increment(bytes);
            (success ? ok : rejected).computeIfAbsent(request, r -> keep(Counter.builder("vhost.requests")
                    .tags("role", role, "session", session, "request", r.name(), "outcome",
                            success ? "ok" : "rejected")
                    .register(registry))).increment();
            timers.computeIfAbsent(request, r -> keep(Timer.builder("vhost.request.duration")
                    .tags("role", role, "session", session, "request", r.name()).register(registry)))
                    .record(nanos, TimeUnit.NANOSECONDS);
        }

        @Override
        public void sent(Request request, long bytes) {
            sent.increment(bytes);
        }

        @Override
        public void error(String kind) {
            errors.computeIfAbsent(kind, k -> keep(Counter.builder("vhost.errors")
                    .tags("role", role, "session", session, "kind", k).register(registry))).increment();
        }

        @Override
        public void close() {
            for (Meter m : meters) {
                registry.remove(m);
            }
            meters.clear();
        }
    }
}
