package io.vhost.api.backend;

import java.util.Optional;

/**
 * What the engine gives a device for the life of one connection: the session's name, its thread supervisor, its
 * negotiated state and its back-end channel. Passed to the factory that creates a {@link BackendHandler} for each
 * accepted connection.
 *
 * <p>Threads started here are children of the session: the first one that fails ends the session (the connection
 * is shut down and the siblings interrupted), and the session joins them all before it calls
 * {@link BackendHandler#close()}. Thread-safe.
 */
public interface SessionContext {

    /** A worker's body: plain blocking code that may throw. */
    @FunctionalInterface
    interface Worker {
        /**
         * Runs the worker until it is done or interrupted.
         *
         * @throws Exception any failure; it ends the session
         */
        void run() throws Exception;
    }

    /**
     * Returns the session name used in thread names and log lines, e.g. {@code vhost[blk.sock#3]}.
     *
     * @return the name
     */
    String name();

    /**
     * Starts a worker on a virtual thread named {@code <name>-<role>}.
     *
     * @param role what the worker does, e.g. {@code "vring-0"}
     * @param worker the body
     * @return the started thread
     * @throws IllegalStateException if the session is ending
     */
    Thread startWorker(String role, Worker worker);

    /**
     * Starts a worker on a platform thread, for a body that blocks in native calls (an epoll loop).
     *
     * @param role what the worker does, e.g. {@code "epoll"}
     * @param worker the body
     * @return the started thread
     * @throws IllegalStateException if the session is ending
     */
    Thread startPlatformWorker(String role, Worker worker);

    /**
     * Registers an action that runs once when the session starts to end, before workers are interrupted (wake an
     * epoll loop here). Runs at once if the session is already ending.
     *
     * @param action the action; its exceptions are logged
     */
    void onShutdown(Runnable action);

    /**
     * Ends the session: runs the shutdown actions, interrupts the workers and closes the connection. Returns
     * without waiting.
     */
    void shutdown();

    /**
     * Returns the virtio feature word acked by the last {@code SET_FEATURES}.
     *
     * @return the acked features, 0 before {@code SET_FEATURES}
     */
    long ackedFeatures();

    /**
     * Returns the protocol feature word acked by the last {@code SET_PROTOCOL_FEATURES}.
     *
     * @return the acked protocol features, 0 before
     */
    long ackedProtocolFeatures();

    /**
     * Returns the back-end to front-end channel, once {@code SET_BACKEND_REQ_FD} has opened it.
     *
     * @return the channel, or empty
     */
    Optional<FrontendChannel> frontendChannel();
}
