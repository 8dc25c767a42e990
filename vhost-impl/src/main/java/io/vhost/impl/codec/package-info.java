/**
 * The vhost-user codec: bytes to {@link io.vhost.api.message.FrontendMessage},
 * {@link io.vhost.api.message.BackendMessage} and {@link io.vhost.api.message.Reply} records and back. It is the
 * only code that knows byte offsets ({@link io.vhost.impl.codec.Layout}); every size, fd and reply rule comes from
 * the rule tables {@link io.vhost.api.message.FrontendRequest} and {@link io.vhost.api.message.BackendRequest}.
 * {@link io.vhost.impl.codec.VhostUserCodec} applies the rules and dispatches on the request; the package-private
 * {@code Payloads} reads and writes the payload structs.
 * All methods are static, stateless and thread-safe. Byte order is native, except the shared-object UUID.
 *
 * <h2>Receiving (back-end engine on the main socket; front-end engine on the back-end channel)</h2>
 * <ol>
 *   <li>Read 12 bytes (with the fds from the same {@code recvmsg}); call
 *       {@link io.vhost.impl.codec.VhostUserCodec#decodeHeader(java.nio.ByteBuffer, io.vhost.impl.codec.Expect)
 *       decodeHeader(buf, Expect.REQUEST)} (or the overload taking the received fds, which closes them on failure).
 *       It rejects version != 1, reserved flag bits, a REPLY flag on a request
 *       (or a missing one when {@code Expect.REPLY}) and sizes above
 *       {@link io.vhost.impl.codec.VhostUserCodec#MAX_PAYLOAD_BYTES}, so a 4-GiB size never allocates.</li>
 *   <li>If the id is known ({@link io.vhost.impl.codec.Header#frontendRequest()}), call
 *       {@link io.vhost.impl.codec.VhostUserCodec#checkSize checkSize(request, Expect.REQUEST, header.size())}
 *       before reading the payload. Read exactly {@code header.size()} bytes.</li>
 *   <li>Call {@link io.vhost.impl.codec.VhostUserCodec#decodeFrontend decodeFrontend(header, payload, fds,
 *       options)} (or {@code decodeBackend}). The call takes ownership of the fds: on failure it closes all of them
 *       and throws {@link io.vhost.api.error.ProtocolViolationException} naming request, field, value and limit; on
 *       success the message owns them and the engine closes it in {@code finally}.</li>
 *   <li>Unknown request ids throw a {@code ProtocolViolationException} whose
 *       {@link io.vhost.api.error.VhostException#recovery() recovery()} is {@code RETRY} (its fds are closed): NACK
 *       with {@code Reply.ack(false)} if NEED_REPLY, and continue. Every other violation is {@code RECONNECT}.</li>
 * </ol>
 * Syntax is checked here (sizes, padding, flags, counts, wrap-around, config offset + size against
 * {@link io.vhost.impl.codec.CodecOptions#maxConfigBytes()}); session semantics (features negotiated, queue index
 * below the queue count, ring size below the maximum via
 * {@link io.vhost.impl.codec.VhostUserCodec#checkQueueSize}, GET_CONFIG reply size equal to the request's) are the
 * engines'.
 *
 * <h2>Sending</h2>
 * {@link io.vhost.impl.codec.VhostUserCodec#encode(io.vhost.api.message.FrontendMessage, int,
 * java.nio.ByteBuffer, io.vhost.impl.codec.CodecOptions) encode(message, flags, dst, options)} writes header and
 * payload at {@code dst}'s position (reuse one buffer of
 * {@link io.vhost.impl.codec.VhostUserCodec#MAX_MESSAGE_BYTES}) and returns the fds to pass with SCM_RIGHTS; they
 * stay owned by the message. {@code flags} is 0 or {@code HeaderFlags.NEED_REPLY}.
 *
 * <h2>Replies</h2>
 * {@link io.vhost.impl.codec.VhostUserCodec#encodeReply encodeReply(request, reply, dst, options)} and
 * {@link io.vhost.impl.codec.VhostUserCodec#decodeReply decodeReply(request, header, payload, fds, options)}: a
 * {@code Reply.U64} serves as reply-ack for every request that does not always reply; other reply types must match
 * the request's {@code replyBody()}. {@code decodeReply} checks the reply's request code against the request.
 */
package io.vhost.impl.codec;
