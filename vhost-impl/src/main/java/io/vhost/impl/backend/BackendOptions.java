package io.vhost.impl.backend;

import io.vhost.impl.metrics.MetricsFactory;
import io.vhost.impl.transport.TransportKind;
import java.util.Objects;

/**
 * Settings of back-end sessions.
 *
 * @param name the name that prefixes session names, thread names and log lines, e.g. {@code "vhost"} gives sessions
 *     named {@code vhost[/run/blk.sock#1]}
 * @param transport the socket implementation of accepted or connected sockets (and of the back-end channel)
 * @param metrics where per-session metrics go; {@link MetricsFactory#NONE} records nothing at no cost
 */
public record BackendOptions(String name, TransportKind transport, MetricsFactory metrics) {

    /** Checks every part is present. */
    public BackendOptions {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(transport, "transport");
        Objects.requireNonNull(metrics, "metrics");
    }

    /**
     * Returns the defaults: name {@code vhost}, the configured transport (FFM unless {@code -Dvhost.transport}
     * says otherwise), no metrics.
     *
     * @return the default options
     */
    public static BackendOptions defaults() {
        return new BackendOptions("vhost", TransportKind.configured(), MetricsFactory.NONE);
    }

    /**
     * Returns these options with another name.
     *
     * @param newName the name prefix
     * @return new options
     */
    public BackendOptions withName(String newName) {
        return new BackendOptions(newName, transport, metrics);
    }

    /**
     * Returns these options with another transport.
     *
     * @param newTransport the transport
     * @return new options
     */
    public BackendOptions withTransport(TransportKind newTransport) {
        return new BackendOptions(name, newTransport, metrics);
    }

    /**
     * Returns these options with a metrics factory, e.g. {@code MicrometerMetrics.of(registry)}.
     *
     * @param newMetrics the factory
     * @return new options
     */
    public BackendOptions withMetrics(MetricsFactory newMetrics) {
        return new BackendOptions(name, transport, newMetrics);
    }
}
