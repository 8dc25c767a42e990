package io.vhost.impl.metrics;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static io.vhost.api.message.FrontendRequest.GET_FEATURES;
import static io.vhost.api.message.FrontendRequest.SET_OWNER;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.impl.backend.BackendOptions;
import io.vhost.impl.backend.BackendServer;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawFrontend;
import io.vhost.testing.RecordingDevice;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Per-session Micrometer meters of the back-end engine, and the rule that keeps Micrometer optional. */
@NoFdLeaks
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BackendMetricsTest {

    @TempDir
    Path dir;

    @Test
    void sessionCountsRequestsErrorsBytesAndTime() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Path sock = dir.resolve("metrics.sock");
        try (BackendServer server = BackendServer.bind(sock,
                ctx -> new RecordingDevice(1L << 32, ProtocolFeature.CONFIG.mask(), 1),
                BackendOptions.defaults().withName("m").withMetrics(MicrometerMetrics.of(registry)))) {
            Thread serving = Thread.ofPlatform().start(() -> {
                try {
                    server.serve();
                } catch (IOException | InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            try (RawFrontend fe = RawFrontend.connect(sock, Duration.ofSeconds(5))) {
                fe.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0]);
                fe.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0]);
                fe.send(99, RawFrontend.V1, new byte[0]); // unknown: an error, the session goes on
                fe.send(SET_OWNER.id(), RawFrontend.V1, new byte[0]);
                fe.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0]);
                // recorded after the reply is sent (the timer covers the send), so wait for the last one
                await().atMost(Duration.ofSeconds(5)).until(() -> {
                    Counter c = registry.find("vhost.requests").tag("request", "GET_FEATURES").tag("outcome", "ok")
                            .counter();
                    return c != null && c.count() == 3;
                });
                assertEquals(1, registry.find("vhost.requests").tag("request", "SET_OWNER").counter().count());
                assertEquals(1, registry.find("vhost.errors").tag("kind", "unknown-request").counter().count());
                Timer timer = registry.find("vhost.request.duration").tag("request", "GET_FEATURES").timer();
                assertEquals(3, timer.count());
                assertTrue(timer.totalTime(TimeUnit.NANOSECONDS) > 0);
                assertEquals(4 * 12, registry.find("vhost.bytes").tag("direction", "received").counter().count());
                assertEquals(3 * 20, registry.find("vhost.bytes").tag("direction", "sent").counter().count());
                assertTrue(registry.find("vhost.requests").tag("role", "backend").counters().size() >= 2);
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> registry.find("vhost.requests").counters().isEmpty());
            server.shutdown();
            serving.join(Duration.ofSeconds(5));
        }
    }

    @Test
    void onlyMicrometerMetricsTouchesMicrometer() {
        noClasses().that().resideInAPackage("io.vhost..")
                .and().doNotHaveFullyQualifiedName(MicrometerMetrics.class.getName())
                .and().doNotHaveFullyQualifiedName(MicrometerMetrics.class.getName() + "$Bound")
                .should().dependOnClassesThat().resideInAPackage("io.micrometer..")
                .because("Micrometer is optional: without a registry no Micrometer class may be loaded")
                .check(new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                        .importPackages("io.vhost"));
    }
}
