package io.vhost.api.feature;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * An immutable 64-bit feature word, as carried by {@code SET_FEATURES}, {@code SET_PROTOCOL_FEATURES} and their
 * {@code GET_*} replies. Unknown bits are kept, never dropped: mask them explicitly with {@link #intersect}.
 *
 * @param bits the raw feature word
 */
public record FeatureSet(long bits) {

    /** The empty set. */
    public static final FeatureSet EMPTY = new FeatureSet(0);

    /**
     * Creates the set of the given bits.
     *
     * @param features the bits to set
     * @return a set holding exactly those bits
     */
    public static FeatureSet of(FeatureBit... features) {
        long b = 0;
        for (FeatureBit f : features) {
            b |= f.mask();
        }
        return new FeatureSet(b);
    }

    /**
     * Tells whether the bit is set.
     *
     * @param feature the bit to test
     * @return {@code true} if set
     */
    public boolean contains(FeatureBit feature) {
        return (bits & feature.mask()) != 0;
    }

    /**
     * Tells whether every bit of {@code other} is set here.
     *
     * @param other the bits required
     * @return {@code true} if {@code other} is a subset of this set
     */
    public boolean containsAll(FeatureSet other) {
        return (bits & other.bits) == other.bits;
    }

    /**
     * Returns this set with the bit added.
     *
     * @param feature the bit to add
     * @return a new set
     */
    public FeatureSet with(FeatureBit feature) {
        return new FeatureSet(bits | feature.mask());
    }

    /**
     * Returns this set with the bit removed.
     *
     * @param feature the bit to remove
     * @return a new set
     */
    public FeatureSet without(FeatureBit feature) {
        return new FeatureSet(bits & ~feature.mask());
    }

    /**
     * Returns the bits set in both sets.
     *
     * @param other the other set
     * @return the intersection
     */
    public FeatureSet intersect(FeatureSet other) {
        return new FeatureSet(bits & other.bits);
    }

    /**
     * Returns the bits set here but not in {@code other}, e.g. acked bits that were never offered.
     *
     * @param other the bits to remove
     * @return the difference
     */
    public FeatureSet minus(FeatureSet other) {
        return new FeatureSet(bits & ~other.bits);
    }

    /**
     * Names the protocol features set in this word, ignoring bits that {@link ProtocolFeature} does not name.
     *
     * @return the named protocol features, by increasing bit
     */
    public List<ProtocolFeature> protocolFeatures() {
        return named(ProtocolFeature.values());
    }

    /**
     * Names the virtio features set in this word, ignoring bits that {@link VirtioFeature} does not name.
     *
     * @return the named virtio features, by increasing bit
     */
    public List<VirtioFeature> virtioFeatures() {
        return named(VirtioFeature.values());
    }

    private <F extends FeatureBit> List<F> named(F[] all) {
        List<F> out = new ArrayList<>();
        for (F f : all) {
            if (contains(f)) {
                out.add(f);
            }
        }
        return List.copyOf(out);
    }

    /**
     * Formats the word as hex plus the names of known bits, for logs and error messages.
     *
     * @param namer maps the word to its named bits ({@code FeatureSet::protocolFeatures} or virtio)
     * @return e.g. {@code 0x9 [MQ, REPLY_ACK]}
     */
    public String describe(Function<FeatureSet, List<? extends FeatureBit>> namer) {
        return "0x" + Long.toHexString(bits) + " " + namer.apply(this);
    }

    @Override
    public String toString() {
        return "FeatureSet[0x" + Long.toHexString(bits) + "]";
    }
}
