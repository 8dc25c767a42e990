package io.vhost.impl.codec;

import static io.vhost.impl.codec.Layout.*;
import static io.vhost.impl.codec.Payloads.*;

import io.vhost.api.Fd;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.Recovery;
import io.vhost.api.message.BackendMessage;
import io.vhost.api.message.BackendRequest;
import io.vhost.api.message.Body;
import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.Fds;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendMessage.*;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.HeaderFlags;
import io.vhost.api.message.MacAddress;
import io.vhost.api.message.Reply;
import io.vhost.api.message.ReplyKind;
import io.vhost.api.message.Request;
import io.vhost.api.message.VringFd;
import io.vhost.api.message.VringState;
import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * Bytes to vhost-user messages and back, driven by the rule tables {@link FrontendRequest} and
 * {@link BackendRequest}. Stateless and thread-safe; see the package documentation for the receive and send
 * sequences. All numbers are in native byte order, except the shared-object UUID (big-endian fields).
 */
public final class VhostUserCodec {

    /** The largest payload any message may declare: a config header plus 4096 bytes of config space. */
    public static final int MAX_PAYLOAD_BYTES = CFG_REGION + ConfigSpace.MAX_BYTES;
    /** The largest message: header plus {@link #MAX_PAYLOAD_BYTES}; size send buffers with it. */
    public static final int MAX_MESSAGE_BYTES = HDR_BYTES + MAX_PAYLOAD_BYTES;
    /** The header size in bytes. */
    public static final int HEADER_BYTES = HDR_BYTES;

    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    // Requests without a body are immutable and all equal: each decodes to one shared instance.
    private static final GetFeatures GET_FEATURES_MESSAGE = new GetFeatures();
    private static final SetOwner SET_OWNER_MESSAGE = new SetOwner();
    private static final ResetOwner RESET_OWNER_MESSAGE = new ResetOwner();
    private static final GetProtocolFeatures GET_PROTOCOL_FEATURES_MESSAGE = new GetProtocolFeatures();
    private static final GetQueueNum GET_QUEUE_NUM_MESSAGE = new GetQueueNum();
    private static final PostcopyAdvise POSTCOPY_ADVISE_MESSAGE = new PostcopyAdvise();
    private static final PostcopyListen POSTCOPY_LISTEN_MESSAGE = new PostcopyListen();
    private static final PostcopyEnd POSTCOPY_END_MESSAGE = new PostcopyEnd();
    private static final ResetDevice RESET_DEVICE_MESSAGE = new ResetDevice();
    private static final GetMaxMemSlots GET_MAX_MEM_SLOTS_MESSAGE = new GetMaxMemSlots();
    private static final GetStatus GET_STATUS_MESSAGE = new GetStatus();
    private static final CheckDeviceState CHECK_DEVICE_STATE_MESSAGE = new CheckDeviceState();
    private static final GetShmemConfig GET_SHMEM_CONFIG_MESSAGE = new GetShmemConfig();

    private VhostUserCodec() {
    }

    // ---------------------------------------------------------------- header

    /**
     * Reads and checks a 12-byte header at the buffer's position, advancing it by 12. Checks the version (must be 1),
     * reserved flag bits (must be 0), the REPLY flag against {@code expect}, and the size against
     * {@link #MAX_PAYLOAD_BYTES}. It does not look the request up: unknown ids pass, so the caller can skip their
     * payload and NACK them ({@link #decodeFrontend} then reports them with {@link Recovery#RETRY}).
     *
     * @param src at least 12 readable bytes
     * @param expect whether a request or a reply is expected
     * @return the header
     * @throws ProtocolViolationException naming the field, value and limit
     */
    public static Header decodeHeader(ByteBuffer src, Expect expect) throws ProtocolViolationException {
        if (src.remaining() < HDR_BYTES) {
            throw new ProtocolViolationException("short header: " + src.remaining() + " of " + HDR_BYTES + " bytes");
        }
        int at = src.position();
        boolean nativeOrder = src.order() == NATIVE;
        long request = Integer.toUnsignedLong(int32(src, at + HDR_REQUEST, nativeOrder));
        int flags = int32(src, at + HDR_FLAGS, nativeOrder);
        long size = Integer.toUnsignedLong(int32(src, at + HDR_SIZE, nativeOrder));
        src.position(at + HDR_BYTES);
        if ((flags & HeaderFlags.VERSION_MASK) != HeaderFlags.VERSION) {
            throw new ProtocolViolationException("request " + request + ": header version "
                    + (flags & HeaderFlags.VERSION_MASK)
                    + " (flags 0x" + Integer.toHexString(flags) + ") is not 1");
        }
        if ((flags & ~HeaderFlags.KNOWN_MASK) != 0) {
            throw new ProtocolViolationException("request " + request + ": header flags 0x"
                    + Integer.toHexString(flags) + " set reserved bits 0x" + Integer.toHexString(flags & ~HeaderFlags.KNOWN_MASK));
        }
        boolean reply = (flags & HeaderFlags.REPLY) != 0;
        if (expect == Expect.REQUEST && reply) {
            throw new ProtocolViolationException("request " + request + ": REPLY flag set on a request");
        }
        if (expect == Expect.REPLY && !reply) {
            throw new ProtocolViolationException("request " + request + ": REPLY flag missing on a reply");
        }
        if (size > MAX_PAYLOAD_BYTES) {
            throw new ProtocolViolationException("request " + request + ": payload size " + size
                    + " exceeds the maximum " + MAX_PAYLOAD_BYTES);
        }
        return Header.of(request, flags, size);
    }

