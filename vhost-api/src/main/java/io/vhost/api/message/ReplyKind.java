package io.vhost.api.message;

/**
 * When a request gets a reply. Whatever the kind, a reply carries the request's code and the REPLY flag.
 */
public enum ReplyKind {
    /** No reply, except a u64 ack (0 = success) when NEED_REPLY is set and REPLY_ACK was negotiated. */
    ACK_IF_ASKED,
    /** Always replies with the request's reply body; NEED_REPLY changes nothing (no second ack). */
    ALWAYS,
    /** Replies with the reply body when the request's gating protocol feature is negotiated, else as ACK_IF_ASKED. */
    IF_GATE,
    /** Replies with the reply body only after {@code POSTCOPY_LISTEN} (postcopy), else as ACK_IF_ASKED. */
    POSTCOPY
}
