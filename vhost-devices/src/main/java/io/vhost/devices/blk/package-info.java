/**
 * vhost-user-blk: a virtio-blk device (virtio 1.x, device id 2) backed by a raw image file, served over vhost-user.
 *
 * <p>{@link io.vhost.devices.blk.BlkMain} is the program (command line per the vhost-user spec's back-end program
 * conventions); {@link io.vhost.devices.blk.BlkDevice} is the device for the daemon framework;
 * {@link io.vhost.devices.blk.BlkRequests} executes one request against a {@link io.vhost.devices.blk.BlkImage}.
 */
package io.vhost.devices.blk;
