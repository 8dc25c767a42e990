/**
 * The system layer: every Foreign Function and Memory API downcall of vhost-java lives here.
 *
 * <p>Belongs here: one class per C area ({@link io.vhost.impl.sys.Sockets}, {@link io.vhost.impl.sys.Epoll},
 * {@link io.vhost.impl.sys.EventFds}, {@link io.vhost.impl.sys.Mman}, {@link io.vhost.impl.sys.Ioctl},
 * {@link io.vhost.impl.sys.Unistd}), hand-written struct layouts ({@link io.vhost.impl.sys.Structs}), errno
 * names ({@link io.vhost.impl.sys.Errno}) and the owners of native resources ({@link io.vhost.impl.sys.OwnedFd},
 * {@link io.vhost.impl.sys.Mapping}). Does not belong here: anything that knows vhost-user, threads or policy.
 *
 * <p>Rules: one {@code private static final MethodHandle} per function resolved through {@link io.vhost.impl.sys.Libc},
 * {@code invokeExact} with exact casts, errno captured into a per-thread segment (never a shared static one),
 * {@code EINTR} retried, failures raised as {@link io.vhost.api.error.NativeCallException} naming call, errno and fd.
 * Functions here may block; a virtual thread must only call the ones documented as non-blocking (the socket layer
 * uses non-blocking descriptors and the {@code poll} package to wait). This package depends on nothing of ours except
 * {@code io.vhost.api} (checked by an ArchUnit test).
 */
package io.vhost.impl.sys;
