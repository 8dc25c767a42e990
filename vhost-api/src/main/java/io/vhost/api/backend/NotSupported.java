package io.vhost.api.backend;

import io.vhost.api.error.RequestRejectedException;

/** Builds the failure of a request that a device does not implement. */
final class NotSupported {

    /** Not instantiable. */
    private NotSupported() {
    }

    /**
     * Returns the failure for a request the device does not implement.
     *
     * @param request the spec name of the request, e.g. {@code "GET_CONFIG"}
     * @return the exception to throw; the engine turns it into a non-zero ack or a defined error reply
     */
    static RequestRejectedException request(String request) {
        return new RequestRejectedException(request + " is not supported by this device: implement the matching "
                + "BackendHandler method, or do not offer the feature that enables it");
    }
}
