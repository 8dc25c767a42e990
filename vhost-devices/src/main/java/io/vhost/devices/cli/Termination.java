package io.vhost.devices.cli;

import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.concurrent.CountDownLatch;
import java.util.function.Function;

/**
 * How a device program ends on SIGTERM or SIGINT: it closes what it serves (the listening socket and its path, or
 * the session) and exits with status 0, as the vhost-user spec's back-end program conventions ask. Without a handler
 * the JVM would run the shutdown hooks and exit with 143 or 130.
 *
 * <p>A signal either comes before the program serves (it then exits at once) or after (it then stops what is served
 * and waits until the program has closed it). {@link #start} opens what is served and registers how to stop it in one
 * step with respect to a signal, so that no signal falls between the two: a listening socket bound just before the
 * signal is always closed and its path removed.
 *
 * <p>Internal to the device programs (this package is not exported).
 */
public final class Termination {

    /** Opens what a program serves. */
    @FunctionalInterface
    public interface Opener<T> {
        T open() throws IOException;
    }

    private static final Logger LOG = System.getLogger(Termination.class.getName());

    private final Object lock = new Object();
    private final CountDownLatch finished = new CountDownLatch(1);
    private Runnable stopper; // guarded by lock; set by start
    private boolean exiting; // guarded by lock; a signal came before start

    /** Installs the SIGTERM and SIGINT handlers (once, from {@code main}). */
    public void handleSignals() {
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> {
                    LOG.log(Level.INFO, "SIG{0}: closing the session and exiting", signal.getName());
                    boolean early;
                    synchronized (lock) {
                        early = stopper == null;
                        exiting |= early;
                    }
                    if (early) {
                        System.exit(0);
                    }
                    stop();
                });
            } catch (IllegalArgumentException e) {
                LOG.log(Level.WARNING, "cannot handle SIG" + name + "; the JVM's default applies: " + e.getMessage());
            }
        }
    }

    /**
     * Opens what the program serves and registers how to stop it, unless a signal came first.
     *
     * @param opener opens it (binds a socket, adopts an fd)
     * @param stop how to stop it, from any thread
     * @param <T> what is served
     * @return it, or {@code null} if a signal came first (the program is exiting; nothing was opened)
     * @throws IOException if opening fails
     */
    public <T> T start(Opener<T> opener, Function<T, Runnable> stop) throws IOException {
        synchronized (lock) {
            if (exiting) {
                return null;
            }
            T served = opener.open();
            stopper = stop.apply(served);
            return served;
        }
    }

    /** Tells that the program has closed what it served: a pending {@link #stop()} returns. */
    public void finished() {
        finished.countDown();
    }

    /** Stops what is served (if anything is) and waits until the program has closed it (SIGTERM, the shutdown hook). */
    public void stop() {
        Runnable s;
        synchronized (lock) {
            s = stopper;
        }
        if (s != null) {
            s.run();
            try {
                finished.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
