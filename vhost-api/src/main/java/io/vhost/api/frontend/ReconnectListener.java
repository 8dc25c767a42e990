package io.vhost.api.frontend;

import io.vhost.api.error.VhostException;

/**
 * Hears when a front-end loses its back-end and when the set-up was replayed on a new connection. Methods are
 * called on a front-end thread and must not block for long; calling {@link VhostUserFrontend#reconnect()} from
 * {@link #backendLost} is allowed (it runs on that thread).
 */
public interface ReconnectListener {

    /**
     * The back-end went away (its socket closed or broke). Requests fail with
     * {@link io.vhost.api.error.PeerDisconnectedException} until {@link VhostUserFrontend#reconnect()} succeeds.
     *
     * @param frontend the front-end that lost its back-end
     * @param cause what was seen
     */
    default void backendLost(VhostUserFrontend frontend, VhostException cause) {
    }

    /**
     * Asks which available index to send for a ring during replay. A back-end that crashed cannot report its base,
     * so a VMM usually returns the ring's used index from guest memory (with inflight tracking, the back-end then
     * resubmits what was in flight).
     *
     * @param queue the ring index
     * @param recordedBase the base last sent with SET_VRING_BASE or read with GET_VRING_BASE
     * @return the base to replay; the default is {@code recordedBase}
     */
    default long replayVringBase(int queue, long recordedBase) {
        return recordedBase;
    }

    /**
     * The set-up was replayed on a new connection; the front-end is usable again.
     *
     * @param frontend the reconnected front-end
     */
    default void reconnected(VhostUserFrontend frontend) {
    }
}
