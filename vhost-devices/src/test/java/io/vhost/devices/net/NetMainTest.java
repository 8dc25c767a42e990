package io.vhost.devices.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.feature.FeatureSet;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.frontend.FrontendOptions;
import io.vhost.impl.frontend.VhostUserFrontends;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class NetMainTest {

    private record Run(int status, String out, String err) {}

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int status = NetMain.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(status, out.toString(), err.toString());
    }

    @Test
    void printCapabilitiesPrintsTheNetTypeAndIgnoresOtherOptions() {
        Run r = run("--print-capabilities", "--mode=nonsense");
        assertEquals(0, r.status());
        assertEquals("{\n  \"type\": \"net\"\n}", r.out().strip());
    }

    @Test
    void socketPathAndFdAreExclusiveAndOneIsRequired(@TempDir Path dir) {
        Run none = run("--mode=sink");
        assertEquals(2, none.status());
        assertTrue(none.err().contains("exactly one of --socket-path=PATH and --fd=FDNUM"), none.err());
        Run both = run("--socket-path=" + dir.resolve("s"), "--fd=3");
        assertEquals(2, both.status());
    }

    @Test
    void badModeMacAndSizesAreUsageErrorsNamingTheValue(@TempDir Path dir) {
        String sock = "--socket-path=" + dir.resolve("s");
        Run mode = run(sock, "--mode=bridge");
        assertEquals(2, mode.status());
        assertTrue(mode.err().contains("mode bridge is not loopback or sink"), mode.err());
        Run mac = run(sock, "--mac=52:54:00:zz:34:56");
        assertEquals(2, mac.status());
        assertTrue(mac.err().contains("52:54:00:zz:34:56"), mac.err());
        Run pairs = run(sock, "--queue-pairs=129");
        assertEquals(2, pairs.status());
        assertTrue(pairs.err().contains("queue-pairs 129 is outside 1..128"), pairs.err());
        Run frame = run(sock, "--max-frame=70000");
        assertEquals(2, frame.status());
        assertTrue(frame.err().contains("max-frame 70000 is outside 60..65535"), frame.err());
        Run poll = run(sock, "--busy-poll-us=2000000");
        assertEquals(2, poll.status());
        assertTrue(poll.err().contains("--busy-poll-us=2000000 is outside 0..1000000"), poll.err());
    }

    @Test
    void servesOnTheSocketPathAndStopEndsTheProgramWithStatusZero(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("net.sock");
        NetMain main = new NetMain();
        StringWriter err = new StringWriter();
        CompletableFuture<Integer> status = CompletableFuture.supplyAsync(() -> NetMain.run(main,
                new String[] {"--socket-path=" + sock, "--mode=sink", "--queue-pairs=2"},
                new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        try (VhostUserFrontend fe = VhostUserFrontends.connect(sock, FrontendOptions.defaults()
                .withConnectTimeout(Duration.ofSeconds(20)))) {
            FeatureSet offered = fe.getFeatures();
            assertTrue((offered.bits() & 1L << NetDevice.F_MQ) != 0, "MQ offered with two pairs");
            assertTrue((offered.bits() & 1L << NetDevice.F_MRG_RXBUF) != 0, "MRG_RXBUF offered");
        }
        main.stop(); // what the SIGTERM handler does
        assertEquals(0, status.get(20, TimeUnit.SECONDS), err.toString());
    }
}
