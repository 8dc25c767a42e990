package io.vhost.impl.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.NativeCallException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.frontend.BackendRequestHandler;
import io.vhost.api.frontend.SharedRegion;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.VringAddress;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Unistd;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * What the front-end sent that a new back-end needs again after a reconnect, with duplicates of every fd (the
 * caller's fds stay the caller's). Replacing a value duplicates the new fds before closing the old ones, so a replay
 * that records what it replays never closes what it is about to send. Guarded by the front-end's request lock.
 */
final class SetupRecord implements AutoCloseable {

    private static final int F_DUPFD_CLOEXEC = 1030;

    /** One ring's recorded settings. */
    static final class Vring implements AutoCloseable {
        Integer size;
        VringAddress address;
        Long base;
        final EnumMap<VringEventFd, Optional<Fd>> eventFds = new EnumMap<>(VringEventFd.class); // empty = NOFD
        Boolean enabled;

        @Override
        public void close() {
            eventFds.values().forEach(SetupRecord::closeOpt);
        }
    }

    boolean owner;
    FeatureSet features;
    FeatureSet protocolFeatures;
    BackendRequestHandler backendHandler;
    List<SharedRegion> memTable;
    InflightRegion inflight;
    Fd inflightFd;
    LogRegion log;
    Fd logFd;
    Integer status;
    final TreeMap<Integer, Vring> vrings = new TreeMap<>();

    static Fd dup(Fd fd, String role) throws NativeCallException {
        return OwnedFd.of(Unistd.fcntl(fd.number(), F_DUPFD_CLOEXEC, 0), role);
    }

    static Optional<Fd> dup(Optional<Fd> fd, String role) throws NativeCallException {
        return fd.isPresent() ? Optional.of(dup(fd.get(), role)) : Optional.empty();
    }

    private static void closeOpt(Optional<Fd> fd) {
        if (fd != null) {
            fd.ifPresent(Fd::close);
        }
    }

    Vring vring(int queue) {
        return vrings.computeIfAbsent(queue, q -> new Vring());
    }

    void memTable(List<SharedRegion> regions) throws NativeCallException {
        List<SharedRegion> copies = new ArrayList<>();
        boolean ok = false;
        try {
            for (SharedRegion r : regions) {
                copies.add(new SharedRegion(r.region(), dup(r.fd(), "replay copy of memory region fd")));
            }
            ok = true;
        } finally {
            if (!ok) {
                copies.forEach(r -> r.fd().close());
            }
        }
        List<SharedRegion> old = memTable;
        memTable = List.copyOf(copies);
        if (old != null) {
            old.forEach(r -> r.fd().close());
        }
    }

    void addRegion(SharedRegion region) throws NativeCallException {
        SharedRegion copy = new SharedRegion(region.region(), dup(region.fd(), "replay copy of memory region fd"));
        List<SharedRegion> next = new ArrayList<>(memTable == null ? List.of() : memTable);
        next.add(copy);
        memTable = List.copyOf(next);
    }

    void removeRegion(io.vhost.api.message.MemoryRegion region) {
        if (memTable == null) {
            return;
        }
        List<SharedRegion> next = new ArrayList<>();
        for (SharedRegion r : memTable) {
            if (r.region().guestAddress() == region.guestAddress() && r.region().sizeBytes() == region.sizeBytes()) {
                r.fd().close();
            } else {
                next.add(r);
            }
        }
        memTable = List.copyOf(next);
    }

    void inflight(InflightRegion region, Fd fd) throws NativeCallException {
        Fd copy = dup(fd, "replay copy of inflight fd");
        Fd old = inflightFd;
        inflight = region;
        inflightFd = copy;
        if (old != null) {
            old.close();
        }
    }

    void log(LogRegion region, Fd fd) throws NativeCallException {
        Fd copy = dup(fd, "replay copy of log fd");
        Fd old = logFd;
        log = region;
        logFd = copy;
        if (old != null) {
            old.close();
        }
    }

    void eventFd(VringEventFd which, int queue, Optional<Fd> fd) throws NativeCallException {
        Vring v = vring(queue);
        Optional<Fd> copy = dup(fd, "replay copy of " + which.role() + " of queue " + queue);
        closeOpt(v.eventFds.put(which, copy));
    }

    /** Forgets the device state a RESET_DEVICE or RESET_OWNER discards (rings), keeping features and memory. */
    void resetRings() {
        vrings.values().forEach(Vring::close);
        vrings.clear();
    }

    @Override
    public void close() {
        resetRings();
        if (memTable != null) {
            memTable.forEach(r -> r.fd().close());
            memTable = null;
        }
        if (inflightFd != null) {
            inflightFd.close();
            inflightFd = null;
        }
        if (logFd != null) {
            logFd.close();
            logFd = null;
        }
    }
}
