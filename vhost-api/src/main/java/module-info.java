/**
 * vhost-java API: interfaces, records, feature sets and exceptions shared by VMM (front-end) and device
 * (back-end) authors. This module has no dependencies beyond {@code java.base}.
 */
module io.vhost.api {
    exports io.vhost.api;
    exports io.vhost.api.error;
    exports io.vhost.api.feature;
    exports io.vhost.api.message;
    exports io.vhost.api.backend;
    exports io.vhost.api.device;
    exports io.vhost.api.frontend;
}
