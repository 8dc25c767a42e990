package io.vhost.impl.daemon;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Owns every thread of one session (a front-end or back-end connection) and ends them together.
 *
 * <p>This is the small structured-concurrency supervisor of the design (JDK 25's {@code StructuredTaskScope} is a
 * preview API and is not used): each {@link #fork child} is a named thread whose parent is this supervisor; the
 * first child that fails records its cause, runs the shutdown hooks (which close or shut down the connection, wake
 * pollers) and interrupts its siblings; {@link #close()} does the same for a normal end and then joins every child.
 * After {@code close()} returns no thread of the session is alive, so nothing leaks.
 *
 * <p>Children are virtual threads by default. A child that must block in a native call (an epoll loop) is forked
 * as a platform thread with {@link #forkPlatform}. Exceptions thrown by children after shutdown began are the
 * expected consequence of cancellation and are logged at DEBUG, not recorded as the failure.
 *
 * <p>Thread-safe.
 */
public final class Supervisor implements AutoCloseable {

    /** A child's body: plain blocking code that may throw. */
    @FunctionalInterface
    public interface Task {
        /**
         * Runs the child.
         *
         * @throws Exception any failure; the first one ends the session
         */
        void run() throws Exception;
    }

    private static final Logger LOG = System.getLogger(Supervisor.class.getName());

    private final String name;
    private final ReentrantLock lock = new ReentrantLock();
    private final Set<Thread> children = new LinkedHashSet<>();
    private final Deque<Runnable> shutdownHooks = new ArrayDeque<>();
    private Throwable failure;
    private boolean shuttingDown;
    private int started;

    /**
     * Creates a supervisor.
     *
     * @param name the session name used in thread names and logs, e.g. {@code "vhost[blk0.sock#3]"}
     */
    public Supervisor(String name) {
        this.name = Objects.requireNonNull(name, "name");
    }

    /**
     * Returns the session name.
     *
     * @return the name given at construction
     */
    public String name() {
        return name;
    }

    /**
     * Starts a child on a virtual thread named {@code <name>-<role>}.
     *
     * @param role what the child does, e.g. {@code "reader"} or {@code "vring-0"}
     * @param task the child's body
     * @return the started thread
     * @throws IllegalStateException if the supervisor is shutting down or closed
     */
    public Thread fork(String role, Task task) {
        return start(Thread.ofVirtual().name(name + "-" + role).unstarted(wrap(role, task)));
    }

    /**
     * Starts a child on a platform daemon thread, for work that blocks in native calls (an epoll loop).
     *
     * @param role what the child does, e.g. {@code "epoll"}
     * @param task the child's body
     * @return the started thread
     * @throws IllegalStateException if the supervisor is shutting down or closed
     */
    public Thread forkPlatform(String role, Task task) {
        return start(Thread.ofPlatform().daemon().name(name + "-" + role).unstarted(wrap(role, task)));
    }

    /**
     * Registers an action that runs once when the session ends (first failure, {@link #shutdown()} or
     * {@link #close()}), before children are interrupted. Hooks run in reverse order of registration; use them to
     * shut down the connection so that a child blocked in a receive wakes up. A hook registered after shutdown
     * began runs at once.
     *
     * @param hook the action; its exceptions are logged and ignored
     */
    public void onShutdown(Runnable hook) {
        Objects.requireNonNull(hook, "hook");
        lock.lock();
        boolean runNow;
        try {
            runNow = shuttingDown;
            if (!runNow) {
                shutdownHooks.push(hook);
            }
        } finally {
            lock.unlock();
        }
        if (runNow) {
            runHook(hook);
        }
    }

    /**
     * Begins ending the session without waiting: runs the shutdown hooks and interrupts every child. Idempotent.
     */
    public void shutdown() {
        beginShutdown(null);
    }

    /**
     * Tells whether the session is ending (a child failed, or shutdown or close was called).
     *
     * @return {@code true} once shutdown began
     */
    public boolean isShuttingDown() {
        lock.lock();
        try {
            return shuttingDown;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Returns the first failure of a child, if any.
     *
     * @return the cause that ended the session, or empty if none failed
     */
    public Optional<Throwable> failure() {
        lock.lock();
        try {
            return Optional.ofNullable(failure);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until every child has ended, without asking them to end.
     *
     * @throws InterruptedException if the calling thread is interrupted
     */
    public void join() throws InterruptedException {
        for (Thread child : snapshot()) {
            child.join();
        }
    }

    /**
     * Waits up to a bound until every child has ended.
     *
     * @param timeout the maximum time to wait
     * @param unit the unit of {@code timeout}
     * @return {@code true} if all children ended, {@code false} on timeout
     * @throws InterruptedException if the calling thread is interrupted
     */
    public boolean join(long timeout, TimeUnit unit) throws InterruptedException {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        for (Thread child : snapshot()) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !child.join(java.time.Duration.ofNanos(left))) {
                return false;
            }
        }
        return true;
    }

    /**
     * Returns how many children are still running.
     *
     * @return the number of live children
     */
    public int liveChildren() {
        int alive = 0;
        for (Thread child : snapshot()) {
            if (child.isAlive()) {
                alive++;
            }
        }
        return alive;
    }

    /**
     * Ends the session: runs the shutdown hooks, interrupts every child and joins them all. After it returns no
     * child thread is alive. If the calling thread is itself a child, it is not joined (it is ending anyway).
     * Interrupts of the calling thread while joining are remembered and restored.
     */
    @Override
    public void close() {
        beginShutdown(null);
        boolean interrupted = false;
        Thread self = Thread.currentThread();
        for (Thread child : snapshot()) {
            if (child == self) {
                continue;
            }
            while (true) {
                try {
                    child.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            self.interrupt();
        }
    }

    private Thread start(Thread thread) {
        lock.lock();
        try {
            if (shuttingDown) {
                throw new IllegalStateException(name + " is shutting down; cannot start " + thread.getName());
            }
            children.removeIf(t -> t.getState() == Thread.State.TERMINATED);
            children.add(thread);
            started++;
        } finally {
            lock.unlock();
        }
        thread.start();
        return thread;
    }

    private Runnable wrap(String role, Task task) {
        return () -> {
            Throwable thrown = null;
            try {
                task.run();
            } catch (Throwable t) {
                thrown = t;
            } finally {
                childFinished(role, thrown);
            }
        };
    }

    private void childFinished(String role, Throwable thrown) {
        boolean first = false;
        lock.lock();
        try {
            if (thrown != null && !shuttingDown && failure == null) {
                failure = thrown;
                first = true;
            }
        } finally {
            lock.unlock();
        }
        if (first) {
            LOG.log(Level.DEBUG, () -> name + ": " + role + " failed, ending the session: " + thrown);
            beginShutdown(thrown);
        } else if (thrown != null) {
            LOG.log(Level.DEBUG, () -> name + ": " + role + " ended during shutdown: " + thrown);
        }
    }

    private List<Thread> snapshot() {
        lock.lock();
        try {
            return new ArrayList<>(children);
        } finally {
            lock.unlock();
        }
    }

    private void beginShutdown(Throwable cause) {
        List<Runnable> hooks;
        List<Thread> toInterrupt;
        lock.lock();
        try {
            if (shuttingDown) {
                return;
            }
            shuttingDown = true;
            hooks = new ArrayList<>(shutdownHooks);
            shutdownHooks.clear();
            toInterrupt = new ArrayList<>(children);
        } finally {
            lock.unlock();
        }
        hooks.forEach(this::runHook);
        Thread self = Thread.currentThread();
        for (Thread child : toInterrupt) {
            if (child != self) {
                child.interrupt();
            }
        }
        if (cause != null) {
            LOG.log(Level.TRACE, () -> name + ": cancelled " + (toInterrupt.size() - 1) + " sibling(s)");
        }
    }

    private void runHook(Runnable hook) {
        try {
            hook.run();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, name + ": a shutdown action failed", e);
        }
    }

    @Override
    public String toString() {
        lock.lock();
        try {
            return "Supervisor[" + name + ", children=" + children.stream().filter(Thread::isAlive).count() + "/" + started
                    + (shuttingDown ? ", shutting down" : "") + (failure != null ? ", failed: " + failure : "") + "]";
        } finally {
            lock.unlock();
        }
    }
}
