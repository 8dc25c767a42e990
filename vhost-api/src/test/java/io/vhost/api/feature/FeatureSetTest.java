package io.vhost.api.feature;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class FeatureSetTest {

    @Test
    void keepsUnknownBitsAndNamesKnownOnes() {
        FeatureSet s = new FeatureSet(ProtocolFeature.MQ.mask() | ProtocolFeature.REPLY_ACK.mask() | (1L << 60));
        assertTrue(s.contains(ProtocolFeature.REPLY_ACK));
        assertFalse(s.contains(ProtocolFeature.CONFIG));
        assertEquals(List.of(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK), s.protocolFeatures());
        assertEquals(1L << 60, s.minus(FeatureSet.of(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK)).bits());
        assertEquals(FeatureSet.of(ProtocolFeature.MQ), s.intersect(FeatureSet.of(ProtocolFeature.MQ)));
        assertEquals(0x9L | (1L << 60), s.without(ProtocolFeature.CONFIG).bits());
        assertTrue(s.with(ProtocolFeature.CONFIG).containsAll(FeatureSet.of(ProtocolFeature.CONFIG)));
    }
}
