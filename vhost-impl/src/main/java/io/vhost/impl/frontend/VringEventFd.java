package io.vhost.impl.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.VhostException;
import io.vhost.api.frontend.VhostFrontend;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.VringFd;
import java.util.Optional;
import java.util.function.BiFunction;

/**
 * The three per-ring eventfds a front-end hands over (SET_VRING_CALL, SET_VRING_ERR, SET_VRING_KICK), which share one
 * body, one fd rule and one way of being recorded. Declared in the order a reconnect replays them (QEMU's).
 */
enum VringEventFd {
    CALL("call eventfd", FrontendMessage.SetVringCall::new),
    ERR("error eventfd", FrontendMessage.SetVringErr::new),
    KICK("kick eventfd", FrontendMessage.SetVringKick::new);

    private final String role;
    private final BiFunction<VringFd, Optional<Fd>, FrontendMessage> message;

    VringEventFd(String role, BiFunction<VringFd, Optional<Fd>, FrontendMessage> message) {
        this.role = role;
        this.message = message;
    }

    /** What the fd is, for naming a duplicate ("kick eventfd"). */
    String role() {
        return role;
    }

    /** The request setting this fd of {@code queue}, or polling (the NOFD bit) when {@code fd} is empty. */
    FrontendMessage message(int queue, Optional<Fd> fd) {
        return message.apply(new VringFd(queue, fd.isEmpty()), fd);
    }

    /** Sets this fd of {@code queue} again through the public API (the replay on reconnect). */
    void set(VhostFrontend frontend, int queue, Optional<Fd> fd) throws VhostException {
        switch (this) {
            case CALL -> frontend.setVringCall(queue, fd);
            case ERR -> frontend.setVringErr(queue, fd);
            case KICK -> frontend.setVringKick(queue, fd);
        }
    }
}
