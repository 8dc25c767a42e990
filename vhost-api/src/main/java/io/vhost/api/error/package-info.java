/**
 * The sealed exception hierarchy of vhost-java. Every failure a peer, a guest or the operating system can cause
 * is a {@link io.vhost.api.error.VhostException} whose message says what happened and what to do, and whose
 * {@link io.vhost.api.error.VhostException#recovery()} tells the caller whether to retry, reconnect or give up.
 * Misuse of the API is reported with {@link java.lang.IllegalArgumentException} or
 * {@link java.lang.IllegalStateException} instead.
 */
package io.vhost.api.error;
