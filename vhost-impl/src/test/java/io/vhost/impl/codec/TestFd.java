package io.vhost.impl.codec;

import io.vhost.api.Fd;
import java.util.concurrent.atomic.AtomicBoolean;

/** A test-only fd that records closing; no native descriptor behind it. */
final class TestFd implements Fd {

    private final int number;
    private final String role;
    private final AtomicBoolean open = new AtomicBoolean(true);
    private final AtomicBoolean closed = new AtomicBoolean(false);

    TestFd(int number) {
        this(number, "test fd " + number);
    }

    private TestFd(int number, String role) {
        this.number = number;
        this.role = role;
    }

    @Override
    public int number() {
        if (!open.get()) {
            throw new IllegalStateException(role + ", closed");
        }
        return number;
    }

    @Override
    public boolean isOpen() {
        return open.get();
    }

    @Override
    public String role() {
        return role;
    }

    @Override
    public Fd take() {
        return take(role);
    }

    @Override
    public Fd take(String newRole) {
        if (!open.compareAndSet(true, false)) {
            throw new IllegalStateException(role + ", closed");
        }
        return new TestFd(number, newRole);
    }

    @Override
    public void close() {
        if (open.compareAndSet(true, false)) {
            closed.set(true);
        }
    }

    /** Tells whether close() released the descriptor (not take()). */
    boolean wasClosed() {
        return closed.get();
    }
}
