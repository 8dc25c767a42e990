package io.vhost.impl.frontend;

import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.Gate;
import io.vhost.impl.codec.CodecOptions;

/**
 * What the front-end negotiated with the current back-end (features offered and acked, protocol features acked,
 * postcopy listening) and what that implies for each request: whether its gate is open, how its answer comes back
 * (reply body, REPLY_ACK or nothing) and how the codec reads it. Reset on reconnect. Fields are volatile: read by
 * any caller and by the back-end channel reader, written by the request methods once their exchange succeeded.
 */
final class Negotiation {

    /** How the caller gets its answer. */
    enum ReplyMode { NONE, ACK, BODY }

    private volatile FeatureSet offered; // null until GET_FEATURES
    private volatile FeatureSet acked = FeatureSet.EMPTY;
    private volatile FeatureSet ackedProtocol = FeatureSet.EMPTY;
    private volatile boolean featuresSet;
    private volatile boolean postcopyListening;

    FeatureSet offered() {
        return offered;
    }

    FeatureSet acked() {
        return acked;
    }

    FeatureSet ackedProtocol() {
        return ackedProtocol;
    }

    boolean postcopyListening() {
        return postcopyListening;
    }

    void offered(FeatureSet features) {
        offered = features;
    }

    /** SET_FEATURES succeeded: REPLY_ACK may now apply (FEATURES.md 4.4). */
    void featuresAcked(FeatureSet features) {
        acked = features;
        featuresSet = true;
    }

    void protocolAcked(FeatureSet features) {
        ackedProtocol = features;
    }

    void postcopyListening(boolean listening) {
        postcopyListening = listening;
    }

    /** Forgets everything: a new back-end negotiates from scratch. */
    void reset() {
        offered = null;
        acked = FeatureSet.EMPTY;
        ackedProtocol = FeatureSet.EMPTY;
        featuresSet = false;
        postcopyListening = false;
    }

    boolean replyAckActive() {
        return featuresSet && acked.contains(VirtioFeature.PROTOCOL_FEATURES)
                && ackedProtocol.contains(ProtocolFeature.REPLY_ACK);
    }

    /** GET/SET_PROTOCOL_FEATURES and SET_VRING_ENABLE only need PROTOCOL_FEATURES offered, not acked. */
    boolean gateOpen(Gate gate) {
        return switch (gate) {
            case Gate.None n -> true;
            case Gate.Protocol p -> ackedProtocol.contains(p.protocolFeature());
            case Gate.Virtio v -> acked.contains(v.virtioFeature())
                    || (v.virtioFeature() == VirtioFeature.PROTOCOL_FEATURES && offered != null
                            && offered.contains(VirtioFeature.PROTOCOL_FEATURES));
        };
    }

    ReplyMode replyMode(FrontendRequest r) {
        boolean ack = replyAckActive();
        return switch (r.reply()) {
            case ALWAYS -> ReplyMode.BODY;
            case ACK_IF_ASKED -> ack ? ReplyMode.ACK : ReplyMode.NONE;
            case IF_GATE -> gateOpen(r.gate()) ? ReplyMode.BODY : ack ? ReplyMode.ACK : ReplyMode.NONE;
            case POSTCOPY -> postcopyListening ? ReplyMode.BODY : ack ? ReplyMode.ACK : ReplyMode.NONE;
        };
    }

    CodecOptions codecOptions() {
        return ackedProtocol.contains(ProtocolFeature.XEN_MMAP) ? new CodecOptions(true, 4096) : CodecOptions.DEFAULT;
    }

    /** For error messages: "virtio acked ..., protocol acked ...". */
    String describeAcked() {
        return "virtio acked " + acked.describe(FeatureSet::virtioFeatures) + ", protocol acked "
                + ackedProtocol.describe(FeatureSet::protocolFeatures);
    }
}
