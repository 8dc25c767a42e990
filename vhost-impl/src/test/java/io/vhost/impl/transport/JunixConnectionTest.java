package io.vhost.impl.transport;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class JunixConnectionTest extends ConnectionContractTest {

    @Override
    TransportKind kind() {
        return TransportKind.JUNIXSOCKET;
    }

    @Test
    void receivingOnAVirtualThreadIsRefused() throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                b.receiveHeader(ByteBuffer.allocate(12));
            } catch (IOException | RuntimeException e) {
                thrown.set(e);
            }
        });
        assertTrue(reader.join(BOUND));
        assertInstanceOf(IllegalStateException.class, thrown.get());
        assertTrue(thrown.get().getMessage().contains("must not be read from a virtual thread"),
                thrown.get().getMessage());
    }
}
