package io.vhost.impl.backend;

import static io.vhost.api.message.FrontendRequest.*;
import static io.vhost.testing.RawFrontend.u64;
import static io.vhost.testing.RawFrontend.u64s;
import static io.vhost.testing.RawFrontend.vringState;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawFrontend;
import io.vhost.testing.RecordingDevice;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import io.vhost.api.Fd;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import io.vhost.impl.transport.Connection;
import io.vhost.impl.transport.TransportKind;
import io.vhost.impl.transport.Transports;
import java.io.FileDescriptor;
import java.nio.ByteOrder;
import java.util.concurrent.ExecutionException;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * Spec conformance of the back-end engine, request by request and rule by rule, driven by a scripted raw-socket
 * front-end (never by our own front-end). Every test checks that no fd leaks.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BackendConformanceTest extends BackendTestBase {

    static final long NEGOTIATED = mask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG,
            ProtocolFeature.LOG_SHMFD, ProtocolFeature.BACKEND_REQ, ProtocolFeature.CONFIGURE_MEM_SLOTS,
            ProtocolFeature.RESET_DEVICE, ProtocolFeature.STATUS);

    static byte[] region(long guest, long size, long user, long offset) {
        return u64s(guest, size, user, offset);
    }

    static byte[] memTable(byte[]... regions) {
        ByteBuffer b = RawFrontend.payload(8 + 32 * regions.length);
        b.putInt(regions.length).putInt(0);
        for (byte[] r : regions) {
            b.put(r);
        }
        return b.array();
    }

    static byte[] singleRegion(byte[] region) {
        return RawFrontend.payload(40).putLong(0).put(region).array();
    }

    static byte[] vringAddr(int index, long desc, long used, long avail) {
        return RawFrontend.payload(40).putInt(index).putInt(0).putLong(desc).putLong(used).putLong(avail).putLong(0)
                .array();
    }

    static byte[] config(int offset, int size, int flags, byte[] data) {
        return RawFrontend.payload(12 + size).putInt(offset).putInt(size).putInt(flags).put(data).array();
    }

    // ---- features and negotiation ------------------------------------------------------------------------------

    @Test
    void getFeaturesOffersDeviceBitsAndProtocolFeatures() throws IOException {
        assertEquals(DEVICE_FEATURES | BIT30 | VirtioFeature.ACCESS_PLATFORM.mask(), call(GET_FEATURES, new byte[0]).u64());
        long offered = call(GET_PROTOCOL_FEATURES, new byte[0]).u64();
        assertEquals(ALL_PROTOCOL, offered);
    }

    @Test
    void protocolFeaturesWorkBeforeSetFeatures() throws IOException {
        assertEquals(ALL_PROTOCOL, call(GET_PROTOCOL_FEATURES, new byte[0]).u64());
        assertEquals(0, acked(SET_PROTOCOL_FEATURES, u64(NEGOTIATED)), "ack of SET_PROTOCOL_FEATURES itself");
        assertTrue(device.events().contains("setProtocolFeatures 0x" + Long.toHexString(NEGOTIATED)));
        assertFalse(session().engine().featuresSet());
    }

    @Test
    void replyAckDoesNotNeedGetProtocolFeatures() throws IOException {
        send(SET_PROTOCOL_FEATURES, u64(mask(ProtocolFeature.REPLY_ACK)));
        assertEquals(0, acked(SET_OWNER, new byte[0]));
    }

    @Test
    void needReplyIsAnsweredEvenBeforeReplyAckIsNegotiated() throws IOException {
        assertEquals(0, acked(SET_OWNER, new byte[0]), "a front-end that asks is never left waiting");
        assertTrue(device.events().contains("setOwner"));
        send(SET_OWNER, new byte[0]);
        assertEquals(DEVICE_FEATURES | BIT30, sync(), "without NEED_REPLY nothing is sent");
        assertFalse(session().engine().replyAck(), "REPLY_ACK itself is not in effect");
    }

    @Test
    void replyAckNeedsProtocolFeaturesAndTheReplyAckBit() throws IOException {
        send(SET_PROTOCOL_FEATURES, u64(mask(ProtocolFeature.CONFIG)));
        sync();
        assertFalse(session().engine().replyAck());
        send(SET_PROTOCOL_FEATURES, u64(mask(ProtocolFeature.REPLY_ACK)));
        sync();
        assertTrue(session().engine().replyAck(), "on without GET_PROTOCOL_FEATURES and before SET_FEATURES");
        send(SET_FEATURES, u64(DEVICE_FEATURES | BIT30));
        sync();
        assertTrue(session().engine().replyAck());
    }

    @Test
    void ackedFeatureBitsThatWereNotOfferedAreRejected() throws IOException {
        negotiate(NEGOTIATED);
        device.events().clear();
        assertNotEquals(0, acked(SET_FEATURES, u64(DEVICE_FEATURES | BIT30 | (1L << 50))));
        assertNotEquals(0, acked(SET_PROTOCOL_FEATURES, u64(NEGOTIATED | (1L << 40))));
        assertEquals(List.of(), device.events());
    }

    @Test
    void unknownProtocolBitsOfTheDeviceAreNotOffered() throws Exception {
        stopBackend();
        device = new RecordingDevice(DEVICE_FEATURES, mask(ProtocolFeature.CONFIG) | (1L << 40), 1);
        RecordingDevice d = device;
        server = BackendServer.bind(dir.resolve("b2.sock"), ctx -> d, BackendOptions.defaults());
        serving = Thread.ofPlatform().start(() -> {
            try {
                server.serve();
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        fe = RawFrontend.connect(dir.resolve("b2.sock"), READ_TIMEOUT);
        long offered = call(GET_PROTOCOL_FEATURES, new byte[0]).u64();
        assertEquals(mask(ProtocolFeature.CONFIG, ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK), offered);
    }

    // ---- ring states -------------------------------------------------------------------------------------------

    @Test
    void ringsStartStoppedAndDisabled() throws IOException {
        sync();
        for (int q = 0; q < QUEUES; q++) {
            assertFalse(session().engine().ringEnabled(q));
            assertFalse(session().engine().ringStarted(q));
        }
    }

    @Test
    void setFeaturesWithoutProtocolFeaturesEnablesAllRingsAndNeverDisablesThem() throws IOException {
        send(SET_FEATURES, u64(VERSION_1));
        sync();
        assertTrue(device.events().containsAll(List.of("setVringEnable 0 true", "setVringEnable 1 true")));
        send(SET_FEATURES, u64(VERSION_1 | VirtioFeature.LOG_ALL.mask()));
        send(SET_FEATURES, u64(VERSION_1));
        sync();
        assertTrue(device.events().stream().noneMatch(e -> e.endsWith("false")), device.events().toString());
        assertTrue(session().engine().ringEnabled(0) && session().engine().ringEnabled(1));
    }

    @Test
    void setVringEnableNeedsProtocolFeatures() throws IOException {
        send(SET_VRING_ENABLE, vringState(0, 1));
        sync();
        assertTrue(device.events().stream().noneMatch(e -> e.startsWith("setVringEnable")));
        negotiate(NEGOTIATED);
        assertEquals(0, acked(SET_VRING_ENABLE, vringState(0, 1)));
        assertTrue(device.events().contains("setVringEnable 0 true"));
        assertTrue(session().engine().ringEnabled(0));
        assertNotEquals(0, acked(SET_VRING_ENABLE, vringState(0, 2)), "num must be 0 or 1");
    }

    @Test
    void inBandKickStartsARingAndGetVringBaseStopsIt() throws IOException {
        negotiate(NEGOTIATED | mask(ProtocolFeature.INBAND_NOTIFICATIONS));
        assertEquals(0, acked(VRING_KICK, vringState(1, 0)));
        assertTrue(session().engine().ringStarted(1));
        device.base(42);
        RawFrontend.Message m = call(GET_VRING_BASE, vringState(1, 0));
        assertEquals(8, m.payload().length);
        assertEquals(1, m.body().getInt());
        assertEquals(42, m.body().getInt(4));
        assertFalse(session().engine().ringStarted(1));
        assertTrue(device.events().contains("getVringBase 1 DRAIN"));
    }

    @Test
    void kickWithoutFdMeansPollingAndStartsTheRing() throws IOException {
        negotiate(NEGOTIATED);
        assertEquals(0, acked(SET_VRING_KICK, u64(0x100)));
        assertTrue(session().engine().ringStarted(0));
        assertTrue(device.events().contains("setVringKick 0 nofd"));
    }

    // ---- vrings ------------------------------------------------------------------------------------------------

    @Test
    void vringConfigurationHappyPath() throws IOException {
        negotiate(NEGOTIATED);
        try (FileInputStream kick = RawFrontend.dummyFd(); FileInputStream call = RawFrontend.dummyFd();
                FileInputStream err = RawFrontend.dummyFd()) {
            assertEquals(0, acked(SET_VRING_NUM, vringState(0, 256)));
            assertEquals(0, acked(SET_VRING_BASE, vringState(0, 0)));
            assertEquals(0, acked(SET_VRING_ADDR, vringAddr(0, 0x1000, 0x3000, 0x2000)));
            assertEquals(0, acked(SET_VRING_KICK, u64(0), kick.getFD()));
            assertEquals(0, acked(SET_VRING_CALL, u64(0), call.getFD()));
            assertEquals(0, acked(SET_VRING_ERR, u64(0), err.getFD()));
        }
        assertEquals(List.of("setVringNum 0 256", "setVringBase 0 0", "setVringAddress 0 0x1000", "setVringKick 0 fd",
                "setVringCall 0 fd", "setVringErr 0 fd"), device.events().subList(2, 8));
        assertEquals(2, device.keptFds(), "kick and call kept by the device; err closed by the engine");
    }

    @Test
    void vringRequestsNamingAMissingQueueAreRejected() throws IOException {
        negotiate(NEGOTIATED);
        device.events().clear();
        assertNotEquals(0, acked(SET_VRING_NUM, vringState(2, 256)));
        assertNotEquals(0, acked(SET_VRING_BASE, vringState(7, 0)));
        assertNotEquals(0, acked(SET_VRING_CALL, u64(0x105)));
        assertNotEquals(0, acked(SET_VRING_ENABLE, vringState(3, 1)));
        assertEquals(List.of(), device.events());
    }

    @Test
    void vringSizesAboveTheMaximumOrNotAPowerOfTwoAreRejected() throws IOException {
        negotiate(NEGOTIATED);
        assertNotEquals(0, acked(SET_VRING_NUM, vringState(0, 2048)));
        assertNotEquals(0, acked(SET_VRING_NUM, vringState(0, 100)));
        assertNotEquals(0, acked(SET_VRING_NUM, vringState(0, 0)));
        assertEquals(0, acked(SET_VRING_NUM, vringState(0, 1024)));
    }

    @Test
    void getVringBaseOfAMissingQueueClosesTheConnection() throws IOException {
        negotiate(NEGOTIATED);
        fe.send(GET_VRING_BASE.id(), RawFrontend.V1, vringState(9, 0));
        assertTrue(fe.awaitClosedByPeer(), "no defined error reply: the back-end must disconnect, not hang");
    }

    // ---- memory ------------------------------------------------------------------------------------------------

    @Test
    void memoryTableAndMemorySlots() throws IOException {
        negotiate(NEGOTIATED);
        try (FileInputStream a = RawFrontend.dummyFd(); FileInputStream b = RawFrontend.dummyFd();
                FileInputStream c = RawFrontend.dummyFd(); FileInputStream d = RawFrontend.dummyFd()) {
            assertEquals(0, acked(SET_MEM_TABLE, memTable(region(0, 1 << 20, 0x7f0000000000L, 0),
                    region(1 << 20, 1 << 20, 0x7f0000100000L, 0)), a.getFD(), b.getFD()));
            assertEquals(509, call(GET_MAX_MEM_SLOTS, new byte[0]).u64());
            assertEquals(0, acked(ADD_MEM_REG, singleRegion(region(1 << 30, 4096, 0x7f1000000000L, 0)),
                    c.getFD()));
            assertEquals(0, acked(REM_MEM_REG, singleRegion(region(1 << 30, 4096, 0x7f1000000000L, 0)),
                    d.getFD()), "REM_MEM_REG with an fd is accepted (and the fd closed)");
        }
        assertTrue(device.events().containsAll(List.of("setMemoryTable 2", "addMemoryRegion 0x40000000",
                "removeMemoryRegion 0x40000000")));
        assertEquals(3, device.keptFds());
    }

    @Test
    void queueCount() throws IOException {
        negotiate(NEGOTIATED);
        assertEquals(QUEUES, call(GET_QUEUE_NUM, new byte[0]).u64());
    }

    // ---- config ------------------------------------------------------------------------------------------------

    @Test
    void configSpace() throws IOException {
        byte[] cfg = new byte[256];
        for (int i = 0; i < cfg.length; i++) {
            cfg[i] = (byte) i;
        }
        device.config(cfg);
        negotiate(NEGOTIATED);
        RawFrontend.Message m = call(GET_CONFIG, config(4, 8, 0, new byte[8]));
        assertEquals(20, m.payload().length);
        ByteBuffer b = m.body();
        assertEquals(4, b.getInt());
        assertEquals(8, b.getInt());
        assertEquals(0, b.getInt());
        byte[] data = new byte[8];
        b.get(data);
        assertArrayEquals(new byte[] {4, 5, 6, 7, 8, 9, 10, 11}, data);
        assertEquals(0, call(GET_CONFIG, config(250, 16, 0, new byte[16])).payload().length,
                "a config read the device refuses gets a zero-size reply");
        assertEquals(0, acked(SET_CONFIG, config(0, 4, 1, new byte[] {1, 2, 3, 4})));
        assertTrue(device.events().contains("setConfig 0 4 1"));
    }

    @Test
    void getConfigWithoutTheConfigFeatureGetsAnEmptyReply() throws IOException {
        negotiate(mask(ProtocolFeature.REPLY_ACK));
        assertEquals(0, call(GET_CONFIG, config(0, 8, 0, new byte[8])).payload().length);
        assertTrue(device.events().stream().noneMatch(e -> e.startsWith("getConfig")));
    }

    // ---- log, reset ----------------------------------------------------------------------------------------------

    @Test
    void setLogBaseAlwaysRepliesWithLogShmfd() throws IOException {
        negotiate(NEGOTIATED);
        try (FileInputStream log = RawFrontend.dummyFd(); FileInputStream logFd = RawFrontend.dummyFd()) {
            RawFrontend.Message m = call(SET_LOG_BASE, u64s(4096, 0), log.getFD());
            assertEquals(0, m.u64(), "SET_LOG_BASE reply: u64 0 (8 bytes), sent without NEED_REPLY");
            assertEquals(0, acked(SET_LOG_FD, new byte[0], logFd.getFD()));
        }
        assertTrue(device.events().containsAll(List.of("setLogBase 4096", "setLogFd")));
    }

    @Test
    void resetOwnerKeepsNegotiatedState() throws IOException {
        negotiate(NEGOTIATED);
        assertEquals(0, acked(SET_VRING_ENABLE, vringState(0, 1)));
        assertEquals(0, acked(RESET_OWNER, new byte[0]));
        assertEquals(0, acked(SET_OWNER, new byte[0]), "REPLY_ACK still negotiated after RESET_OWNER");
        assertEquals(0, acked(SET_VRING_ENABLE, vringState(1, 1)), "PROTOCOL_FEATURES still negotiated");
        assertTrue(session().engine().ringEnabled(0), "RESET_OWNER changes no ring state");
    }

    @Test
    void resetDeviceDisablesRingsAndKeepsOwnership() throws IOException {
        negotiate(NEGOTIATED);
        assertEquals(0, acked(SET_VRING_ENABLE, vringState(0, 1)));
        assertEquals(0, acked(RESET_DEVICE, new byte[0]));
        assertTrue(device.events().containsAll(List.of("setVringEnable 0 false", "resetDevice")));
        assertFalse(session().engine().ringEnabled(0));
        assertEquals(0, acked(SET_VRING_ENABLE, vringState(0, 1)), "ownership and protocol features kept");
    }

    // ---- back-end channel ------------------------------------------------------------------------------------------

    /** Opens a socketpair, hands one end to the back-end with SET_BACKEND_REQ_FD and returns the other end. */
    private Connection openBackendChannel() throws IOException {
        OwnedFd[] ends = Sockets.socketPair(0, "test back-end channel");
        try (OwnedFd theirs = ends[1]) {
            FileDescriptor fd = FileDescriptorCast.unsafeUsing(theirs.number()).getFileDescriptor();
            assertEquals(0, acked(SET_BACKEND_REQ_FD, new byte[0], fd));
        } catch (IOException | RuntimeException e) {
            ends[0].close();
            throw e;
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> device.channel() != null);
        return Transports.wrap(ends[0], TransportKind.FFM, "test back-end channel");
    }

    private static ByteBuffer readHeader(Connection c, int payloadBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(12 + payloadBytes).order(ByteOrder.LITTLE_ENDIAN);
        List<Fd> fds = c.receiveHeader(b.limit(12));
        fds.forEach(Fd::close);
        c.receiveFully(b.limit(12 + payloadBytes));
        return b.flip();
    }

    private static void replyU64(Connection c, int request, long value) throws IOException {
        c.send(ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putInt(request).putInt(0x5).putInt(8)
                .putLong(value).flip(), List.of());
    }

    @Test
    void backendChannelCarriesRequestsAndAwaitsAcks() throws Exception {
        negotiate(NEGOTIATED | mask(ProtocolFeature.SHARED_OBJECT));
        assertTrue(context.frontendChannel().isEmpty());
        try (Connection mine = openBackendChannel()) {
            assertTrue(device.channel().acksReplies());
            assertTrue(context.frontendChannel().isPresent(), "the session context hands out the same channel");
            assertEquals(DEVICE_FEATURES | BIT30, context.ackedFeatures());
            assertEquals(NEGOTIATED | mask(ProtocolFeature.SHARED_OBJECT), context.ackedProtocolFeatures());
            CompletableFuture<Void> change = CompletableFuture.runAsync(() -> {
                try {
                    device.channel().configChanged();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            ByteBuffer h = readHeader(mine, 0);
            assertEquals(2, h.getInt(), "BACKEND_CONFIG_CHANGE_MSG");
            assertEquals(0x9, h.getInt(), "version 1 | NEED_REPLY");
            assertEquals(0, h.getInt());
            assertFalse(change.isDone(), "the sender waits for the front-end's ack");
            replyU64(mine, 2, 0);
            change.get(5, TimeUnit.SECONDS);

            CompletableFuture<Void> rejected = CompletableFuture.runAsync(() -> {
                try {
                    device.channel().configChanged();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            readHeader(mine, 0);
            replyU64(mine, 2, 1);
            ExecutionException failed = assertThrows(ExecutionException.class, () -> rejected.get(5, TimeUnit.SECONDS));
            assertTrue(failed.getCause().getMessage().contains("rejected BACKEND_CONFIG_CHANGE_MSG"),
                    failed.getCause().getMessage());

            CompletableFuture<Boolean> lookup = CompletableFuture.supplyAsync(() -> {
                try {
                    return device.channel().sharedObjectLookup(UUID.randomUUID()).isPresent();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            h = readHeader(mine, 16);
            assertEquals(8, h.getInt(), "BACKEND_SHARED_OBJECT_LOOKUP");
            assertEquals(0x1, h.getInt(), "always replies: no NEED_REPLY needed");
            replyU64(mine, 8, 0);
            assertFalse(lookup.get(5, TimeUnit.SECONDS), "reply 0 without fd: no object");
        }
    }

    @Test
    void backendChannelRefusesRequestsWhoseFeatureIsNotNegotiated() throws Exception {
        negotiate(NEGOTIATED);
        try (Connection mine = openBackendChannel()) {
            IOException e = assertThrows(IOException.class, () -> device.channel().sharedObjectAdd(UUID.randomUUID()));
            assertTrue(e.getMessage().contains("SHARED_OBJECT"), e.getMessage());
        }
    }

    @Test
    void backendChannelWithoutReplyAckDoesNotWait() throws Exception {
        negotiate(NEGOTIATED & ~mask(ProtocolFeature.REPLY_ACK));
        OwnedFd[] ends = Sockets.socketPair(0, "test back-end channel");
        try (OwnedFd theirs = ends[1]; Connection mine = Transports.wrap(ends[0], TransportKind.FFM, "test")) {
            send(SET_BACKEND_REQ_FD, new byte[0], FileDescriptorCast.unsafeUsing(theirs.number()).getFileDescriptor());
            sync();
            assertFalse(device.channel().acksReplies());
            device.channel().configChanged();
            ByteBuffer h = readHeader(mine, 0);
            assertEquals(2, h.getInt());
            assertEquals(0x1, h.getInt(), "no NEED_REPLY without REPLY_ACK");
        }
    }

    // ---- the rest of the requests: happy paths ------------------------------------------------------------------------

    @Test
    void everyOtherRequestReachesTheDevice() throws IOException {
        negotiate(ALL_PROTOCOL & ~mask(ProtocolFeature.XEN_MMAP));
        assertEquals(0, acked(SEND_RARP, u64(0x665544332211L)));
        assertEquals(0, acked(NET_SET_MTU, u64(1500)));
        assertEquals(0, acked(SET_VRING_ENDIAN, vringState(0, 1)));
        RawFrontend.Message crypto = call(CREATE_CRYPTO_SESSION, RawFrontend.payload(24).putLong(0).putLong(1)
                .putLong(2).array());
        assertEquals(7, crypto.body().getLong());
        assertEquals(0, acked(CLOSE_CRYPTO_SESSION, u64(7)));
        RawFrontend.Message uffd = call(POSTCOPY_ADVISE, new byte[0]);
        assertEquals(1, uffd.fds().length, "POSTCOPY_ADVISE returns the userfaultfd");
        RawFrontend.closeAll(uffd.fds());
        assertEquals(0, acked(POSTCOPY_LISTEN, new byte[0]));
        assertEquals(0, call(POSTCOPY_END, new byte[0]).u64());
        RawFrontend.Message inflight = call(GET_INFLIGHT_FD, RawFrontend.payload(24).putLong(0).putLong(0)
                .putShort((short) 2).putShort((short) 256).array());
        assertEquals(24, inflight.payload().length);
        assertEquals(4096, inflight.body().getLong());
        assertEquals(1, inflight.fds().length);
        RawFrontend.closeAll(inflight.fds());
        try (FileInputStream fd = RawFrontend.dummyFd(); FileInputStream gpu = RawFrontend.dummyFd();
                FileInputStream state = RawFrontend.dummyFd()) {
            assertEquals(0, acked(SET_INFLIGHT_FD, RawFrontend.payload(24).putLong(4096).putLong(0)
                    .putShort((short) 2).putShort((short) 256).array(), fd.getFD()));
            assertEquals(0, acked(GPU_SET_SOCKET, new byte[0], gpu.getFD()));
            RawFrontend.Message st = call(SET_DEVICE_STATE_FD, RawFrontend.payload(8).putInt(0).putInt(0).array(),
                    state.getFD());
            assertEquals(0x100, st.u64(), "success, no fd of the back-end's own");
        }
        assertEquals(0, call(CHECK_DEVICE_STATE, new byte[0]).u64());
        assertEquals(0, acked(SET_STATUS, u64(0x0f)));
        assertEquals(0x0f, call(GET_STATUS, new byte[0]).u64());
        RawFrontend.Message shared = call(GET_SHARED_OBJECT, new byte[16]);
        assertNotEquals(0, shared.u64(), "unknown object: non-zero and no fd");
        assertEquals(0, shared.fds().length);
        RawFrontend.Message shmem = call(GET_SHMEM_CONFIG, new byte[0]);
        assertEquals(8 + 256 * 8, shmem.payload().length);
        assertEquals(1, shmem.body().getInt());
        assertEquals(1 << 20, shmem.body().getLong(8));
        RawFrontend.Message skip = call(GET_VRING_BASE_SKIP_DRAIN, vringState(1, 0));
        assertEquals(1, skip.body().getInt());
        assertTrue(device.events().containsAll(List.of("sendRarp 11:22:33:44:55:66", "setMtu 1500",
                "setVringEndian 0 true", "createCryptoSession", "closeCryptoSession 7", "postcopyAdvise",
                "postcopyListen", "postcopyEnd", "getInflightFd 2 256", "setInflightFd 4096", "setGpuSocket",
                "setDeviceStateFd SAVE", "checkDeviceState", "setStatus 15", "getStatus", "getShmemConfig",
                "getVringBase 1 SUSPEND_INFLIGHT")), device.events().toString());
    }

    @Test
    void postcopyMemoryTableIsRepliedAndItsAckConsumed() throws IOException {
        negotiate(NEGOTIATED | mask(ProtocolFeature.PAGEFAULT));
        RawFrontend.Message uffd = call(POSTCOPY_ADVISE, new byte[0]);
        RawFrontend.closeAll(uffd.fds());
        assertEquals(0, acked(POSTCOPY_LISTEN, new byte[0]));
        try (FileInputStream region = RawFrontend.dummyFd()) {
            RawFrontend.Message table = call(SET_MEM_TABLE, memTable(region(0, 1 << 20, 0x7f0000000000L, 0)),
                    region.getFD());
            assertEquals(8 + 32, table.payload().length, "the reply lists the mapped regions");
            assertEquals(1, table.body().getInt());
        }
        send(SET_MEM_TABLE, u64(0)); // the front-end's acknowledgement (QEMU sends a u64 0)
        assertEquals(DEVICE_FEATURES | BIT30, sync(), "the ack is consumed, the session goes on");
        assertEquals(0, call(POSTCOPY_END, new byte[0]).u64());
        assertTrue(device.events().contains("setMemoryTablePostcopy 1"));
    }

    @Test
    void iotlbNeedsAccessPlatform() throws IOException {
        long accessPlatform = VirtioFeature.ACCESS_PLATFORM.mask();
        assertEquals(DEVICE_FEATURES | BIT30, call(GET_FEATURES, new byte[0]).u64() & ~accessPlatform);
        send(SET_PROTOCOL_FEATURES, u64(NEGOTIATED));
        send(SET_FEATURES, u64(DEVICE_FEATURES | BIT30));
        byte[] iotlb = RawFrontend.payload(32).putLong(0x1000).putLong(0x1000).putLong(0x7f0000000000L)
                .put((byte) 3).put((byte) 2).array();
        assertNotEquals(0, call(IOTLB_MSG, iotlb).u64(), "ACCESS_PLATFORM was not acked");
        assertTrue(device.events().stream().noneMatch(e -> e.startsWith("iotlb")));
        send(SET_FEATURES, u64(DEVICE_FEATURES | BIT30 | accessPlatform));
        assertEquals(0, call(IOTLB_MSG, iotlb).u64());
        assertTrue(device.events().contains("iotlbMessage UPDATE"));
    }
}
