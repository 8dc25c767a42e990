package io.vhost.bench;

import io.vhost.api.Fd;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.frontend.SharedRegion;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.frontend.FrontendOptions;
import io.vhost.impl.frontend.VmmMemory;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.transport.TransportKind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Timeout;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Control-plane messages between our front-end and our back-end over a real unix socket in one JVM, the same five
 * operations as the Rust anchor ({@code ../shared/perf/rust}): a GET_FEATURES round trip; SET_VRING_NUM, SET_VRING_KICK
 * (1 eventfd) and SET_MEM_TABLE (8 regions, 8 memfds) each waiting for the back-end's REPLY_ACK; and SET_VRING_NUM
 * one-way (no REPLY_ACK negotiated), pipelined in batches of 256 closed by one GET_FEATURES round trip so that every
 * message was handled before the clock stops.
 * <p>The caller's thread kind is chosen by the runner ({@code -Djmh.executor=PLATFORM|VIRTUAL} in the fork), the
 * transport by {@link #transport}.
 */
@State(Scope.Benchmark)
@BenchmarkMode({Mode.Throughput, Mode.SampleTime})
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 2, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Timeout(time = 20)
public class ControlPlaneBench {

    private static final int GET_FEATURES = 1;
    private static final int VERSION_1_FLAGS = 0x1;
    private static final int REPLY_FLAG = 0x4;

    /** Messages per one-way batch. */
    public static final int ONEWAY_BATCH = 256;

    /** The transport of both ends. */
    @Param({"FFM", "JUNIXSOCKET"})
    public String transport;

    private Loopback plain;
    private Loopback.Raw raw;
    private final ByteBuffer rawRequest = ByteBuffer.allocateDirect(12).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer rawReply = ByteBuffer.allocateDirect(20).order(ByteOrder.LITTLE_ENDIAN);
    private Loopback acked;
    private VhostUserFrontend plainFrontend;
    private VhostUserFrontend ackedFrontend;
    private Loopback lean;
    private VhostUserFrontend leanFrontend;
    private Fd kick;
    private VmmMemory memory;
    private List<SharedRegion> regions;

    /**
     * Connects two sessions: one without REPLY_ACK (GET_FEATURES, one-way), one with it (acked set requests).
     *
     * @throws IOException if a session cannot be set up
     */
    @Setup(Level.Trial)
    public void setUp() throws IOException {
        TransportKind kind = TransportKind.valueOf(transport);
        plain = Loopback.start(kind, ctx -> new NullBackend());
        plainFrontend = plain.negotiate(false);
        acked = Loopback.start(kind, ctx -> new NullBackend());
        ackedFrontend = acked.negotiate(true);
        lean = Loopback.start(kind, ctx -> new NullBackend(), FrontendOptions.defaults().withReplaySetup(false));
        leanFrontend = lean.negotiate(true);
        raw = Loopback.startRaw(kind, ctx -> new NullBackend());
        rawRequest.putInt(0, GET_FEATURES).putInt(4, VERSION_1_FLAGS).putInt(8, 0);
        kick = EventFds.create(EventFds.EFD_CLOEXEC, "benchmark kick eventfd");
        long region = 64 * 1024;
        memory = VmmMemory.create(0, region, region, region, region, region, region, region, region);
        regions = memory.regions();
        if (regions.size() != 8) {
            throw new IllegalStateException("expected 8 memory regions, got " + regions.size());
        }
    }

    /** Closes both sessions, the eventfd and the guest memory. */
    @TearDown(Level.Trial)
    public void tearDown() {
        try (Loopback p = plain; Loopback a = acked; Loopback l = lean; Loopback.Raw r = raw; Fd k = kick; VmmMemory m = memory) {
            // closed in reverse order by try-with-resources
        }
    }

    /**
     * GET_FEATURES: request and reply.
     *
     * @return the feature word (to the blackhole)
     * @throws VhostException if the back-end fails
     */
    @Benchmark
    public FeatureSet getFeatures() throws VhostException {
        return plainFrontend.getFeatures();
    }

    /**
     * GET_FEATURES from a bare caller: 12 header bytes written on a raw connection of our transport and the 20-byte
     * reply read back with one receive on the calling thread (as the front-end reads it), against our back-end. No
     * front-end engine (no request lock, no codec, no reply record on the caller's side): the difference to
     * {@link #getFeatures} is the front-end's share.
     *
     * @return the feature word (to the blackhole)
     * @throws IOException if the connection fails
     */
    @Benchmark
    public long getFeaturesBareCaller() throws IOException {
        raw.connection().send(rawRequest.clear(), List.of());
        List<Fd> fds = raw.connection().receiveAtLeast(rawReply.clear(), 20);
        if (!fds.isEmpty() || rawReply.position() != 20 || rawReply.getInt(0) != GET_FEATURES
                || (rawReply.getInt(4) & REPLY_FLAG) == 0 || rawReply.getInt(8) != 8) {
            fds.forEach(Fd::close);
            throw new IllegalStateException("unexpected GET_FEATURES reply: " + rawReply.position() + " bytes, request "
                    + rawReply.getInt(0) + ", flags " + rawReply.getInt(4) + ", size " + rawReply.getInt(8) + ", "
                    + fds.size() + " fds");
        }
        return rawReply.getLong(12);
    }

    /**
     * SET_VRING_NUM 0, 256 with NEED_REPLY: waits for the ack.
     *
     * @throws VhostException if the back-end fails
     */
    @Benchmark
    public void setVringNumAck() throws VhostException {
        ackedFrontend.setVringNum(0, 256);
    }

    /**
     * SET_VRING_KICK 0 with one eventfd (SCM_RIGHTS) and NEED_REPLY: waits for the ack.
     *
     * @throws VhostException if the back-end fails
     */
    @Benchmark
    public void setVringKickAck() throws VhostException {
        ackedFrontend.setVringKick(0, Optional.of(kick));
    }

    /**
     * SET_MEM_TABLE with 8 regions and 8 memfds and NEED_REPLY: waits for the ack.
     *
     * @throws VhostException if the back-end fails
     */
    @Benchmark
    public void setMemTableAck() throws VhostException {
        ackedFrontend.setMemTable(regions);
    }

    /**
     * {@link #setVringKickAck} on a front-end that keeps no set-up record ({@code FrontendOptions.replaySetup} false, as
     * a VMM that re-sends its own set-up after a reconnect uses it): no {@code dup} of the fd, no {@code close} of the
     * previous copy. The Rust crate keeps no record either.
     *
     * @throws VhostException if the back-end fails
     */
    @Benchmark
    public void setVringKickAckNoReplay() throws VhostException {
        leanFrontend.setVringKick(0, Optional.of(kick));
    }

    /**
     * {@link #setMemTableAck} on a front-end that keeps no set-up record (no 8 {@code dup} and 8 {@code close}).
     *
     * @throws VhostException if the back-end fails
     */
    @Benchmark
    public void setMemTableAckNoReplay() throws VhostException {
        leanFrontend.setMemTable(regions);
    }

    /**
     * 256 one-way SET_VRING_NUM (no REPLY_ACK), then one GET_FEATURES round trip: the back-end has handled all 256
     * when it returns.
     *
     * @return the feature word (to the blackhole)
     * @throws VhostException if the back-end fails
     */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OperationsPerInvocation(ONEWAY_BATCH)
    public FeatureSet setVringNumOneway() throws VhostException {
        for (int i = 0; i < ONEWAY_BATCH; i++) {
            plainFrontend.setVringNum(0, 256);
        }
        return plainFrontend.getFeatures();
    }
}
