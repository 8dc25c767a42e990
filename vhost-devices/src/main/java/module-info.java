/**
 * Reference vhost-user devices built on the vhost-java daemon framework. Today: vhost-user-blk
 * ({@code io.vhost.devices.blk.BlkMain}, packaged as {@code vhost-device-blk.jar}).
 */
module io.vhost.devices {
    requires io.vhost.impl;
    requires info.picocli;
    requires jdk.unsupported; // sun.misc.Signal: exit 0 after SIGTERM/SIGINT

    exports io.vhost.devices.blk;

    opens io.vhost.devices.blk to info.picocli;
}
