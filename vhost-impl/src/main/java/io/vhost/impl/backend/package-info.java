/**
 * The back-end engine: one {@link io.vhost.impl.backend.BackendSession} per front-end connection reads requests
 * through the codec, checks them against the rule table and the specification's state machine, calls the device's
 * {@link io.vhost.api.backend.BackendHandler} and replies (REPLY_ACK and NEED_REPLY handled once, here);
 * {@link io.vhost.impl.backend.BackendServer} listens on a path or an inherited fd and serves one connection after
 * another on the same listening socket. The back-end channel opened by {@code SET_BACKEND_REQ_FD} is served by a
 * {@link io.vhost.api.backend.FrontendChannel} whose every call holds one lock over check, send and reply read.
 *
 * <p>Each session owns a {@link io.vhost.impl.daemon.Supervisor}: its reader is the first child, device workers
 * started through {@link io.vhost.api.backend.SessionContext} are siblings; the first failure ends them all, and
 * {@code close()} joins them before the connection, the channel and the handler are closed.
 */
package io.vhost.impl.backend;
