/**
 * Virtqueues in guest memory: the device side of split rings ({@link io.vhost.impl.virtqueue.SplitVirtqueue}:
 * chain walking with loop and bounds detection, indirect tables, used-ring publication, notification suppression
 * with {@code VIRTIO_F_EVENT_IDX} and {@code NOTIFY_ON_EMPTY}, dirty logging and inflight tracking hooks), the device
 * side of packed rings ({@link io.vhost.impl.virtqueue.PackedVirtqueue}: wrap counters, event suppression areas
 * and inflight tracking with crash recovery), the chains both return ({@link io.vhost.impl.virtqueue.RingChain}) and a split-ring
 * driver side ({@link io.vhost.impl.virtqueue.DriverRing}) for front-end tests and benchmarks.
 *
 * <p>Memory barriers follow the virtio spec: the available index is read with acquire semantics before ring entries
 * and descriptors; used elements are written before the used index, which is stored with release semantics; a full
 * fence separates publishing from reading the other side's event index or flags. Address translation and bounds
 * checks come from {@code io.vhost.impl.memory}. Kick and call eventfds, worker threads and the vhost-user
 * messages that drive these classes belong to other packages.
 */
package io.vhost.impl.virtqueue;
