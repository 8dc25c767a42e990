package io.vhost.impl.sys;

/** Turns a {@code Throwable} from {@code invokeExact} into an unchecked error; downcalls throw nothing checked. */
final class Fail {

    private Fail() {
    }

    static RuntimeException unexpected(Throwable t) {
        if (t instanceof RuntimeException e) {
            throw e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("unexpected checked exception from a downcall", t);
    }
}
