package io.vhost.impl.backend;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.message.FrontendRequest;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawFrontend;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * For every front-end request of the rule table (1-45), five malformed variants written by the raw front-end: a
 * payload size outside the request's rule, one fd more than the rule allows, a reserved flag bit, version 2, and a
 * size above the 4 108-byte bound. Each must end the session cleanly (the framing cannot be trusted any more) with a
 * {@link ProtocolViolationException} as cause, and leave no fd open.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class BackendMalformedMatrixTest extends BackendTestBase {

    enum Variant { BAD_SIZE, TOO_MANY_FDS, RESERVED_FLAG, VERSION_2, OVERSIZE }

    static Stream<Arguments> everyRequestAndVariant() {
        return Stream.of(FrontendRequest.values())
                .flatMap(r -> Stream.of(Variant.values()).map(v -> Arguments.of(r, v)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("everyRequestAndVariant")
    void malformedVariantEndsTheSessionCleanly(FrontendRequest request, Variant variant) throws IOException {
        BackendSession session = session();
        int min = request.body().minBytes();
        int max = request.body().maxBytes();
        List<FileInputStream> open = new ArrayList<>();
        try {
            switch (variant) {
                case BAD_SIZE -> {
                    int size = min > 0 ? min - 1 : max + 8;
                    fe.send(request.id(), RawFrontend.V1, new byte[size]);
                }
                case TOO_MANY_FDS -> {
                    int count = Math.min(request.fds().max() + 1, 8);
                    if (request.fds().max() >= 8) {
                        count = 8; // ONE_PER_REGION: 8 fds for a payload announcing no region at all
                    }
                    FileDescriptor[] fds = new FileDescriptor[count];
                    for (int i = 0; i < count; i++) {
                        FileInputStream s = RawFrontend.dummyFd();
                        open.add(s);
                        fds[i] = s.getFD();
                    }
                    fe.send(request.id(), RawFrontend.V1, new byte[min], fds);
                }
                case RESERVED_FLAG -> fe.send(request.id(), RawFrontend.V1 | 0x40, new byte[min]);
                case VERSION_2 -> fe.send(request.id(), 0x2, new byte[min]);
                case OVERSIZE -> fe.sendWithSize(request.id(), RawFrontend.V1, 4109, new byte[0]);
            }
        } finally {
            for (FileInputStream s : open) {
                s.close();
            }
        }
        assertTrue(fe.awaitClosedByPeer(), "the back-end must close the connection");
        await().atMost(Duration.ofSeconds(5)).until(() -> session.failure().isPresent());
        assertInstanceOf(ProtocolViolationException.class, session.failure().orElseThrow(),
                () -> "cause: " + session.failure());
    }
}
