package io.vhost.impl.transport;

import io.vhost.api.Fd;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A bounded ping-pong measurement (not a test, no timing assertion): round trips per second of a 12-byte header plus
 * 8-byte payload each way over a socket pair, with both ends on platform threads or both on virtual threads (FFM
 * waits through the shared poller). Prints the median of several timed runs after a warm-up.
 *
 * <p>Run: {@code java --enable-native-access=ALL-UNNAMED -Djdk.virtualThreadScheduler.parallelism=2 -cp ...
 * io.vhost.impl.transport.PingPongMeasurement [runs] [millisPerRun]}.
 */
public final class PingPongMeasurement {

    private PingPongMeasurement() {
    }

    /**
     * Runs every mode and prints one line each.
     *
     * @param args optional: number of runs (default 5) and milliseconds per run (default 1000)
     * @throws Exception on failure
     */
    public static void main(String[] args) throws Exception {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int millis = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        for (String mode : List.of("FFM platform", "FFM virtual", "JUNIXSOCKET platform")) {
            TransportKind kind = mode.startsWith("FFM") ? TransportKind.FFM : TransportKind.JUNIXSOCKET;
            boolean virtual = mode.endsWith("virtual");
            measure(kind, virtual, millis); // warm-up
            long[] results = new long[runs];
            for (int i = 0; i < runs; i++) {
                results[i] = measure(kind, virtual, millis);
            }
            Arrays.sort(results);
            System.out.printf("%-22s median %,d rt/s  runs %s%n", mode, results[runs / 2], Arrays.toString(results));
        }
    }

    /**
     * Measures one run.
     *
     * @param kind the transport
     * @param virtual whether both ends run on virtual threads
     * @param millis how long to run
     * @return round trips per second
     * @throws Exception on failure
     */
    static long measure(TransportKind kind, boolean virtual, long millis) throws Exception {
        Connection[] pair = Transports.socketPair(kind);
        ThreadFactory factory = virtual ? Thread.ofVirtual().factory() : Thread.ofPlatform().factory();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long[] count = new long[1];
        try (Connection client = pair[0]; Connection server = pair[1]) {
            Thread echo = factory.newThread(() -> {
                try {
                    ByteBuffer header = ByteBuffer.allocateDirect(12).order(ByteOrder.LITTLE_ENDIAN);
                    ByteBuffer payload = ByteBuffer.allocateDirect(8);
                    ByteBuffer reply = ByteBuffer.allocateDirect(20);
                    while (true) {
                        header.clear();
                        List<Fd> fds = server.receiveHeader(header);
                        fds.forEach(Fd::close);
                        payload.clear();
                        server.receiveFully(payload);
                        reply.clear();
                        server.send(reply, List.of());
                    }
                } catch (IOException e) {
                    // the client closed: the run is over
                } catch (RuntimeException e) {
                    failure.set(e);
                }
            });
            Thread driver = factory.newThread(() -> {
                try {
                    ByteBuffer request = ByteBuffer.allocateDirect(20).order(ByteOrder.LITTLE_ENDIAN);
                    request.putInt(0, 1).putInt(8, 8);
                    ByteBuffer header = ByteBuffer.allocateDirect(12);
                    ByteBuffer payload = ByteBuffer.allocateDirect(8);
                    long end = System.nanoTime() + millis * 1_000_000L;
                    long n = 0;
                    while (System.nanoTime() < end) {
                        request.clear();
                        client.send(request, List.of());
                        header.clear();
                        client.receiveHeader(header);
                        payload.clear();
                        client.receiveFully(payload);
                        n++;
                    }
                    count[0] = n;
                } catch (IOException | RuntimeException e) {
                    failure.set(e);
                }
            });
            echo.start();
            driver.start();
            driver.join();
            client.shutdown();
            echo.join();
        }
        if (failure.get() != null) {
            throw new IllegalStateException("ping-pong failed", failure.get());
        }
        return count[0] * 1000 / millis;
    }

}
