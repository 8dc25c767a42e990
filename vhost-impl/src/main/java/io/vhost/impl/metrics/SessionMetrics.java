package io.vhost.impl.metrics;

import io.vhost.api.message.Request;

/**
 * Receives the events of one session (front-end or back-end engine). Implementations must be thread-safe and cheap;
 * the engines call them on their message paths. An engine checks {@link #enabled()} once per message and skips
 * timing when it is {@code false}.
 */
public interface SessionMetrics extends AutoCloseable {

    /** A listener that records nothing. */
    SessionMetrics NONE = new SessionMetrics() {
        @Override
        public boolean enabled() {
            return false;
        }

        @Override
        public void handled(Request request, long bytes, long nanos, boolean ok) {
        }

        @Override
        public void sent(Request request, long bytes) {
        }

        @Override
        public void error(String kind) {
        }

        @Override
        public void close() {
        }
    };

    /**
     * Tells whether anything is recorded; when {@code false} the engine does not even read the clock.
     *
     * @return {@code true} if events are recorded
     */
    boolean enabled();

    /**
     * Records one request received and handled.
     *
     * @param request the request (front-end request on a back-end session, back-end request on a front-end session)
     * @param bytes the message size on the wire, header included
     * @param nanos the time from the decoded message to the reply sent
     * @param ok {@code false} if the request was rejected (NACK or error reply)
     */
    void handled(Request request, long bytes, long nanos, boolean ok);

    /**
     * Records one message sent (a reply or a request on the back-end channel).
     *
     * @param request the request it belongs to
     * @param bytes its size on the wire, header included
     */
    void sent(Request request, long bytes);

    /**
     * Records an error that did not belong to a handled request: a malformed message, an unknown request, a
     * disconnect in the middle of a message.
     *
     * @param kind a short, low-cardinality tag, e.g. {@code "protocol"}, {@code "unknown-request"}
     */
    void error(String kind);

    /** Removes this session's meters; called once when the session ends. */
    @Override
    void close();
}