    /**
     * Like {@link #decodeHeader(ByteBuffer, Expect)}, for the fds received with the header: on failure it closes all
     * of them before throwing (they arrive with the header's {@code recvmsg}, before the request is known). On
     * success the caller keeps them and hands them to a {@code decode*} method.
     *
     * @param src at least 12 readable bytes
     * @param expect whether a request or a reply is expected
     * @param receivedFds the fds received with the header
     * @return the header
     * @throws ProtocolViolationException naming the field, value and limit; all fds closed
     */
    public static Header decodeHeader(ByteBuffer src, Expect expect, List<Fd> receivedFds)
            throws ProtocolViolationException {
        try {
            return decodeHeader(src, expect);
        } catch (ProtocolViolationException e) {
            closeAll(receivedFds);
            if (receivedFds.isEmpty()) {
                throw e;
            }
            throw new ProtocolViolationException(e.getMessage() + closedNote(receivedFds), null, e.recovery());
        }
    }

    /**
     * Checks a header's payload size against the table row of its request (use before reading the payload).
     *
     * @param request the table row
     * @param expect REQUEST for the request body rule, REPLY for the reply body rule (an 8-byte ack is accepted
     *     where the request does not always reply)
     * @param size the header's size field
     * @throws ProtocolViolationException naming the request, size and rule
     */
    public static void checkSize(Request request, Expect expect, long size) throws ProtocolViolationException {
        Body body = expect == Expect.REQUEST ? request.body() : request.replyBody();
        if (expect == Expect.REPLY && size == U64_BYTES && request.reply() != ReplyKind.ALWAYS) {
            return;
        }
        if (size < body.minBytes() || size > body.maxBytes()) {
            throw new ProtocolViolationException(request.name() + ": payload size " + size + " is outside "
                    + body.sizeRule() + " for " + body);
        }
        boolean ok = switch (body) {
            case U64_OR_EMPTY -> size == 0 || size == U64_BYTES;
            case CONFIG_OR_EMPTY -> size == 0 || size >= CFG_REGION;
            default -> true;
        };
        if (!ok) {
            throw new ProtocolViolationException(request.name() + ": payload size " + size + " is not allowed for "
                    + body);
        }
    }

    /**
     * Tells whether a request gets a reply, from its table row and the session state; both engines use it so that
     * the front-end waits exactly when the back-end answers.
     *
     * @param request the table row
     * @param needReply whether the request's header had NEED_REPLY
     * @param replyAckNegotiated whether REPLY_ACK is in effect (PROTOCOL_FEATURES acked and REPLY_ACK acked)
     * @param gateNegotiated whether the request's gating protocol feature is negotiated (used by IF_GATE rows)
     * @param postcopyListening whether POSTCOPY_LISTEN was received (used by POSTCOPY rows)
     * @return {@code true} if exactly one reply must be sent
     */
    public static boolean replyExpected(Request request, boolean needReply, boolean replyAckNegotiated,
            boolean gateNegotiated, boolean postcopyListening) {
        boolean ack = needReply && replyAckNegotiated;
        return switch (request.reply()) {
            case ALWAYS -> true;
            case ACK_IF_ASKED -> ack;
            case IF_GATE -> gateNegotiated || ack;
            case POSTCOPY -> postcopyListening || ack;
        };
    }

