package io.vhost.bench;

import io.vhost.api.error.VhostException;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.daemon.DeviceBackend;
import io.vhost.impl.frontend.DriverQueue;
import io.vhost.impl.frontend.VmmMemory;
import io.vhost.impl.poll.Poller;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.transport.TransportKind;
import io.vhost.impl.virtqueue.DriverRing;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Timeout;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Notification round trips through eventfds and our epoll poller.
 * <ul>
 * <li>{@link #eventfdPingPong}: the caller signals eventfd B and waits for A through the poller; an echo virtual
 * thread waits for B through the poller and signals A. The Java counterpart of the C floor's {@code efd} mode.</li>
 * <li>{@link #vringKickCall}: our front-end's driver ring makes one 64-byte buffer available and kicks; our back-end's
 * daemon framework wakes the queue worker through the poller, the handler ({@link EchoDevice}) completes the chain and
 * the framework signals the call eventfd; the caller waits for it through the poller.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode({Mode.Throughput, Mode.SampleTime})
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 2, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Timeout(time = 20)
public class KickBench {

    private static final Duration WAIT = Duration.ofSeconds(10);

    private OwnedFd a;
    private OwnedFd b;
    private Thread echo;
    private volatile boolean stop;

    private Loopback pair;
    private VmmMemory memory;
    private DriverQueue queue;
    private List<DriverRing.Buffer> none;
    private List<DriverRing.Buffer> buffer;

    /**
     * Creates the eventfd pair with its echo thread, and a session with one queue on the daemon framework.
     *
     * @throws IOException if a resource cannot be created
     */
    @Setup(Level.Trial)
    public void setUp() throws IOException {
        a = EventFds.create(EventFds.EFD_NONBLOCK, "ping-pong eventfd A");
        b = EventFds.create(EventFds.EFD_NONBLOCK, "ping-pong eventfd B");
        int fa = a.number();
        int fb = b.number();
        echo = Thread.ofVirtual().name("eventfd-echo").start(() -> {
            try {
                while (!stop) {
                    Poller.shared().awaitReadable(fb);
                    EventFds.drain(fb);
                    EventFds.signal(fa, 1);
                }
            } catch (IOException e) {
                if (!stop) {
                    System.getLogger(KickBench.class.getName()).log(System.Logger.Level.ERROR, "echo failed", e);
                }
            }
        });

        pair = Loopback.start(TransportKind.FFM, ctx -> new DeviceBackend(new EchoDevice(), ctx));
        VhostUserFrontend fe = pair.negotiate(true);
        memory = VmmMemory.create(1L << 20);
        fe.setMemTable(memory.regions());
        queue = new DriverQueue(memory, 0, 256);
        queue.setUp(fe);
        none = List.of();
        buffer = List.of(new DriverRing.Buffer(memory.allocate(64, 64), 64));
    }

    /**
     * Stops the echo thread and closes everything.
     *
     * @throws InterruptedException if interrupted while joining the echo thread
     */
    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        stop = true;
        try {
            EventFds.signal(b.number(), 1);
            echo.join(5000);
        } catch (VhostException e) {
            echo.interrupt();
        } finally {
            try (OwnedFd x = a; OwnedFd y = b; Loopback p = pair; VmmMemory m = memory; DriverQueue q = queue) {
                // closed in reverse order
            }
        }
    }

    /**
     * Signal B, wait for A through the poller, read A.
     *
     * @return the counter read (to the blackhole)
     * @throws IOException if waiting fails
     */
    @Benchmark
    public long eventfdPingPong() throws IOException {
        EventFds.signal(b.number(), 1);
        Poller.shared().awaitReadable(a.number());
        return EventFds.drain(a.number());
    }

    /**
     * Add a buffer, kick, wait for the used element.
     *
     * @return the used element (to the blackhole)
     * @throws IOException if the device does not complete it within 10 s
     */
    @Benchmark
    public DriverRing.Used vringKickCall() throws IOException {
        int head = queue.add(none, buffer);
        if (head < 0) {
            throw new IllegalStateException("no free descriptor: a used element was lost");
        }
        queue.kick();
        DriverRing.Used used = queue.awaitUsed(WAIT);
        if (used == null) {
            throw new IllegalStateException("kick not completed within " + WAIT);
        }
        return used;
    }
}
