/**
 * One vhost-user unix stream socket: framed send and receive with descriptors ({@link
 * io.vhost.impl.transport.Connection}), server mode ({@link io.vhost.impl.transport.Listener}, which unlinks its path),
 * client mode ({@link io.vhost.impl.transport.Connector}, bounded retry) and socket pairs
 * ({@link io.vhost.impl.transport.Transports}).
 *
 * <p>Two implementations sit behind {@link io.vhost.impl.transport.Connection}, chosen by
 * {@link io.vhost.impl.transport.TransportKind}: {@code FFM} (default; raw non-blocking sockets, waits through the
 * poller on virtual threads and in {@code poll(2)} on platform threads) and {@code JUNIXSOCKET} (blocking
 * junixsocket streams; receiving is refused on virtual threads). Does not belong here: message encoding (codec) or
 * any protocol rule.
 */
package io.vhost.impl.transport;
