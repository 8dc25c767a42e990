/**
 * The vhost-user front-end engine (the VMM side): {@link io.vhost.impl.frontend.VhostUserFrontends} opens a
 * {@link io.vhost.api.frontend.VhostUserFrontend} as a client (connect with retry) or a server (accept a back-end).
 * One reader thread per connection receives every reply and notices a back-end that goes away; requests are
 * serialised, REPLY_ACK is handled here, the back-end channel is served here, and the set-up is recorded for replay
 * on reconnect.
 *
 * <p>Also here, for VMM tests and benchmarks: {@link io.vhost.impl.frontend.VmmMemory} (guest memory in memfds),
 * {@link io.vhost.impl.frontend.DriverQueue} (a driver-side split virtqueue with kick and call eventfds) and small
 * virtio-blk and virtio-net request helpers.
 */
package io.vhost.impl.frontend;
