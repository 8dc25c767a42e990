/**
 * The back-end daemon framework: session supervision, listening and reconnecting, vring workers, shutdown.
 * Device authors start here; the protocol itself lives in {@code io.vhost.impl.backend}.
 */
package io.vhost.impl.daemon;
