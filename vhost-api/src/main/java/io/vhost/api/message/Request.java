package io.vhost.api.message;

/**
 * One row of the protocol rule table: a request's wire id and every rule the codec and engines apply to it.
 * Implemented by {@link FrontendRequest} (main socket) and {@link BackendRequest} (back-end channel); no other code
 * restates these facts.
 */
public sealed interface Request permits FrontendRequest, BackendRequest {

    /**
     * Returns this request's row of the rule table; every other accessor reads it.
     *
     * @return the rules of this request
     */
    Rule rule();

    /**
     * Returns the wire id carried in the header's {@code request} field.
     *
     * @return the request id
     */
    default int id() {
        return rule().id();
    }

    /**
     * Returns the enum constant name, the spec name without its {@code VHOST_USER_} prefix.
     *
     * @return e.g. {@code SET_VRING_KICK}
     */
    String name();

    /**
     * Returns the request payload shape and size rule.
     *
     * @return the request body
     */
    default Body body() {
        return rule().body();
    }

    /**
     * Returns how many fds the request carries.
     *
     * @return the request fd rule
     */
    default Fds fds() {
        return rule().fds();
    }

    /**
     * Returns the feature that must be negotiated before the request may be sent.
     *
     * @return the gate
     */
    default Gate gate() {
        return rule().gate();
    }

    /**
     * Returns when the request gets a reply.
     *
     * @return the reply kind
     */
    default ReplyKind reply() {
        return rule().reply();
    }

    /**
     * Returns the shape of the reply body ({@link Body#U64} for a bare ack).
     *
     * @return the reply body
     */
    default Body replyBody() {
        return rule().replyBody();
    }

    /**
     * Returns how many fds the reply carries.
     *
     * @return the reply fd rule
     */
    default Fds replyFds() {
        return rule().replyFds();
    }

    /**
     * Tells whether this request comes from the newest, not yet merged specification series.
     *
     * @return {@code true} if provisional
     */
    default boolean provisional() {
        return rule().provisional();
    }

    /**
     * Returns the full specification name, e.g. {@code VHOST_USER_SET_VRING_KICK}.
     *
     * @return the name as the specification writes it
     */
    default String specName() {
        return "VHOST_USER_" + name();
    }
}
