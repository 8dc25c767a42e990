package io.vhost.impl.codec;

/** What the caller expects to read next: a request (REPLY flag clear) or a reply (REPLY flag set). */
public enum Expect {
    /** A request: the REPLY flag must be clear. */
    REQUEST,
    /** A reply: the REPLY flag must be set (NEED_REPLY is ignored). */
    REPLY
}
