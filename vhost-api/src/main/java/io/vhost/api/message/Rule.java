package io.vhost.api.message;

import java.util.Objects;

/**
 * The rules of one request, as one row of the protocol rule table: wire id, request body, request fds, gate, reply
 * kind, reply body, reply fds and whether the request is provisional. Each {@link FrontendRequest} and
 * {@link BackendRequest} constant holds one; {@link Request} reads its accessors from it.
 *
 * @param id the wire id carried in the header's {@code request} field
 * @param body the request payload shape and size rule
 * @param fds how many fds the request carries
 * @param gate the feature that must be negotiated before the request may be sent
 * @param reply when the request gets a reply
 * @param replyBody the shape of the reply body ({@link Body#U64} for a bare ack)
 * @param replyFds how many fds the reply carries
 * @param provisional whether the request comes from the newest, not yet merged specification series
 */
public record Rule(int id, Body body, Fds fds, Gate gate, ReplyKind reply, Body replyBody, Fds replyFds,
        boolean provisional) {

    /**
     * Checks the row.
     *
     * @throws IllegalArgumentException if the id is not positive
     * @throws NullPointerException if any shape, fd rule, gate or reply kind is missing
     */
    public Rule {
        if (id <= 0) {
            throw new IllegalArgumentException("request id " + id + " must be positive");
        }
        Objects.requireNonNull(body, "body");
        Objects.requireNonNull(fds, "fds");
        Objects.requireNonNull(gate, "gate");
        Objects.requireNonNull(reply, "reply");
        Objects.requireNonNull(replyBody, "replyBody");
        Objects.requireNonNull(replyFds, "replyFds");
    }
}
