package io.vhost.impl.sys;

/**
 * The {@code SO_PEERCRED} credentials of a unix socket's peer, as the kernel recorded them at connect time.
 *
 * @param pid the peer's process id
 * @param uid the peer's user id
 * @param gid the peer's group id
 */
public record PeerCredentials(int pid, int uid, int gid) {
}
