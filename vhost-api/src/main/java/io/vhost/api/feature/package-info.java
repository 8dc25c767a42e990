/**
 * Feature bits of vhost-user: the virtio and vhost bits exchanged by {@code GET_FEATURES}/{@code SET_FEATURES}
 * ({@link io.vhost.api.feature.VirtioFeature}), the protocol bits exchanged by
 * {@code GET_PROTOCOL_FEATURES}/{@code SET_PROTOCOL_FEATURES} ({@link io.vhost.api.feature.ProtocolFeature}), and
 * the immutable {@link io.vhost.api.feature.FeatureSet} value.
 *
 * <p>Provisional bits (from the newest, unmerged specification series) are marked once, by
 * {@link io.vhost.api.feature.FeatureBit#provisional()}. Negotiation state (what was offered and acked) does not
 * belong here; it lives in the engines.
 */
package io.vhost.api.feature;
