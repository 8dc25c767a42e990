/**
 * The device-facing contract of the back-end role: what a vhost-user device implements
 * ({@link io.vhost.api.backend.BackendHandler}), what the engine gives it for the life of one connection
 * ({@link io.vhost.api.backend.SessionContext}) and the back-end to front-end request sender
 * ({@link io.vhost.api.backend.FrontendChannel}).
 *
 * <p>The engine (module {@code io.vhost.impl}, package {@code io.vhost.impl.backend}) reads requests, validates them
 * against the rule table of {@code io.vhost.api.message}, applies the specification's state machine (feature
 * negotiation, reply-ack, ring enable rules) and then calls one handler method per request. Header checks, fd
 * counts, NEED_REPLY and REPLY_ACK are never the device's business.
 *
 * <p>Optional parts of the protocol are default methods that reject the request as not supported, so a device
 * implements only what it offers and a later addition to this package never breaks an existing device.
 * What does not belong here: wire layouts (the codec), guest memory mapping and ring processing (the daemon
 * framework).
 */
package io.vhost.api.backend;
