package io.vhost.api.message;

import io.vhost.api.feature.FeatureBit;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import java.util.Objects;
import java.util.Optional;

/**
 * The feature that must be negotiated before a request may be sent: none, a protocol feature or a virtio bit.
 * Requests on the back-end channel additionally need {@link ProtocolFeature#BACKEND_REQ}, which opens the channel.
 */
public sealed interface Gate {

    /** The gate of requests that need no feature. */
    Gate NONE = new None();

    /**
     * Returns the gate "protocol feature {@code f} negotiated".
     *
     * @param f the protocol feature
     * @return the gate
     */
    static Gate protocol(ProtocolFeature f) {
        return new Protocol(f);
    }

    /**
     * Returns the gate "virtio feature {@code f} acked by SET_FEATURES".
     *
     * @param f the virtio feature
     * @return the gate
     */
    static Gate virtio(VirtioFeature f) {
        return new Virtio(f);
    }

    /**
     * Returns the gating feature bit, if any.
     *
     * @return the feature, or empty for {@link #NONE}
     */
    Optional<FeatureBit> feature();

    /** No gating feature. */
    record None() implements Gate {
        @Override
        public Optional<FeatureBit> feature() {
            return Optional.empty();
        }

        @Override
        public String toString() {
            return "-";
        }
    }

    /**
     * Gated by a protocol feature.
     *
     * @param protocolFeature the protocol feature
     */
    record Protocol(ProtocolFeature protocolFeature) implements Gate {
        /** Checks the feature is given. */
        public Protocol {
            Objects.requireNonNull(protocolFeature, "protocolFeature");
        }

        @Override
        public Optional<FeatureBit> feature() {
            return Optional.of(protocolFeature);
        }

        @Override
        public String toString() {
            return "protocol " + protocolFeature.name();
        }
    }

    /**
     * Gated by a virtio feature bit.
     *
     * @param virtioFeature the virtio feature
     */
    record Virtio(VirtioFeature virtioFeature) implements Gate {
        /** Checks the feature is given. */
        public Virtio {
            Objects.requireNonNull(virtioFeature, "virtioFeature");
        }

        @Override
        public Optional<FeatureBit> feature() {
            return Optional.of(virtioFeature);
        }

        @Override
        public String toString() {
            return "virtio " + virtioFeature.name();
        }
    }
}
