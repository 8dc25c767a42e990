package io.vhost.api.feature;

/**
 * One named bit of a 64-bit feature word: implemented by {@link VirtioFeature} and {@link ProtocolFeature}.
 */
public sealed interface FeatureBit permits VirtioFeature, ProtocolFeature {

    /**
     * Returns the bit number, 0 to 63.
     *
     * @return the bit number in the 64-bit feature word
     */
    int bit();

    /**
     * Returns the mask of this bit, {@code 1L << bit()}.
     *
     * @return the single-bit mask
     */
    default long mask() {
        return 1L << bit();
    }

    /**
     * Tells whether this bit comes from the newest, not yet merged specification series; such bits are never
     * offered unless a device opts in explicitly.
     *
     * @return {@code true} for provisional bits
     */
    boolean provisional();

    /**
     * Returns the specification name of the bit, e.g. {@code VHOST_USER_PROTOCOL_F_REPLY_ACK}.
     *
     * @return the name as the specification writes it
     */
    String specName();
}
