package io.vhost.impl.transport;

import io.vhost.api.Fd;
import io.vhost.api.error.NativeCallException;
import io.vhost.impl.poll.Poller;
import io.vhost.impl.sys.Errno;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import io.vhost.impl.sys.Unistd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A listening unix stream socket (vhost-user server mode) that produces {@link Connection}s.
 *
 * <p>{@link #bind} refuses a path that exists and is not a socket, refuses a socket somebody listens on, and replaces
 * a stale socket nobody listens on. {@link #close()} unlinks the path if this listener created it and it still is the
 * same file. {@link #accept()} is safe on virtual threads (it waits through the shared poller) and on platform
 * threads (it waits in {@code poll(2)} in 100 ms slices); {@link #close()} from another thread wakes a blocked accept
 * (a platform thread within one slice), which throws {@link IOException} "... closed", and closes the socket once no
 * accept uses it.
 */
public final class Listener implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Listener.class.getName());
    private static final int BACKLOG = 16;
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;
    private static final int PLATFORM_POLL_SLICE_MILLIS = 100;

    private final OwnedFd socket;
    private final int fd;
    private final Path path;
    private final Object fileKey;
    private final TransportKind kind;
    private final String description;
    private final AtomicInteger accepted = new AtomicInteger();
    private final ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();
    private volatile boolean closed;
    private final Object closeLock = new Object();

    private Listener(OwnedFd socket, Path path, Object fileKey, TransportKind kind, String description) {
        this.socket = socket;
        this.fd = socket.number();
        this.path = path;
        this.fileKey = fileKey;
        this.kind = kind;
        this.description = description;
    }

    /**
     * Binds and listens on {@code path}.
     *
     * @param path the socket path (at most 107 bytes)
     * @param kind the implementation of accepted connections
     * @return the listener, owner of the socket and of the path it created
     * @throws IOException if the path exists and is not a socket, is in use by a listener, or bind fails
     */
    public static Listener bind(Path path, TransportKind kind) throws IOException {
        String where = path.toString();
        OwnedFd s = Sockets.socket(Sockets.SOCK_NONBLOCK, "listening socket " + where);
        try {
            try {
                Sockets.bind(s.number(), where);
            } catch (NativeCallException e) {
                if (e.errno() != Errno.EADDRINUSE) {
                    throw e;
                }
                removeStale(path);
                Sockets.bind(s.number(), where);
            }
            Object key = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            Sockets.listen(s.number(), BACKLOG);
            return new Listener(s, path, key, kind, where);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /**
     * Adopts an inherited listening socket (the vhost-user {@code --fd} convention); the path is not unlinked on close.
     *
     * @param listening the inherited descriptor; on success owned by the listener, on failure left to the caller
     * @param kind the implementation of accepted connections
     * @return the listener
     * @throws IOException if the descriptor is not a listening unix stream socket
     */
    public static Listener adopt(Fd listening, TransportKind kind) throws IOException {
        int number = listening.number();
        int domain;
        int type;
        int acceptConn;
        try {
            domain = Sockets.getIntOption(number, Sockets.SOL_SOCKET, Sockets.SO_DOMAIN);
            type = Sockets.getIntOption(number, Sockets.SOL_SOCKET, Sockets.SO_TYPE);
            acceptConn = Sockets.getIntOption(number, Sockets.SOL_SOCKET, Sockets.SO_ACCEPTCONN);
        } catch (NativeCallException e) {
            throw new IOException("inherited fd " + number + " (" + listening.role() + ") is not a socket: "
                    + e.getMessage(), e);
        }
        if (domain != Sockets.AF_UNIX || type != Sockets.SOCK_STREAM || acceptConn == 0) {
            throw new IOException("inherited fd " + number + " (" + listening.role() + ") is not a listening unix "
                    + "stream socket (domain " + domain + ", type " + type + ", listening " + (acceptConn != 0) + ")");
        }
        Unistd.setNonBlocking(number, true);
        OwnedFd owned = OwnedFd.of(number, "inherited listening socket fd " + number);
        if (listening instanceof OwnedFd o) {
            o.release();
        } else {
            listening.take(); // ownership moves to "owned"; the returned owner is dropped unclosed
        }
        return new Listener(owned, null, null, kind, "inherited fd " + number);
    }

    /**
     * Waits for and accepts one connection.
     *
     * @return the connection, owned by the caller
     * @throws IOException if the listener is closed (also while waiting) or accept fails
     */
    public Connection accept() throws IOException {
        inUse.readLock().lock();
        try {
            while (true) {
                if (closed) {
                    throw new IOException("listener " + description + " closed");
                }
                int n = accepted.get() + 1;
                OwnedFd conn = Sockets.accept(fd, 0, "connection " + description + "#" + n);
                if (conn != null) {
                    accepted.incrementAndGet();
                    return Transports.wrap(conn, kind, description + "#" + n);
                }
                if (Thread.currentThread().isVirtual()) {
                    Poller.shared().awaitReadable(fd); // close() wakes this through Poller.wakeup
                } else {
                    Unistd.poll(fd, Unistd.POLLIN, PLATFORM_POLL_SLICE_MILLIS); // re-checks closed each slice
                }
            }
        } finally {
            inUse.readLock().unlock();
        }
    }

    /**
     * Returns the bound path.
     *
     * @return the path, or {@code null} for an adopted socket
     */
    public Path path() {
        return path;
    }

    /**
     * Describes the listener for logs.
     *
     * @return the path or "inherited fd N"
     */
    public String description() {
        return description;
    }

    /**
     * Wakes a blocked {@link #accept()}, closes the socket and unlinks the path this listener created. A concurrent
     * second call waits until the first is done, so that a return always means the path is gone (a program that
     * exits right after closing must not race a signal handler's close that is still unlinking).
     */
    @Override
    public void close() {
        synchronized (closeLock) {
            if (closed) {
                return;
            }
            closed = true;
            closeNow();
        }
    }

    private void closeNow() {
        // An accept() may have checked `closed` just before and not yet registered with the poller, so a single
        // wakeup can be lost (it then parks for good and this close waits on the lock forever): wake until it left.
        boolean interrupted = false;
        while (true) {
            Poller.shared().wakeup(fd);
            try {
                if (inUse.writeLock().tryLock(10, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    break;
                }
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        try {
            socket.close();
        } finally {
            inUse.writeLock().unlock();
        }
        if (path != null) {
            try {
                Object key = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
                        .fileKey();
                if (key != null && key.equals(fileKey)) {
                    Files.deleteIfExists(path);
                }
            } catch (NoSuchFileException e) {
                // somebody removed it already
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, description + ": cannot unlink the socket path: " + e);
            }
        }
    }

    @Override
    public String toString() {
        return "Listener[" + description + (closed ? ", closed]" : "]");
    }

    private static void removeStale(Path path) throws IOException {
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new IOException("refusing to replace " + path + ": it exists and is not a socket");
        }
        try (OwnedFd probe = Sockets.socket(Sockets.SOCK_NONBLOCK, "probe of " + path)) {
            Sockets.connect(probe.number(), path.toString());
            throw new IOException("cannot listen on " + path + ": another process is listening on it");
        } catch (NativeCallException e) {
            if (e.errno() == Errno.EAGAIN) {
                throw new IOException("cannot listen on " + path + ": another process is listening on it", e);
            }
            if (e.errno() != Errno.ECONNREFUSED) {
                throw e;
            }
        }
        LOG.log(System.Logger.Level.INFO, path + ": replacing a stale socket nobody listens on");
        Files.deleteIfExists(path);
    }
}
