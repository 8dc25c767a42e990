package io.vhost.impl.transport;

import io.vhost.impl.poll.Poller;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicLong;

/** Factory for {@link Connection}s: wraps connected sockets and makes socket pairs. */
public final class Transports {

    private static final AtomicLong PAIRS = new AtomicLong();

    private Transports() {
    }

    /**
     * Wraps a connected unix stream socket; the connection takes ownership of it.
     *
     * @param socket the connected socket; on success it is owned by the returned connection, on failure closed
     * @param kind the implementation
     * @param description a short name for logs ("/run/blk0.sock#3")
     * @return the connection
     * @throws IOException if the socket cannot be set up
     */
    public static Connection wrap(OwnedFd socket, TransportKind kind, String description) throws IOException {
        OwnedFd owned = socket.take(socket.role());
        try {
            return switch (kind) {
                case FFM -> new FfmConnection(owned, description, Poller.shared());
                case JUNIXSOCKET -> new JunixConnection(owned, description);
            };
        } catch (IOException | RuntimeException e) {
            owned.close();
            throw e;
        }
    }

    /**
     * Creates two connected connections over {@code socketpair(AF_UNIX, SOCK_STREAM)}, for tests and for
     * in-process channels (for example the back-end request channel).
     *
     * @param kind the implementation of both ends
     * @return two connections, each owned by the caller
     * @throws IOException if socketpair fails
     */
    public static Connection[] socketPair(TransportKind kind) throws IOException {
        String name = "socketpair#" + PAIRS.incrementAndGet();
        OwnedFd[] ends = Sockets.socketPair(0, name);
        Connection first = null;
        try {
            first = wrap(ends[0], kind, name + "/0");
            Connection second = wrap(ends[1], kind, name + "/1");
            return new Connection[] {first, second};
        } catch (IOException | RuntimeException e) {
            ends[1].close();
            if (first != null) {
                first.close();
            }
            throw e;
        }
    }

    /**
     * Creates a socket pair of the {@linkplain TransportKind#configured() configured} kind.
     *
     * @return two connections
     * @throws IOException if socketpair fails
     */
    public static Connection[] socketPair() throws IOException {
        return socketPair(TransportKind.configured());
    }
}
