/**
 * Reference vhost-user devices built on the vhost-java daemon framework. Today: vhost-user-blk
 * ({@code io.vhost.devices.blk.BlkMain}, packaged as {@code vhost-device-blk.jar}) and vhost-user-net
 * ({@code io.vhost.devices.net.NetMain}, {@code vhost-device-net.jar}).
 */
module io.vhost.devices {
    requires io.vhost.impl;
    requires info.picocli;
    requires jdk.unsupported; // sun.misc.Signal: exit 0 after SIGTERM/SIGINT

    exports io.vhost.devices.blk;
    exports io.vhost.devices.net;

    opens io.vhost.devices.blk to info.picocli;
    opens io.vhost.devices.net to info.picocli;
}
