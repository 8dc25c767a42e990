/**
 * The VMM side of vhost: the blocking front-end API a virtual machine monitor embeds.
 *
 * <p>{@link io.vhost.api.frontend.VhostFrontend} holds the control-plane operations vhost-user shares with kernel
 * vhost; {@link io.vhost.api.frontend.VhostUserFrontend} adds every other vhost-user front-end request (ids 1 to 43
 * of the mainline specification, 44 and 45 provisional), each with typed arguments and a typed reply.
 * {@link io.vhost.api.frontend.BackendRequestHandler} serves the requests a back-end sends on its channel, and
 * {@link io.vhost.api.frontend.ReconnectListener} hears when a back-end goes away and comes back.
 *
 * <p>Wire formats, the rule table and the engines do not belong here: see {@code io.vhost.api.message} for the
 * payload records and {@code io.vhost.impl.frontend} for the implementation.
 */
package io.vhost.api.frontend;
