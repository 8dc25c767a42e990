package io.vhost.impl.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.Fd;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.testing.NoFdLeaks;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A descriptor received over junixsocket belongs to the caller alone: closing the connection must not close it
 * (junixsocket closes what it received when its socket closes; the caller's {@code Fd} would then close the number
 * a second time, possibly after it was reused by an unrelated descriptor).
 */
@NoFdLeaks
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class JunixReceivedFdOwnershipTest {

    @Test
    void aReceivedFdOutlivesTheConnectionAndIsClosedOnceByItsOwner() throws Exception {
        Connection[] pair = Transports.socketPair(TransportKind.JUNIXSOCKET);
        try (Connection sender = pair[1]; OwnedFd sent = EventFds.create(0, "sent eventfd")) {
            List<Fd> received;
            try (Connection receiver = pair[0]) {
                sender.send(ByteBuffer.allocate(12), List.of(sent));
                received = receiver.receiveHeader(ByteBuffer.allocate(12));
            }
            assertEquals(1, received.size());
            try (Fd fd = received.get(0)) {
                assertTrue(Files.exists(Path.of("/proc/self/fd/" + fd.number())),
                        "fd " + fd.number() + " was closed by the connection's close");
                assertTrue(EventFds.signal(fd.number(), 1), "the received eventfd still works");
            }
        }
    }
}
