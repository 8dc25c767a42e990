package io.vhost.impl.memory;

import java.lang.System.Logger.Level;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A published value with a reference count. The publisher holds one reference until the value is replaced; each
 * reader holds one while it uses the value. The release action runs once, on the thread that drops the last
 * reference. Internal.
 */
final class Epoch<T> {

    private static final System.Logger LOG = System.getLogger(Epoch.class.getName());

    final T value;
    final long number;
    private final AutoCloseable release;
    private final AtomicLong refs = new AtomicLong(1);

    Epoch(T value, long number, AutoCloseable release) {
        this.value = value;
        this.number = number;
        this.release = release;
    }

    /** Takes a reference unless the count already reached zero. */
    boolean tryRetain() {
        long n;
        do {
            n = refs.get();
            if (n <= 0) {
                return false;
            }
        } while (!refs.compareAndSet(n, n + 1));
        return true;
    }

    void releaseRef() {
        long n = refs.decrementAndGet();
        if (n == 0) {
            if (release != null) {
                try {
                    release.close();
                } catch (Exception e) {
                    LOG.log(Level.ERROR, "releasing memory epoch " + number + " failed", e);
                }
            }
        } else if (n < 0) {
            throw new IllegalStateException("memory epoch " + number + " released more often than acquired");
        }
    }

    long references() {
        return refs.get();
    }
}
