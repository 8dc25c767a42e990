package io.vhost.api.message;

/**
 * The bits of the {@code flags} word of the 12-byte vhost-user message header (spec §Header).
 */
public final class HeaderFlags {

    /** Bits 0-1: the protocol version. */
    public static final int VERSION_MASK = 0x3;
    /** The only defined protocol version, carried in {@link #VERSION_MASK}. */
    public static final int VERSION = 0x1;
    /** Bit 2: the message is a reply. */
    public static final int REPLY = 0x4;
    /** Bit 3: the sender asks for a reply-ack (with {@code REPLY_ACK} negotiated). */
    public static final int NEED_REPLY = 0x8;
    /** Every defined bit; any other bit is reserved and must be zero. */
    public static final int KNOWN_MASK = VERSION_MASK | REPLY | NEED_REPLY;
    /** The size of the header in bytes: request u32, flags u32, size u32. */
    public static final int HEADER_SIZE = 12;
    /** Most fds one message may carry (spec §Back-end communication; all known peers use 8 on both channels). */
    public static final int MAX_FDS = 8;

    private HeaderFlags() {
    }
}
