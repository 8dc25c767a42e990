/**
 * The vhost-user front-end engine (the VMM side): {@link io.vhost.impl.frontend.VhostUserFrontends} opens a
 * {@link io.vhost.api.frontend.VhostUserFrontend} as a client (connect with retry) or a server (accept a back-end).
 * One reader thread per connection receives every reply and notices a back-end that goes away; requests are
 * serialised, REPLY_ACK is handled here, the back-end channel is served here, and the set-up is recorded for replay
 * on reconnect.
 *
 * <p>Inside, one concern per class: {@code DefaultVhostUserFrontend} has one method per request (arguments, reply
 * reading, what to record); {@code RequestEngine} sends them (request lock, feature gate, NEED_REPLY and REPLY_ACK,
 * error translation); {@code Negotiation} holds what was negotiated; {@code BackendLink} connects or accepts, holds
 * the current {@code FrontendSession} and back-end channel and tells the reconnect listeners; {@code SetupRecord}
 * keeps duplicates of the set-up and replays it; {@code BackendChannel} serves the back-end's requests.
 *
 * <p>Also here, for VMM tests and benchmarks: {@link io.vhost.impl.frontend.VmmMemory} (guest memory in memfds),
 * {@link io.vhost.impl.frontend.DriverQueue} (a driver-side split virtqueue with kick and call eventfds) and small
 * virtio-blk and virtio-net request helpers.
 */
package io.vhost.impl.frontend;
