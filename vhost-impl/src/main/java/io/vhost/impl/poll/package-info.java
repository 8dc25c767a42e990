/**
 * Readiness waiting without pinning: {@link io.vhost.impl.poll.Poller} lets a (virtual) thread park until an fd is
 * readable or writable while one platform thread per poller blocks in {@code epoll_wait}.
 *
 * <p>Belongs here: epoll loops, wakeup eventfds, waiter registries, park/unpark. Does not belong here: any I/O on the
 * watched fds (callers read and write them themselves, non-blocking) or any vhost-user knowledge.
 */
package io.vhost.impl.poll;
