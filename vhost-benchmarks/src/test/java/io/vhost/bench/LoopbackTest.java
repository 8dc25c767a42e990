package io.vhost.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.Fd;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.frontend.VmmMemory;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.transport.TransportKind;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The benchmark set-up does what the benchmarks claim: each operation reaches our back-end and is answered. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LoopbackTest {

    @ParameterizedTest
    @EnumSource(TransportKind.class)
    void everyBenchmarkedOperationIsAnsweredByTheNullBackend(TransportKind transport) throws Exception {
        try (Loopback pair = Loopback.start(transport, ctx -> new NullBackend());
                Fd kick = EventFds.create(EventFds.EFD_CLOEXEC, "test kick");
                VmmMemory memory = VmmMemory.create(0, 65536, 65536, 65536, 65536, 65536, 65536, 65536, 65536)) {
            VhostUserFrontend fe = pair.negotiate(true);
            assertEquals(new FeatureSet(NullBackend.FEATURES), fe.getFeatures());
            assertEquals(new FeatureSet(NullBackend.FEATURES), fe.ackedFeatures());
            fe.setVringNum(0, 256);
            fe.setVringKick(0, Optional.of(kick));
            assertEquals(8, memory.regions().size());
            fe.setMemTable(memory.regions());
            assertTrue(kick.isOpen(), "the caller keeps its kick eventfd");
            assertTrue(fe.isConnected());
        }
    }

    @ParameterizedTest
    @EnumSource(TransportKind.class)
    void oneWayRequestsAreAllHandledBeforeTheClosingRoundTripReturns(TransportKind transport) throws Exception {
        try (Loopback pair = Loopback.start(transport, ctx -> new NullBackend())) {
            VhostUserFrontend fe = pair.negotiate(false);
            for (int i = 0; i < ControlPlaneBench.ONEWAY_BATCH; i++) {
                fe.setVringNum(0, 256);
            }
            assertEquals(new FeatureSet(NullBackend.FEATURES), fe.getFeatures());
            assertTrue(pair.session().failure().isEmpty(), "the back-end accepted every one-way request");
        }
    }
}
