package io.vhost.impl.transport;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.testing.NoFdLeaks;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Smoke-runs the measurement briefly in each mode: it must complete and make progress (no timing threshold). */
@NoFdLeaks
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PingPongMeasurementTest {

    @Test
    void everyModeMakesProgress() throws Exception {
        assertTrue(PingPongMeasurement.measure(TransportKind.FFM, false, 100) > 0);
        assertTrue(PingPongMeasurement.measure(TransportKind.FFM, true, 100) > 0);
        assertTrue(PingPongMeasurement.measure(TransportKind.JUNIXSOCKET, false, 100) > 0);
    }
}
