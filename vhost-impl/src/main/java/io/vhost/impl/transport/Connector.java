package io.vhost.impl.transport;

import io.vhost.api.error.NativeCallException;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.impl.sys.Errno;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Client mode: connects to a listening path, retrying with exponential backoff (10 ms doubling up to 1 s) while the
 * path does not exist yet, nobody listens, or the backlog is full, until an attempt limit or deadline.
 */
public final class Connector {

    private static final long FIRST_BACKOFF_NANOS = Duration.ofMillis(10).toNanos();
    private static final long MAX_BACKOFF_NANOS = Duration.ofSeconds(1).toNanos();

    private Connector() {
    }

    /**
     * Connects, retrying transient failures.
     *
     * @param path the server's socket path
     * @param kind the implementation of the connection
     * @param timeout how long to keep trying; {@link Duration#ZERO} tries once
     * @param maxAttempts the most attempts, at least 1
     * @return the connection, owned by the caller
     * @throws PeerDisconnectedException (recovery RECONNECT) if no attempt succeeded, with the last error as cause
     * @throws InterruptedIOException if interrupted while backing off
     * @throws IOException on a non-transient error (for example a path that is too long or permission denied)
     */
    public static Connection connect(Path path, TransportKind kind, Duration timeout, int maxAttempts)
            throws IOException {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be at least 1, got " + maxAttempts);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        long backoff = FIRST_BACKOFF_NANOS;
        NativeCallException last = null;
        for (int attempt = 1; attempt <= maxAttempts; attempt++) {
            OwnedFd s = Sockets.socket(Sockets.SOCK_NONBLOCK, "client socket to " + path);
            try {
                Sockets.connect(s.number(), path.toString());
                return Transports.wrap(s, kind, path.toString());
            } catch (NativeCallException e) {
                s.close();
                int errno = e.errno();
                if (errno != Errno.ENOENT && errno != Errno.ECONNREFUSED && errno != Errno.EAGAIN) {
                    throw e;
                }
                last = e;
            } catch (IOException | RuntimeException e) {
                s.close();
                throw e;
            }
            long left = deadline - System.nanoTime();
            if (attempt == maxAttempts || left <= 0) {
                break;
            }
            try {
                Thread.sleep(Duration.ofNanos(Math.min(backoff, left)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting to reconnect to " + path);
            }
            backoff = Math.min(backoff * 2, MAX_BACKOFF_NANOS);
        }
        throw new PeerDisconnectedException("cannot connect to " + path + " within " + timeout.toMillis() + " ms and "
                + maxAttempts + " attempts: " + (last == null ? "no attempt" : last.getMessage()), last);
    }
}
