package io.vhost.impl.frontend;

import io.vhost.api.Fd;
import io.vhost.api.error.NativeCallException;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.BackendRequestHandler;
import io.vhost.api.frontend.ReconnectListener;
import io.vhost.api.frontend.SharedRegion;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.VringAddress;
import io.vhost.api.message.VringState;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Unistd;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * What the front-end sent that a new back-end needs again after a reconnect, with duplicates of every fd (the
 * caller's fds stay the caller's). Replacing a value duplicates the new fds before closing the old ones, so a replay
 * that records what it replays never closes what it is about to send; {@link #replay} sends it all again after a
 * reconnect. Guarded by the front-end's request lock. When off ({@link FrontendOptions#replaySetup()} false) it keeps
 * no fds and replays nothing.
 *
 * <p>A request that sends again an fd the record already holds a duplicate of costs no {@code dup} and no
 * {@code close}: the duplicate is kept when the new fd is that duplicate itself (a replay), or is the very
 * {@link OwnedFd} the duplicate was made from and it is still open (an {@code OwnedFd} owns its number until it is
 * closed, taken or released, so the number still names the same open file). Any other fd is duplicated anew.
 */
final class SetupRecord implements RequestEngine.Recorder, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(SetupRecord.class.getName());
    private static final int F_DUPFD_CLOEXEC = 1030;

    /** One ring's recorded settings; {@code null} = never set. */
    static final class Vring implements AutoCloseable {
        VringState size; // as sent: keeping the request's own state costs nothing
        VringAddress address;
        VringState base;
        final EnumMap<VringEventFd, Optional<Fd>> eventFds = new EnumMap<>(VringEventFd.class); // empty = NOFD
        private final EnumMap<VringEventFd, Fd> sources = new EnumMap<>(VringEventFd.class); // what each copy is of
        private final EnumMap<VringEventFd, String> copyRoles = new EnumMap<>(VringEventFd.class);
        Boolean enabled;

        /** The role of a duplicate of this ring's {@code which} fd, made once per ring and fd. */
        String copyRole(VringEventFd which, int queue) {
            String role = copyRoles.get(which);
            if (role == null) {
                role = "replay copy of " + which.role() + " of queue " + queue;
                copyRoles.put(which, role);
            }
            return role;
        }

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
    private List<Fd> memTableSources = List.of(); // the fd each copy in memTable was made from, same order
    InflightRegion inflight;
    Fd inflightFd;
    LogRegion log;
    Fd logFd;
    Integer status;
    final TreeMap<Integer, Vring> vrings = new TreeMap<>();
    private final boolean enabled;

    /**
     * Creates an empty record.
     *
     * @param enabled {@code false}: keep no fds and replay nothing ({@link FrontendOptions#replaySetup()})
     */
    SetupRecord(boolean enabled) {
        this.enabled = enabled;
    }

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

    /**
     * Records a ring request that succeeded: SET_VRING_NUM, _BASE, _ADDR and _ENABLE (kept even while recording is
     * off: they hold no fd), SET_VRING_CALL, _ERR and _KICK (a duplicate of the fd, only while recording is on).
     *
     * @throws NativeCallException if duplicating an fd fails
     * @throws IllegalArgumentException for any other request
     */
    @Override
    public void sent(FrontendMessage message) throws NativeCallException {
        switch (message) {
            case FrontendMessage.SetVringNum m -> vring(m.state()).size = m.state();
            case FrontendMessage.SetVringBase m -> vring(m.state()).base = m.state();
            case FrontendMessage.SetVringAddr m -> vring((int) m.address().index()).address = m.address();
            case FrontendMessage.SetVringEnable m -> vring(m.state()).enabled = m.state().num() == 1;
            case FrontendMessage.SetVringCall m -> eventFd(VringEventFd.CALL, m.vring().index(), m.fd());
            case FrontendMessage.SetVringErr m -> eventFd(VringEventFd.ERR, m.vring().index(), m.fd());
            case FrontendMessage.SetVringKick m -> eventFd(VringEventFd.KICK, m.vring().index(), m.fd());
            default -> throw new IllegalArgumentException(message.request() + " is not a ring request");
        }
    }

    private Vring vring(VringState state) {
        return vring((int) state.index());
    }

    void memTable(List<SharedRegion> regions) throws NativeCallException {
        if (!enabled) {
            return;
        }
        List<SharedRegion> old = memTable == null ? List.of() : memTable;
        int n = regions.size();
        if (unchanged(old, regions)) {
            return; // the same table again: every copy stands for its region at the same place already
        }
        SharedRegion[] copies = new SharedRegion[n];
        Fd[] sources = new Fd[n];
        boolean[] kept = new boolean[old.size()];
        boolean ok = false;
        try {
            for (int i = 0; i < n; i++) {
                SharedRegion r = regions.get(i);
                int j = keptCopy(old, memTableSources, kept, r.fd(), i);
                if (j >= 0) {
                    kept[j] = true;
                    copies[i] = new SharedRegion(r.region(), old.get(j).fd());
                    sources[i] = memTableSources.get(j);
                } else {
                    copies[i] = new SharedRegion(r.region(), dup(r.fd(), "replay copy of memory region fd"));
                    sources[i] = r.fd();
                }
            }
            ok = true;
        } finally {
            if (!ok) {
                for (SharedRegion c : copies) {
                    if (c != null && !isIn(old, c.fd())) {
                        c.fd().close();
                    }
                }
            }
        }
        memTable = List.of(copies);
        memTableSources = List.of(sources);
        for (int j = 0; j < old.size(); j++) {
            if (!kept[j]) {
                old.get(j).fd().close();
            }
        }
    }

    /** Whether {@code regions} describes the recorded table region by region, each fd still standing for its copy. */
    private boolean unchanged(List<SharedRegion> old, List<SharedRegion> regions) {
        int n = regions.size();
        if (n != old.size() || n == 0) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            SharedRegion r = regions.get(i);
            SharedRegion copy = old.get(i);
            if (!r.region().equals(copy.region()) || !stillStandsFor(copy.fd(), memTableSources.get(i), r.fd())) {
                return false;
            }
        }
        return true;
    }

    /**
     * Finds a copy in {@code old} that can stand for {@code fd} (see the class comment), trying position {@code hint}
     * first; {@code -1} if none.
     */
    private static int keptCopy(List<SharedRegion> old, List<Fd> sources, boolean[] kept, Fd fd, int hint) {
        if (hint < old.size() && !kept[hint] && stillStandsFor(old.get(hint).fd(), sources.get(hint), fd)) {
            return hint;
        }
        for (int j = 0; j < old.size(); j++) {
            if (!kept[j] && stillStandsFor(old.get(j).fd(), sources.get(j), fd)) {
                return j;
            }
        }
        return -1;
    }

    /** Whether {@code copy}, a duplicate made from {@code source}, can be kept for a request that sends {@code fd}. */
    private static boolean stillStandsFor(Fd copy, Fd source, Fd fd) {
        return copy.isOpen() && (fd == copy || (fd == source && fd instanceof OwnedFd && fd.isOpen()));
    }

    private static boolean isIn(List<SharedRegion> regions, Fd fd) {
        for (SharedRegion r : regions) {
            if (r.fd() == fd) {
                return true;
            }
        }
        return false;
    }

    void addRegion(SharedRegion region) throws NativeCallException {
        if (!enabled) {
            return;
        }
        SharedRegion copy = new SharedRegion(region.region(), dup(region.fd(), "replay copy of memory region fd"));
        List<SharedRegion> next = new ArrayList<>(memTable == null ? List.of() : memTable);
        next.add(copy);
        List<Fd> nextSources = new ArrayList<>(memTableSources);
        nextSources.add(region.fd());
        memTable = List.copyOf(next);
        memTableSources = List.copyOf(nextSources);
    }

    void removeRegion(io.vhost.api.message.MemoryRegion region) {
        if (!enabled) {
            return;
        }
        if (memTable == null) {
            return;
        }
        List<SharedRegion> next = new ArrayList<>();
        List<Fd> nextSources = new ArrayList<>();
        for (int i = 0; i < memTable.size(); i++) {
            SharedRegion r = memTable.get(i);
            if (r.region().guestAddress() == region.guestAddress() && r.region().sizeBytes() == region.sizeBytes()) {
                r.fd().close();
            } else {
                next.add(r);
                nextSources.add(memTableSources.get(i));
            }
        }
        memTable = List.copyOf(next);
        memTableSources = List.copyOf(nextSources);
    }

    void inflight(InflightRegion region, Fd fd) throws NativeCallException {
        if (!enabled) {
            return;
        }
        Fd copy = dup(fd, "replay copy of inflight fd");
        Fd old = inflightFd;
        inflight = region;
        inflightFd = copy;
        if (old != null) {
            old.close();
        }
    }

    void log(LogRegion region, Fd fd) throws NativeCallException {
        if (!enabled) {
            return;
        }
        Fd copy = dup(fd, "replay copy of log fd");
        Fd old = logFd;
        log = region;
        logFd = copy;
        if (old != null) {
            old.close();
        }
    }

    void eventFd(VringEventFd which, int queue, Optional<Fd> fd) throws NativeCallException {
        if (!enabled) {
            return;
        }
        Vring v = vring(queue);
        Optional<Fd> held = v.eventFds.get(which);
        if (fd.isPresent() && held != null && held.isPresent()
                && stillStandsFor(held.get(), v.sources.get(which), fd.get())) {
            return; // the same open file again: keep its copy
        }
        Optional<Fd> copy = dup(fd, v.copyRole(which, queue));
        v.sources.put(which, fd.orElse(null));
        closeOpt(v.eventFds.put(which, copy));
    }

    /**
     * Replays the recorded set-up on a new session through {@code frontend}'s public requests, in the order QEMU uses
     * on reconnect; each request records what it sends again. Under the request lock, on a fresh {@code negotiation}.
     *
     * @throws RequestRejectedException if the new back-end no longer offers a feature acked before
     */
    void replay(VhostUserFrontend frontend, Negotiation negotiation, List<ReconnectListener> listeners)
            throws VhostException {
        if (!enabled) {
            LOG.log(Level.DEBUG, "{0}: reconnected; set-up recording is off, the caller sends it again",
                    frontend.name());
            return;
        }
        FeatureSet features = this.features;
        FeatureSet protocol = this.protocolFeatures;
        FeatureSet nowOffered = frontend.getFeatures();
        if (features != null && !nowOffered.containsAll(features)) {
            throw new RequestRejectedException(frontend.name() + ": the new back-end no longer offers virtio features "
                    + features.minus(nowOffered).describe(FeatureSet::virtioFeatures) + " acked before; cannot replay");
        }
        if (protocol != null && nowOffered.contains(VirtioFeature.PROTOCOL_FEATURES)) {
            FeatureSet offeredProtocol = frontend.getProtocolFeatures();
            if (!offeredProtocol.containsAll(protocol)) {
                throw new RequestRejectedException(frontend.name() + ": the new back-end no longer offers protocol "
                        + "features " + protocol.minus(offeredProtocol).describe(FeatureSet::protocolFeatures)
                        + "; cannot replay");
            }
            frontend.setProtocolFeatures(protocol);
        }
        if (owner) {
            frontend.setOwner();
        }
        if (features != null) {
            frontend.setFeatures(features);
        }
        if (backendHandler != null && negotiation.ackedProtocol().contains(ProtocolFeature.BACKEND_REQ)) {
            frontend.openBackendChannel(backendHandler);
        }
        if (memTable != null && !memTable.isEmpty()) {
            frontend.setMemTable(memTable);
        }
        if (log != null && logFd != null) {
            frontend.setLogBase(log, logFd);
        }
        if (inflight != null && inflightFd != null) {
            frontend.setInflightFd(inflight, inflightFd);
        }
        for (Map.Entry<Integer, Vring> e : List.copyOf(vrings.entrySet())) {
            replayVring(frontend, negotiation, listeners, e.getKey(), e.getValue());
        }
        if (status != null && negotiation.ackedProtocol().contains(ProtocolFeature.STATUS)) {
            frontend.setStatus(status);
        }
        LOG.log(Level.DEBUG, "{0}: set-up replayed ({1} rings)", frontend.name(), vrings.size());
    }

    private static void replayVring(VhostUserFrontend frontend, Negotiation negotiation,
            List<ReconnectListener> listeners, int q, Vring v) throws VhostException {
        if (v.size != null) {
            frontend.setVringNum(q, (int) v.size.num());
        }
        if (v.base != null) {
            long base = v.base.num();
            for (ReconnectListener l : listeners) {
                base = l.replayVringBase(q, base);
            }
            frontend.setVringBase(q, base);
        }
        if (v.address != null) {
            frontend.setVringAddr(v.address);
        }
        for (VringEventFd which : VringEventFd.values()) { // call, err, kick
            Optional<Fd> fd = v.eventFds.get(which);
            if (fd != null) {
                which.set(frontend, q, fd);
            }
        }
        if (v.enabled != null && negotiation.gateOpen(FrontendRequest.SET_VRING_ENABLE.gate())) {
            frontend.setVringEnable(q, v.enabled);
        }
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
            memTableSources = List.of();
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
