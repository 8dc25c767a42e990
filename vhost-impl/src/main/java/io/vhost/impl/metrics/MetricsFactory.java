package io.vhost.impl.metrics;

/** Creates the {@link SessionMetrics} of each new session. */
@FunctionalInterface
public interface MetricsFactory {

    /** Records nothing, at no cost. */
    MetricsFactory NONE = (role, session) -> SessionMetrics.NONE;

    /**
     * Creates the listener of one session.
     *
     * @param role {@code "backend"} or {@code "frontend"}
     * @param session the session name, e.g. {@code vhost[blk.sock#3]}
     * @return the listener; closed by the engine when the session ends
     */
    SessionMetrics session(String role, String session);
}
