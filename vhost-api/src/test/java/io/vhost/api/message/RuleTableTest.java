package io.vhost.api.message;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Pins the numbering of the rule tables and feature enums to the specification. */
@Timeout(10)
class RuleTableTest {

    private static <E extends Request> void contiguous(List<E> values, int last) {
        for (int i = 0; i < values.size(); i++) {
            assertEquals(i + 1, values.get(i).id(), values.get(i) + " is misnumbered");
        }
        assertEquals(last, values.size());
        assertEquals(values.size(), values.stream().map(Request::id).collect(Collectors.toSet()).size(), "ids unique");
    }

    @Test
    void frontendRequestsAre1To45() {
        contiguous(List.of(FrontendRequest.values()), 45);
        assertEquals(Map.of(5, "SET_MEM_TABLE", 21, "SET_BACKEND_REQ_FD", 38, "REM_MEM_REG", 43, "CHECK_DEVICE_STATE",
                44, "GET_SHMEM_CONFIG", 45, "GET_VRING_BASE_SKIP_DRAIN"),
                Stream.of(5, 21, 38, 43, 44, 45).collect(Collectors.toMap(i -> i,
                        i -> FrontendRequest.byId(i).orElseThrow().name())));
        assertTrue(FrontendRequest.byId(0).isEmpty());
        assertTrue(FrontendRequest.byId(46).isEmpty());
        assertTrue(FrontendRequest.byId(0xFFFF_FFFFL).isEmpty());
    }

    @Test
    void backendRequestsAre1To10() {
        contiguous(List.of(BackendRequest.values()), 10);
        assertEquals("BACKEND_SHARED_OBJECT_LOOKUP", BackendRequest.byId(8).orElseThrow().name());
        assertEquals("BACKEND_SHMEM_UNMAP", BackendRequest.byId(10).orElseThrow().name());
        assertTrue(BackendRequest.byId(11).isEmpty());
    }

    @Test
    void protocolBitsAre0To23() {
        ProtocolFeature[] all = ProtocolFeature.values();
        assertEquals(24, all.length);
        for (int i = 0; i < all.length; i++) {
            assertEquals(i, all[i].bit(), all[i] + " is misnumbered");
        }
        assertEquals(20, ProtocolFeature.GET_VRING_BASE_INFLIGHT.bit());
        assertEquals(21, ProtocolFeature.GPA_ADDRESSES.bit());
        assertEquals(22, ProtocolFeature.SHMEM.bit());
        assertEquals(23, ProtocolFeature.GET_VRING_BASE_SKIP_DRAIN.bit());
        assertEquals(0xFF_FFFFL, ProtocolFeature.knownMask());
        assertEquals(0x1F_FFFFL, ProtocolFeature.mainlineMask());
    }

    @Test
    void provisionalItemsAreExactlyTheNewestSeries() {
        assertEquals(Set.of(FrontendRequest.GET_SHMEM_CONFIG, FrontendRequest.GET_VRING_BASE_SKIP_DRAIN),
                Stream.of(FrontendRequest.values()).filter(Request::provisional).collect(Collectors.toSet()));
        assertEquals(Set.of(BackendRequest.BACKEND_SHMEM_MAP, BackendRequest.BACKEND_SHMEM_UNMAP),
                Stream.of(BackendRequest.values()).filter(Request::provisional).collect(Collectors.toSet()));
        assertEquals(Set.of(ProtocolFeature.GPA_ADDRESSES, ProtocolFeature.SHMEM,
                ProtocolFeature.GET_VRING_BASE_SKIP_DRAIN),
                Stream.of(ProtocolFeature.values()).filter(ProtocolFeature::provisional).collect(Collectors.toSet()));
    }

    @Test
    void virtioBitsMatchTheSpec() {
        assertEquals(30, VirtioFeature.PROTOCOL_FEATURES.bit());
        assertEquals(26, VirtioFeature.LOG_ALL.bit());
        assertEquals(33, VirtioFeature.ACCESS_PLATFORM.bit());
        assertEquals(List.of(3, 21, 22, 24, 26, 28, 29, 30, 32, 33, 34, 35, 36, 37, 38, 40),
                Stream.of(VirtioFeature.values()).map(VirtioFeature::bit).toList());
    }

    @Test
    void headerFlags() {
        assertEquals(0x3, HeaderFlags.VERSION_MASK);
        assertEquals(1, HeaderFlags.VERSION);
        assertEquals(0x4, HeaderFlags.REPLY);
        assertEquals(0x8, HeaderFlags.NEED_REPLY);
    }

    @Test
    void noMasterSlaveNames() {
        Stream.of(FrontendRequest.values(), BackendRequest.values(), ProtocolFeature.values())
                .flatMap(Stream::of).map(Object::toString)
                .forEach(n -> assertFalse(n.contains("SLAVE") || n.contains("MASTER"), n));
    }

    @Test
    void fdRulesOfTheSpecCommunicationList() {
        assertEquals(Fds.ONE_PER_REGION, FrontendRequest.SET_MEM_TABLE.fds());
        assertEquals(Fds.ONE_UNLESS_NOFD, FrontendRequest.SET_VRING_KICK.fds());
        assertEquals(Fds.ZERO_OR_ONE_CLOSED, FrontendRequest.REM_MEM_REG.fds());
        assertEquals(Fds.EXACTLY_ONE, FrontendRequest.GET_INFLIGHT_FD.replyFds());
        assertEquals(ReplyKind.ALWAYS, FrontendRequest.CHECK_DEVICE_STATE.reply());
        assertEquals(Gate.protocol(ProtocolFeature.MQ), FrontendRequest.GET_QUEUE_NUM.gate());
    }
}
