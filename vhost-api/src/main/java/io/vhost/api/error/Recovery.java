package io.vhost.api.error;

/** What a caller can do after a {@link VhostException}. */
public enum Recovery {
    /** The same operation may succeed if tried again (a transient condition, for example EAGAIN). */
    RETRY,
    /** The connection is unusable; open a new one and replay the set-up. */
    RECONNECT,
    /** Retrying will not help: the request, the configuration or the peer is wrong. */
    FAIL
}
