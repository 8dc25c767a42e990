package io.vhost.impl.transport;

import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import java.util.List;

/** Shared checks and messages of both transports. */
final class Frames {

    private Frames() {
    }

    static void checkFdCount(List<? extends Fd> fds) {
        if (fds.size() > Connection.MAX_FDS) {
            throw new IllegalArgumentException("a vhost-user message carries at most " + Connection.MAX_FDS
                    + " fds, got " + fds.size() + "; nothing was sent");
        }
    }

    static PeerDisconnectedException eofInHeader(String description, int got, int wanted, List<Fd> fds) {
        closeAll(fds);
        if (got == 0) {
            return new PeerDisconnectedException(description + ": peer closed the connection at a message boundary");
        }
        return new PeerDisconnectedException(description + ": peer closed the connection after " + got + " of "
                + wanted + " header bytes" + closedNote(fds));
    }

    static PeerDisconnectedException eofInPayload(String description, int got, int wanted) {
        return new PeerDisconnectedException(description + ": peer closed the connection after " + got + " of "
                + wanted + " payload bytes");
    }

    static PeerDisconnectedException closed(String description) {
        return new PeerDisconnectedException(description + " is closed");
    }

    static PeerDisconnectedException shutDown(String description) {
        return new PeerDisconnectedException(description + " was shut down locally");
    }

    static ProtocolViolationException fdsInPayload(String description, int count) {
        return new ProtocolViolationException(description + ": " + count
                + " fds arrived with payload bytes (fds may only come with a header); closed them");
    }

    static void closeAll(List<Fd> fds) {
        for (Fd fd : fds) {
            fd.close();
        }
    }

    private static String closedNote(List<Fd> fds) {
        return fds.isEmpty() ? "" : "; closed the " + fds.size() + " fds received with them";
    }

    /** Checks the arguments of {@link Connection#receiveAtLeast}. */
    static void checkAtLeast(java.nio.ByteBuffer buffer, int minBytes) {
        if (minBytes < 1 || minBytes > buffer.remaining()) {
            throw new IllegalArgumentException("minBytes " + minBytes + " is not between 1 and the " + buffer.remaining()
                    + " bytes remaining");
        }
    }

    /** Checks the header buffer of {@link Connection#receiveMessage}. */
    static void checkHeader(java.nio.ByteBuffer header) {
        if (header.remaining() != ReadAhead.HEADER_BYTES) {
            throw new IllegalArgumentException("a vhost-user header is 12 bytes; the buffer has " + header.remaining()
                    + " remaining");
        }
    }
}
