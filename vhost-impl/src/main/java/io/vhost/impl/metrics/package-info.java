/**
 * Session metrics: the small listener interface both engines report to ({@link io.vhost.impl.metrics.SessionMetrics},
 * created per session by a {@link io.vhost.impl.metrics.MetricsFactory}), and its Micrometer binding
 * ({@link io.vhost.impl.metrics.MicrometerMetrics}).
 *
 * <p>Micrometer is an optional dependency: only {@code MicrometerMetrics} refers to its types, so an application
 * that never names that class never loads Micrometer, and the default {@link io.vhost.impl.metrics.MetricsFactory#NONE}
 * costs one predictable branch per message.
 */
package io.vhost.impl.metrics;
