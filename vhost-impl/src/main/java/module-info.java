/**
 * The vhost-java engine. Exports only its entry points; everything else is internal.
 * Needs native access: run with {@code --enable-native-access=io.vhost.impl}.
 */
module io.vhost.impl {
    requires transitive io.vhost.api;
    requires org.newsclub.net.unix;
    requires static micrometer.core;
    requires java.logging;

    exports io.vhost.impl.codec;
    exports io.vhost.impl.memory;
    exports io.vhost.impl.virtqueue;
    exports io.vhost.impl.sys;
    exports io.vhost.impl.poll;
    exports io.vhost.impl.transport;
    exports io.vhost.impl.frontend;
    exports io.vhost.impl.backend;
    exports io.vhost.impl.metrics;
    exports io.vhost.impl.daemon;
}