    /**
     * Formats the message for a ring size above the back-end's maximum; engines use it so every report reads alike.
     *
     * @param state the SET_VRING_NUM payload
     * @param maxQueueSize the device's maximum queue size
     * @throws ProtocolViolationException e.g. {@code SET_VRING_NUM 70000 for queue 0 exceeds max queue size 32768}
     */
    public static void checkQueueSize(VringState state, long maxQueueSize) throws ProtocolViolationException {
        if (state.num() > maxQueueSize || state.num() == 0) {
            throw new ProtocolViolationException("SET_VRING_NUM " + state.num() + " for queue " + state.index()
                    + (state.num() == 0 ? " is zero" : " exceeds max queue size " + maxQueueSize));
        }
    }

    // ---------------------------------------------------------------- decode requests

    /**
     * Decodes a front-end request. On any failure every fd in {@code fds} is closed before the exception is thrown;
     * on success the returned message owns them.
     *
     * @param header the header from {@link #decodeHeader} (REPLY clear)
     * @param payload exactly {@code header.size()} readable bytes; the position is not moved
     * @param fds the fds received with the message, in order; ownership passes to this call
     * @param options session facts (XEN_MMAP, config size)
     * @return the message, owning the fds
     * @throws ProtocolViolationException on any violation; for an unknown request id its recovery is
     *     {@link Recovery#RETRY} (NACK it if NEED_REPLY and continue), otherwise {@link Recovery#RECONNECT}
     */
    public static FrontendMessage decodeFrontend(Header header, ByteBuffer payload, List<Fd> fds,
            CodecOptions options) throws ProtocolViolationException {
        return owningFds(header.frontendRequest().orElse(null), ": ", header, payload, fds, options,
                VhostUserCodec::frontendMessage);
    }

    private static FrontendMessage frontendMessage(FrontendRequest request, Header header, ByteBuffer payload,
            List<Fd> fds, CodecOptions options) throws ProtocolViolationException {
        if (request == null) {
            throw unknown("front-end", header, fds.size());
        }
        ByteBuffer b = prepare(request, Expect.REQUEST, header, payload, fds.size(), request.fds());
        return parseFrontend(request, b, fds, options); // SetMemTable, the one record keeping the list, copies it
    }

    /**
     * Decodes a back-end request received on the back-end channel; fd handling as {@link #decodeFrontend}.
     *
     * @param header the header (REPLY clear)
     * @param payload exactly {@code header.size()} readable bytes
     * @param fds the fds received, ownership passes to this call
     * @param options session facts
     * @return the message, owning the fds
     * @throws ProtocolViolationException on any violation (unknown ids with {@link Recovery#RETRY})
     */
    public static BackendMessage decodeBackend(Header header, ByteBuffer payload, List<Fd> fds, CodecOptions options)
            throws ProtocolViolationException {
        return owningFds(header.backendRequest().orElse(null), ": ", header, payload, fds, options,
                VhostUserCodec::backendMessage);
    }

    private static BackendMessage backendMessage(BackendRequest request, Header header, ByteBuffer payload,
            List<Fd> fds, CodecOptions options) throws ProtocolViolationException {
        if (request == null) {
            throw unknown("back-end", header, fds.size());
        }
        ByteBuffer b = prepare(request, Expect.REQUEST, header, payload, fds.size(), request.fds());
        return parseBackend(request, b, fds);
    }

    /**
     * Decodes the reply to {@code request}: either its reply body or, where the request does not always reply, an
     * 8-byte reply-ack ({@link Reply.U64}). Fd handling as {@link #decodeFrontend}. A GET_CONFIG reply's size must
     * still be compared with the request's by the caller.
     *
     * @param request the request this reply answers
     * @param header the header (REPLY set)
     * @param payload exactly {@code header.size()} readable bytes
     * @param fds the fds received, ownership passes to this call
     * @param options session facts
     * @return the reply, owning its fds
     * @throws ProtocolViolationException if the code differs from the request's, or on any other violation
     */
    public static Reply decodeReply(Request request, Header header, ByteBuffer payload, List<Fd> fds,
            CodecOptions options) throws ProtocolViolationException {
        return owningFds(request, " reply: ", header, payload, fds, options, VhostUserCodec::reply);
    }

