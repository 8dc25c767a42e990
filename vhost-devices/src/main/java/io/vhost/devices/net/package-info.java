/**
 * The vhost-user-net reference device: {@link io.vhost.devices.net.NetDevice} (loopback or sink) and its program
 * {@link io.vhost.devices.net.NetMain} ({@code vhost-device-net}).
 */
package io.vhost.devices.net;
