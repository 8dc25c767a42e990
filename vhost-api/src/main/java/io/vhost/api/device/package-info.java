/**
 * What a device author sees of the data plane: the {@link io.vhost.api.device.Virtqueue} of one queue, the
 * {@link io.vhost.api.device.DescriptorChain}s popped from it and the {@link io.vhost.api.device.GuestMemory} they
 * point into.
 *
 * <p>Everything here is a view over guest memory, which is untrusted input: every access is bounds-checked and a
 * malformed ring or address raises {@link io.vhost.api.error.GuestMemoryException}, never a JVM crash. The
 * implementations live in {@code io.vhost.impl}; this package holds only interfaces. Wire records and the device
 * SPI do not belong here.
 */
package io.vhost.api.device;