    private static Reply reply(Request request, Header header, ByteBuffer payload, List<Fd> fds,
            CodecOptions options) throws ProtocolViolationException {
        if (header.request() != request.id()) {
            throw new ProtocolViolationException(request.name() + ": reply carries request code "
                    + header.request() + ", expected " + request.id() + closedNote(fds));
        }
        if (!header.isReply()) {
            throw new ProtocolViolationException(request.name() + ": REPLY flag missing on a reply"
                    + closedNote(fds));
        }
        boolean ack = header.size() == U64_BYTES && request.reply() != ReplyKind.ALWAYS;
        Fds fdRule = ack ? Fds.NONE : request.replyFds();
        ByteBuffer b = prepare(request, Expect.REPLY, header, payload, fds.size(), fdRule);
        return ack ? ack(b.getLong(0)) : parseReply(request, b, fds, options);
    }

    /** A received reply-ack: the shared success ack for 0 (nearly always), else a new one. */
    private static Reply.U64 ack(long value) {
        return value == 0 ? Reply.ack(true) : new Reply.U64(value);
    }

    /**
     * Builds a message or reply of {@code request} ({@code null} if the id is unknown) that owns {@code fds}. Gets
     * every input as an argument, so that the decoders are method references that allocate nothing per call.
     */
    @FunctionalInterface
    private interface Decoder<R extends Request, T> {
        T decode(R request, Header header, ByteBuffer payload, List<Fd> fds, CodecOptions options)
                throws ProtocolViolationException;
    }

