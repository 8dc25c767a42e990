package io.vhost.bench;

import io.vhost.api.Fd;
import io.vhost.api.backend.BackendHandler;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.VringAddress;
import java.util.List;
import java.util.Optional;

/**
 * The trivial back-end of the control-plane benchmarks, like the Rust anchor's dummy back-end: it accepts every
 * request and keeps nothing, so the library closes every received fd when the request is done. What is measured is
 * the library (codec, session engine, transport, threads), not a device.
 */
final class NullBackend implements BackendHandler {

    /** Offered virtio features: bits 0 and 1 (as the Rust anchor acks 0x4000_0003), VERSION_1, PROTOCOL_FEATURES. */
    static final long FEATURES = 0x3L | VirtioFeature.VERSION_1.mask() | VirtioFeature.PROTOCOL_FEATURES.mask();

    private static final long PROTOCOL = FeatureSet.of(ProtocolFeature.REPLY_ACK, ProtocolFeature.MQ).bits();

    @Override
    public long features() {
        return FEATURES;
    }

    @Override
    public void setFeatures(long acked) {
    }

    @Override
    public long protocolFeatures() {
        return PROTOCOL;
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public void setMemoryTable(MemoryTable table, List<Fd> fds) {
    }

    @Override
    public void setVringNum(int queue, int size) {
    }

    @Override
    public void setVringAddress(int queue, VringAddress address) {
    }

    @Override
    public void setVringBase(int queue, long base) {
    }

    @Override
    public long getVringBase(int queue, StopMode mode) {
        return 0;
    }

    @Override
    public void setVringKick(int queue, Optional<Fd> kick) {
    }

    @Override
    public void setVringCall(int queue, Optional<Fd> call) {
    }

    @Override
    public void setVringEnable(int queue, boolean enabled) {
    }
}
