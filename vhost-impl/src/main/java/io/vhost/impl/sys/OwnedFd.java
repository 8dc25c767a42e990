package io.vhost.impl.sys;

import io.vhost.api.Fd;
import io.vhost.api.error.NativeCallException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * The single owner of one open file descriptor.
 *
 * <p>{@link #close()} closes the descriptor exactly once (a CAS on the state), is idempotent and thread-safe, and logs
 * rather than throws a {@code close(2)} failure. {@link #take()} moves ownership to a new {@code OwnedFd} and leaves
 * this one empty. After close or take, {@link #number()} throws {@link IllegalStateException} naming the role.
 * Callers that pass {@link #number()} to a system call must make sure no other thread closes the owner meanwhile
 * (the owning object serialises its own close against its operations).
 */
public final class OwnedFd implements Fd {

    private static final System.Logger LOG = System.getLogger(OwnedFd.class.getName());
    private static final VarHandle STATE;
    private static final int OPEN = 0;
    private static final int CLOSED = 1;
    private static final int TAKEN = 2;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(OwnedFd.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int number;
    private String role; // built on first use when null (see received)
    private final int receivedIndex;
    private final String receivedOn;
    @SuppressWarnings("unused") // accessed through STATE
    private volatile int state;

    private OwnedFd(int number, String role) {
        this.number = number;
        this.role = role;
        this.receivedIndex = 0;
        this.receivedOn = null;
    }

    private OwnedFd(int number, int receivedIndex, String receivedOn) {
        this.number = number;
        this.receivedIndex = receivedIndex;
        this.receivedOn = receivedOn;
    }

    /**
     * Takes ownership of an open descriptor number.
     *
     * @param number the descriptor, {@code >= 0}; from now on only this object may close it
     * @param role what it is for, used in error messages ("kick eventfd of queue 2")
     * @return the owner
     * @throws IllegalArgumentException if {@code number < 0}
     */
    public static OwnedFd of(int number, String role) {
        if (number < 0) {
            throw new IllegalArgumentException("not a descriptor number: " + number + " for " + role);
        }
        return new OwnedFd(number, Objects.requireNonNull(role, "role"));
    }

    /**
     * Takes ownership of a descriptor that arrived with a message; its role, "fd 2 received on ...", is built only
     * when a message or {@link #role()} needs it, so receiving costs no string building.
     *
     * @param number the descriptor, {@code >= 0}
     * @param index its 1-based position among the descriptors of one read
     * @param where the connection's description
     * @return the owner
     * @throws IllegalArgumentException if {@code number < 0}
     */
    public static OwnedFd received(int number, int index, String where) {
        if (number < 0) {
            throw new IllegalArgumentException("not a descriptor number: " + number + " received on " + where);
        }
        return new OwnedFd(number, index, Objects.requireNonNull(where, "where"));
    }

    @Override
    public int number() {
        int s = (int) STATE.getVolatile(this);
        if (s != OPEN) {
            throw new IllegalStateException(role() + " (fd " + number + ") is " + (s == CLOSED ? "closed" : "taken"));
        }
        return number;
    }

    @Override
    public boolean isOpen() {
        return (int) STATE.getVolatile(this) == OPEN;
    }

    @Override
    public String role() {
        String r = role;
        if (r == null) {
            r = "fd " + receivedIndex + " received on " + receivedOn; // a benign race: every thread builds the same
            role = r;
        }
        return r;
    }

    @Override
    public OwnedFd take() {
        markTaken();
        return role == null ? new OwnedFd(number, receivedIndex, receivedOn) : new OwnedFd(number, role);
    }

    @Override
    public OwnedFd take(String newRole) {
        Objects.requireNonNull(newRole, "newRole");
        markTaken();
        return new OwnedFd(number, newRole);
    }

    /** Gives up ownership for a {@code take}: open → taken, or the reason it cannot be taken. */
    private void markTaken() {
        if (!STATE.compareAndSet(this, OPEN, TAKEN)) {
            throw new IllegalStateException("cannot take " + role() + " (fd " + number + "): it is "
                    + ((int) STATE.getVolatile(this) == CLOSED ? "closed" : "already taken"));
        }
    }

    /**
     * Gives up ownership without closing and returns the number, for handing it to code that closes it itself
     * (for example a junixsocket socket).
     *
     * @return the descriptor number, now owned by the caller
     * @throws IllegalStateException if closed or taken
     */
    public int release() {
        if (!STATE.compareAndSet(this, OPEN, TAKEN)) {
            throw new IllegalStateException("cannot release " + role() + " (fd " + number + "): not open");
        }
        return number;
    }

    @Override
    public void close() {
        if (STATE.compareAndSet(this, OPEN, CLOSED)) {
            try {
                Unistd.close(number);
            } catch (NativeCallException e) {
                LOG.log(System.Logger.Level.WARNING, "closing " + role() + ": " + e.getMessage());
            }
        }
    }

    @Override
    public String toString() {
        return role() + " (fd " + number + (isOpen() ? ")" : ", not open)");
    }
}