    /**
     * Decodes something that takes ownership of {@code fds}: on success the result owns them; on any failure they are
     * all closed first, and a malformed field ({@code IllegalArgumentException}, out-of-range read) becomes a
     * {@link ProtocolViolationException} naming the request ("?" if unknown) and saying the fds were closed.
     */
    private static <R extends Request, T> T owningFds(R request, String separator, Header header, ByteBuffer payload,
            List<Fd> fds, CodecOptions options, Decoder<R, T> decoder) throws ProtocolViolationException {
        boolean ok = false;
        try {
            T decoded = decoder.decode(request, header, payload, fds, options);
            ok = true;
            return decoded;
        } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
            throw new ProtocolViolationException((request == null ? "?" : request.name()) + separator + e.getMessage()
                    + closedNote(fds));
        } finally {
            if (!ok) {
                closeAll(fds);
            }
        }
    }

    private static ProtocolViolationException unknown(String side, Header h, int fdCount) {
        return new ProtocolViolationException("unknown " + side + " request id " + h.request() + " (flags 0x"
                + Integer.toHexString(h.flags()) + ", size " + h.size() + ", " + fdCount + " fds): closed its fds; "
                + "NACK it if NEED_REPLY and continue", null, Recovery.RETRY);
    }

    private static ByteBuffer prepare(Request req, Expect expect, Header h, ByteBuffer payload, int fdCount,
            Fds rule) throws ProtocolViolationException {
        checkSize(req, expect, h.size());
        if (payload.remaining() != h.size()) {
            throw new IllegalArgumentException("payload has " + payload.remaining() + " bytes, header says "
                    + h.size());
        }
        if (fdCount < rule.min() || fdCount > rule.max()) {
            throw new IllegalArgumentException("carried " + fdCount + " fds, expected " + rule.rule());
        }
        return payload.position() == 0 && payload.order() == NATIVE ? payload : payload.slice().order(NATIVE);
    }

    private static int int32(ByteBuffer src, int index, boolean nativeOrder) {
        int v = src.getInt(index);
        return nativeOrder ? v : Integer.reverseBytes(v);
    }

    private static String closedNote(List<Fd> fds) {
        return fds.isEmpty() ? "" : "; closed all " + fds.size() + " fds";
    }

    private static void closeAll(List<Fd> fds) {
        for (Fd fd : fds) {
            try {
                fd.close();
            } catch (RuntimeException ignored) {
                // Fd.close() must not throw; a faulty fake must not hide the protocol error.
            }
        }
    }

    private static Fd one(List<Fd> fds) {
        if (fds.size() != 1) {
            throw new IllegalArgumentException("carried " + fds.size() + " fds, expected 1");
        }
        return fds.getFirst();
    }

    private static Optional<Fd> optional(List<Fd> fds) {
        return fds.isEmpty() ? Optional.empty() : Optional.of(fds.getFirst());
    }

    private static FrontendMessage parseFrontend(FrontendRequest r, ByteBuffer b, List<Fd> fds, CodecOptions o) {
        return switch (r) {
            case GET_FEATURES -> GET_FEATURES_MESSAGE;
            case SET_FEATURES -> new SetFeatures(b.getLong(0));
            case SET_OWNER -> SET_OWNER_MESSAGE;
            case RESET_OWNER -> RESET_OWNER_MESSAGE;
            case SET_MEM_TABLE -> new SetMemTable(readTable(b, o), fds);
            case SET_LOG_BASE -> new SetLogBase(readLog(b), one(fds));
            case SET_LOG_FD -> new SetLogFd(one(fds));
            case SET_VRING_NUM -> new SetVringNum(readState(b));
            case SET_VRING_ADDR -> new SetVringAddr(readAddr(b));
            case SET_VRING_BASE -> new SetVringBase(readState(b));
            case GET_VRING_BASE -> new GetVringBase(readState(b));
            case SET_VRING_KICK -> new SetVringKick(VringFd.fromWire(b.getLong(0)), optional(fds));
            case SET_VRING_CALL -> new SetVringCall(VringFd.fromWire(b.getLong(0)), optional(fds));
            case SET_VRING_ERR -> new SetVringErr(VringFd.fromWire(b.getLong(0)), optional(fds));
            case GET_PROTOCOL_FEATURES -> GET_PROTOCOL_FEATURES_MESSAGE;
            case SET_PROTOCOL_FEATURES -> new SetProtocolFeatures(b.getLong(0));
            case GET_QUEUE_NUM -> GET_QUEUE_NUM_MESSAGE;
            case SET_VRING_ENABLE -> new SetVringEnable(readState(b));
            case SEND_RARP -> new SendRarp(new MacAddress(b.getLong(0)));
            case NET_SET_MTU -> new NetSetMtu(b.getLong(0));
            case SET_BACKEND_REQ_FD -> new SetBackendReqFd(one(fds));
            case IOTLB_MSG -> new IotlbMsg(readIotlb(b));
            case SET_VRING_ENDIAN -> new SetVringEndian(readState(b));
            case GET_CONFIG -> new GetConfig(readConfig(b, o));
            case SET_CONFIG -> new SetConfig(readConfig(b, o));
            case CREATE_CRYPTO_SESSION -> new CreateCryptoSession(readCrypto(b));
            case CLOSE_CRYPTO_SESSION -> new CloseCryptoSession(b.getLong(0));
            case POSTCOPY_ADVISE -> POSTCOPY_ADVISE_MESSAGE;
            case POSTCOPY_LISTEN -> POSTCOPY_LISTEN_MESSAGE;
            case POSTCOPY_END -> POSTCOPY_END_MESSAGE;
            case GET_INFLIGHT_FD -> new GetInflightFd(readInflight(b));
            case SET_INFLIGHT_FD -> new SetInflightFd(readInflight(b), one(fds));
            case GPU_SET_SOCKET -> new GpuSetSocket(one(fds));
            case RESET_DEVICE -> RESET_DEVICE_MESSAGE;
            case VRING_KICK -> new VringKick(readState(b));
            case GET_MAX_MEM_SLOTS -> GET_MAX_MEM_SLOTS_MESSAGE;
            case ADD_MEM_REG -> new AddMemReg(readSingleRegion(b, o), one(fds));
            case REM_MEM_REG -> new RemMemReg(readSingleRegion(b, o), optional(fds));
            case SET_STATUS -> new SetStatus(b.getLong(0));
            case GET_STATUS -> GET_STATUS_MESSAGE;
            case GET_SHARED_OBJECT -> new GetSharedObject(readShared(b));
            case SET_DEVICE_STATE_FD -> new SetDeviceStateFd(readDeviceState(b), one(fds));
            case CHECK_DEVICE_STATE -> CHECK_DEVICE_STATE_MESSAGE;
            case GET_SHMEM_CONFIG -> GET_SHMEM_CONFIG_MESSAGE;
            case GET_VRING_BASE_SKIP_DRAIN -> new GetVringBaseSkipDrain(readState(b));
        };
    }

    private static BackendMessage parseBackend(BackendRequest r, ByteBuffer b, List<Fd> fds) {
        return switch (r) {
            case BACKEND_IOTLB_MSG -> new BackendMessage.IotlbMiss(readIotlb(b));
            case BACKEND_CONFIG_CHANGE_MSG -> new BackendMessage.ConfigChange();
            case BACKEND_VRING_HOST_NOTIFIER_MSG -> new BackendMessage.VringHostNotifier(readArea(b), optional(fds));
            case BACKEND_VRING_CALL -> new BackendMessage.VringCall(readState(b));
            case BACKEND_VRING_ERR -> new BackendMessage.VringErr(readState(b));
            case BACKEND_SHARED_OBJECT_ADD -> new BackendMessage.SharedObjectAdd(readShared(b));
            case BACKEND_SHARED_OBJECT_REMOVE -> new BackendMessage.SharedObjectRemove(readShared(b));
            case BACKEND_SHARED_OBJECT_LOOKUP -> new BackendMessage.SharedObjectLookup(readShared(b));
            case BACKEND_SHMEM_MAP -> new BackendMessage.ShmemMap(readMmap(b), one(fds));
            case BACKEND_SHMEM_UNMAP -> new BackendMessage.ShmemUnmap(readMmap(b));
        };
    }

    private static Reply parseReply(Request r, ByteBuffer b, List<Fd> fds, CodecOptions o) {
        return switch (r.replyBody()) {
            case U64 -> new Reply.U64(b.getLong(0), optional(fds));
            case U64_OR_EMPTY -> b.limit() == 0 ? new Reply.Empty() : new Reply.U64(b.getLong(0));
            case VRING_STATE -> new Reply.VringBase(readState(b));
            case CONFIG_OR_EMPTY -> b.limit() == 0 ? new Reply.Empty() : new Reply.Config(readConfig(b, o));
            case INFLIGHT -> new Reply.Inflight(readInflight(b), one(fds));
            case SHMEM_CONFIG -> new Reply.ShmemConfigReply(readShmemConfig(b));
            case MEMORY_TABLE -> new Reply.MemoryTableReply(readTable(b, o));
            case SINGLE_REGION -> new Reply.MemoryRegionReply(readSingleRegion(b, o));
            case CRYPTO_SESSION -> new Reply.CryptoSessionReply(readCrypto(b));
            default -> throw new IllegalStateException("no reply parser for " + r.replyBody() + " of " + r);
        };
    }

    // ---------------------------------------------------------------- encode

    /**
     * Encodes a front-end request into a sender's {@link OutBuffer} from position 0, growing it once if the message
     * does not fit, and leaves it flipped for sending.
     *
     * @param message the request
     * @param flags 0 or {@link HeaderFlags#NEED_REPLY}; the version bits are added
     * @param out the sender's buffer; on return it holds the message, flipped
     * @param options session facts (XEN_MMAP region layout)
     * @return the fds to send with the message, in order; still owned by {@code message}
     * @throws IllegalArgumentException if flags has other bits, or the fds break the table's rule
     */
    public static List<Fd> encode(FrontendMessage message, int flags, OutBuffer out, CodecOptions options) {
        try {
            return out.flipped(encode(message, flags, out.cleared(), options));
        } catch (BufferOverflowException e) {
            return out.flipped(encode(message, flags, out.grownAfter(e), options));
        }
    }

    /**
     * As {@link #encode(FrontendMessage, int, OutBuffer, CodecOptions)}, for a request of the back-end.
     *
     * @param message the request
     * @param flags 0 or {@link HeaderFlags#NEED_REPLY}
     * @param out the sender's buffer; on return it holds the message, flipped
     * @param options session facts
     * @return the fds to send, still owned by {@code message}
     */
    public static List<Fd> encode(BackendMessage message, int flags, OutBuffer out, CodecOptions options) {
        try {
            return out.flipped(encode(message, flags, out.cleared(), options));
        } catch (BufferOverflowException e) {
            return out.flipped(encode(message, flags, out.grownAfter(e), options));
        }
    }

    /**
     * As {@link #encodeReply(Request, Reply, ByteBuffer, CodecOptions)}, into a sender's {@link OutBuffer}.
     *
     * @param request the request answered
     * @param reply the reply
     * @param out the sender's buffer; on return it holds the reply, flipped
     * @param options session facts
     * @return the fds to send, still owned by {@code reply}
     */
    public static List<Fd> encodeReply(Request request, Reply reply, OutBuffer out, CodecOptions options) {
        try {
            return out.flipped(encodeReply(request, reply, out.cleared(), options));
        } catch (BufferOverflowException e) {
            return out.flipped(encodeReply(request, reply, out.grownAfter(e), options));
        }
    }

    /**
     * Encodes a front-end request (header and payload) at {@code dst}'s position, advancing it.
     *
     * @param message the request
     * @param flags 0 or {@link HeaderFlags#NEED_REPLY}; the version bits are added
     * @param dst a buffer with at least {@link #MAX_MESSAGE_BYTES} remaining (or the exact message size)
     * @param options session facts (XEN_MMAP region layout)
     * @return the fds to send with the message, in order; still owned by {@code message}
     * @throws IllegalArgumentException if flags has other bits, or the fds break the table's rule
     * @throws java.nio.BufferOverflowException if {@code dst} is too small
     */
    public static List<Fd> encode(FrontendMessage message, int flags, ByteBuffer dst, CodecOptions options) {
        checkRequestFlags(flags);
        List<Fd> fds = message.fds(); // once: a record with an fd builds the list on each call
        checkFdCount(message.request(), message.request().fds(), fds.size());
        ByteBuffer b = begin(dst, message.request().id(), HeaderFlags.VERSION | flags);
        switch (message) {
            case GetFeatures m -> { }
            case SetFeatures m -> b.putLong(m.features());
            case SetOwner m -> { }
            case ResetOwner m -> { }
            case SetMemTable m -> writeTable(b, m.table(), options);
            case SetLogBase m -> b.putLong(m.log().sizeBytes()).putLong(m.log().offset());
            case SetLogFd m -> { }
            case SetVringNum m -> writeState(b, m.state());
            case SetVringAddr m -> writeAddr(b, m.address());
            case SetVringBase m -> writeState(b, m.state());
            case GetVringBase m -> writeState(b, m.state());
            case SetVringKick m -> b.putLong(m.vring().toWire());
            case SetVringCall m -> b.putLong(m.vring().toWire());
            case SetVringErr m -> b.putLong(m.vring().toWire());
            case GetProtocolFeatures m -> { }
            case SetProtocolFeatures m -> b.putLong(m.features());
            case GetQueueNum m -> { }
            case SetVringEnable m -> writeState(b, m.state());
            case SendRarp m -> b.putLong(m.mac().bits());
            case NetSetMtu m -> b.putLong(m.mtu());
            case SetBackendReqFd m -> { }
            case IotlbMsg m -> writeIotlb(b, m.message());
            case SetVringEndian m -> writeState(b, m.state());
            case GetConfig m -> writeConfig(b, m.config());
            case SetConfig m -> writeConfig(b, m.config());
            case CreateCryptoSession m -> writeCrypto(b, m.session());
            case CloseCryptoSession m -> b.putLong(m.sessionId());
            case PostcopyAdvise m -> { }
            case PostcopyListen m -> { }
            case PostcopyEnd m -> { }
            case GetInflightFd m -> writeInflight(b, m.inflight());
            case SetInflightFd m -> writeInflight(b, m.inflight());
            case GpuSetSocket m -> { }
            case ResetDevice m -> { }
            case VringKick m -> writeState(b, m.state());
            case GetMaxMemSlots m -> { }
            case AddMemReg m -> writeSingleRegion(b, m.region(), options);
            case RemMemReg m -> writeSingleRegion(b, m.region(), options);
            case SetStatus m -> b.putLong(m.status());
            case GetStatus m -> { }
            case GetSharedObject m -> writeShared(b, m.object());
            case SetDeviceStateFd m -> b.putInt(m.params().direction().ordinal()).putInt(m.params().phase().ordinal());
            case CheckDeviceState m -> { }
            case GetShmemConfig m -> { }
            case GetVringBaseSkipDrain m -> writeState(b, m.state());
        }
        finish(dst, b);
        return fds;
    }

    /**
     * Encodes a back-end request at {@code dst}'s position, advancing it.
     *
     * @param message the request
     * @param flags 0 or {@link HeaderFlags#NEED_REPLY}
     * @param dst a buffer with enough room ({@link #MAX_MESSAGE_BYTES})
     * @param options session facts
     * @return the fds to send, still owned by {@code message}
     * @throws IllegalArgumentException if flags has other bits, or the fds break the table's rule
     */
    public static List<Fd> encode(BackendMessage message, int flags, ByteBuffer dst, CodecOptions options) {
        checkRequestFlags(flags);
        List<Fd> fds = message.fds(); // once: a record with an fd builds the list on each call
        checkFdCount(message.request(), message.request().fds(), fds.size());
        ByteBuffer b = begin(dst, message.request().id(), HeaderFlags.VERSION | flags);
        switch (message) {
            case BackendMessage.IotlbMiss m -> writeIotlb(b, m.message());
            case BackendMessage.ConfigChange m -> { }
            case BackendMessage.VringHostNotifier m ->
                b.putLong(m.area().vring().toWire()).putLong(m.area().sizeBytes()).putLong(m.area().offset());
            case BackendMessage.VringCall m -> writeState(b, m.state());
            case BackendMessage.VringErr m -> writeState(b, m.state());
            case BackendMessage.SharedObjectAdd m -> writeShared(b, m.object());
            case BackendMessage.SharedObjectRemove m -> writeShared(b, m.object());
            case BackendMessage.SharedObjectLookup m -> writeShared(b, m.object());
            case BackendMessage.ShmemMap m -> writeMmap(b, m.mapping());
            case BackendMessage.ShmemUnmap m -> writeMmap(b, m.mapping());
        }
        finish(dst, b);
        return fds;
    }

    /**
     * Encodes the reply to {@code request} (flags = version | REPLY) at {@code dst}'s position, advancing it. A
     * {@link Reply.U64} is accepted for every request that does not always reply (a reply-ack); otherwise the reply
     * type must match the request's reply body.
     *
     * @param request the request answered
     * @param reply the reply
     * @param dst a buffer with enough room
     * @param options session facts
     * @return the fds to send, still owned by {@code reply}
     * @throws IllegalArgumentException if the reply type or its fds do not fit the request's table row
     */
    public static List<Fd> encodeReply(Request request, Reply reply, ByteBuffer dst, CodecOptions options) {
        boolean ack = reply instanceof Reply.U64 && request.reply() != ReplyKind.ALWAYS;
        Body body = request.replyBody();
        boolean fits = ack || switch (reply) {
            case Reply.U64 r -> body == Body.U64 || body == Body.U64_OR_EMPTY;
            case Reply.Empty r -> body == Body.U64_OR_EMPTY || body == Body.CONFIG_OR_EMPTY;
            case Reply.VringBase r -> body == Body.VRING_STATE;
            case Reply.Config r -> body == Body.CONFIG_OR_EMPTY;
            case Reply.Inflight r -> body == Body.INFLIGHT;
            case Reply.ShmemConfigReply r -> body == Body.SHMEM_CONFIG;
            case Reply.MemoryTableReply r -> body == Body.MEMORY_TABLE;
            case Reply.MemoryRegionReply r -> body == Body.SINGLE_REGION;
            case Reply.CryptoSessionReply r -> body == Body.CRYPTO_SESSION;
        };
        if (!fits) {
            throw new IllegalArgumentException(request.name() + " cannot reply with " + reply.getClass().getSimpleName()
                    + " (reply body " + body + ")");
        }
        List<Fd> fds = reply.fds(); // once: a reply with an fd builds the list on each call
        checkFdCount(request, ack ? Fds.NONE : request.replyFds(), fds.size());
        ByteBuffer b = begin(dst, request.id(), HeaderFlags.VERSION | HeaderFlags.REPLY);
        switch (reply) {
            case Reply.U64 r -> b.putLong(r.value());
            case Reply.Empty r -> { }
            case Reply.VringBase r -> writeState(b, r.state());
            case Reply.Config r -> writeConfig(b, r.config());
            case Reply.Inflight r -> writeInflight(b, r.inflight());
            case Reply.ShmemConfigReply r -> {
                b.putInt((int) r.config().numRegions()).putInt(0);
                r.config().sizes().forEach(b::putLong);
            }
            case Reply.MemoryTableReply r -> writeTable(b, r.table(), options);
            case Reply.MemoryRegionReply r -> writeSingleRegion(b, r.region(), options);
            case Reply.CryptoSessionReply r -> writeCrypto(b, r.session());
        }
        finish(dst, b);
        return fds;
    }

    private static void checkRequestFlags(int flags) {
        if ((flags & ~HeaderFlags.NEED_REPLY) != 0) {
            throw new IllegalArgumentException("request flags 0x" + Integer.toHexString(flags)
                    + " may only contain NEED_REPLY (0x8)");
        }
    }

    private static void checkFdCount(Request r, Fds rule, int n) {
        if (n < rule.min() || n > rule.max()) {
            throw new IllegalArgumentException(r.name() + " carries " + n + " fds, the table says " + rule.rule());
        }
    }

    /**
     * Writes a header with size 0 and returns the buffer the message goes on in: {@code dst} itself when it starts at
     * 0 in native order (the engines' send buffers), else a native-order slice from its position.
     */
    private static ByteBuffer begin(ByteBuffer dst, int request, int flags) {
        ByteBuffer b = dst.position() == 0 && dst.order() == NATIVE ? dst : dst.slice().order(NATIVE);
        b.putInt(request).putInt(flags).putInt(0);
        return b;
    }

    /** Sets the header's size and moves {@code dst} past the message written on {@code b} (see {@link #begin}). */
    private static void finish(ByteBuffer dst, ByteBuffer b) {
        int total = b.position();
        b.putInt(HDR_SIZE, total - HDR_BYTES);
        if (b != dst) {
            dst.position(dst.position() + total);
        }
    }
}
