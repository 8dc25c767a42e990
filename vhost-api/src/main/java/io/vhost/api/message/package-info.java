/**
 * The vhost-user wire model: the rule tables {@link io.vhost.api.message.FrontendRequest} and
 * {@link io.vhost.api.message.BackendRequest}, the immutable payload records, the sealed message types
 * {@link io.vhost.api.message.FrontendMessage} and {@link io.vhost.api.message.BackendMessage}, and typed
 * {@link io.vhost.api.message.Reply replies}.
 *
 * <p>What belongs here: names, numbers and syntax. Each payload record's compact constructor enforces what the
 * specification says about one message in isolation (zero padding, known flag bits, counts, address wrap-around)
 * and throws {@link java.lang.IllegalArgumentException} naming field, value and limit; the codec turns that into a
 * {@link io.vhost.api.error.ProtocolViolationException}. What does not: byte offsets (only the codec knows them)
 * and checks needing session state (negotiated features, queue count, maximum queue size), which the engines do.
 *
 * <p>Fd ownership: a decoded message owns the {@link io.vhost.api.Fd}s it carries. Messages are
 * {@link java.lang.AutoCloseable}; closing one closes every fd that a handler did not {@link io.vhost.api.Fd#take()}.
 *
 * <p>Names follow the specification with front-end/back-end roles; the former master/slave names are not used.
 */
package io.vhost.api.message;
