package io.vhost.impl.sys;

import io.vhost.api.Fd;
import io.vhost.api.error.NativeCallException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;
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

    /**
     * Closes the descriptors of a list as each one's {@link #close()} would, but the open {@code OwnedFd}s among them
     * in one {@code close_range(2)} when their numbers are consecutive, as a message's descriptors usually are (the
     * kernel installs received descriptors at the lowest free numbers): for a {@code SET_MEM_TABLE} with 8 regions
     * one system call instead of eight. Where that does not apply (other numbers, other {@link Fd} implementations,
     * no {@code close_range}), they are closed one by one. Like {@link #close()}, logs rather than throws.
     *
     * @param fds owners to close; closed or taken ones are skipped
     */
    public static void closeAll(List<? extends Fd> fds) {
        int size = fds.size();
        if (size < 2) {
            if (size == 1) {
                fds.get(0).close();
            }
            return;
        }
        int[] numbers = new int[size];
        int count = 0;
        int min = Integer.MAX_VALUE;
        int max = -1;
        for (int i = 0; i < size; i++) {
            Fd fd = fds.get(i);
            if (fd instanceof OwnedFd owned && STATE.compareAndSet(owned, OPEN, CLOSED)) {
                int n = owned.number;
                numbers[count++] = n;
                min = Math.min(min, n);
                max = Math.max(max, n);
            } else {
                fd.close(); // not ours to batch, or already closed or taken (then nothing happens)
            }
        }
        if (count >= 2 && consecutive(numbers, count, min, max)) {
            try {
                if (Unistd.closeRange(min, max)) {
                    return;
                }
            } catch (NativeCallException e) {
                // with no flags it fails only before closing anything: close them one by one instead
                LOG.log(System.Logger.Level.WARNING, "closing fds " + min + " to " + max + ": " + e.getMessage());
            }
        }
        for (int i = 0; i < count; i++) {
            try {
                Unistd.close(numbers[i]);
            } catch (NativeCallException e) {
                LOG.log(System.Logger.Level.WARNING, "closing fd " + numbers[i] + ": " + e.getMessage());
            }
        }
    }

    /** Whether {@code count} numbers between {@code min} and {@code max} are each number of that range once. */
    static boolean consecutive(int[] numbers, int count, int min, int max) {
        if (max - min + 1 != count || count > Long.SIZE) {
            return false;
        }
        long seen = 0;
        for (int i = 0; i < count; i++) {
            seen |= 1L << (numbers[i] - min);
        }
        return Long.bitCount(seen) == count; // a number twice would leave a gap, which must not be closed
    }

    @Override
    public String toString() {
        return role() + " (fd " + number + (isOpen() ? ")" : ", not open)");
    }
}
