package io.vhost.devices.guest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The tiny test guest: builds its initramfs with {@code src/test/guest/build-initramfs.sh} and boots the installed
 * Debian kernel in {@code qemu-system-x86_64} under TCG with {@code vhost-user-blk-pci} on a back-end socket. The
 * guest's /init prints {@code VHT: key=value} lines and powers off; {@link #run} collects them. QEMU is bounded by a
 * timeout and always killed.
 */
public final class GuestVm {

    /** What one boot printed. */
    public record Result(Map<String, String> values, List<String> console, Duration wall) {
        /**
         * Returns one value, failing with the console when it is missing.
         *
         * @param key the key
         * @return the value
         */
        public String get(String key) {
            String v = values.get(key);
            if (v == null) {
                throw new AssertionError("the guest printed no " + key + "; console:\n" + String.join("\n", console));
            }
            return v;
        }
    }

    private final Path kernel;
    private final Path initramfs;

    private GuestVm(Path kernel, Path initramfs) {
        this.kernel = kernel;
        this.initramfs = initramfs;
    }

    /**
     * Finds the newest installed kernel that has modules, or returns null.
     *
     * @return the kernel version, e.g. {@code 6.1.0-56-amd64}
     */
    public static String kernelVersion() throws IOException {
        Path modules = Path.of("/lib/modules");
        if (!Files.isDirectory(modules)) {
            return null;
        }
        try (var dirs = Files.list(modules)) {
            return dirs.map(p -> p.getFileName().toString())
                    .filter(v -> Files.isReadable(Path.of("/boot/vmlinuz-" + v)))
                    .max(String::compareTo).orElse(null);
        }
    }

    /**
     * Builds the initramfs (once per directory) with the project's script.
     *
     * @param script the build script
     * @param dir where to put it
     * @return the guest
     */
    public static GuestVm build(Path script, Path dir) throws IOException, InterruptedException,
            java.security.NoSuchAlgorithmException {
        String kver = kernelVersion();
        if (kver == null) {
            throw new IllegalStateException("no /boot/vmlinuz-KVER with /lib/modules/KVER: install linux-image-amd64");
        }
        Files.createDirectories(dir);
        String scriptHash = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(Files.readAllBytes(script))).substring(0, 12);
        Path out = dir.resolve("initramfs-" + kver + "-" + scriptHash + ".cpio.gz"); // rebuilt when the script changes
        if (!Files.exists(out)) {
            Path log = dir.resolve("build-initramfs.log");
            Process p = new ProcessBuilder("bash", script.toString(), out.toString(), kver)
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                if (!p.waitFor(120, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("build-initramfs.sh did not finish in 120 s");
                }
                if (p.exitValue() != 0) {
                    throw new IllegalStateException("build-initramfs.sh failed (" + p.exitValue() + "): "
                            + Files.readString(log));
                }
            } finally {
                p.destroyForcibly();
            }
        }
        return new GuestVm(Path.of("/boot/vmlinuz-" + kver), out);
    }

    /**
     * Boots the guest against a vhost-user-blk back-end and collects its results.
     *
     * @param socket the back-end's socket (QEMU connects to it)
     * @param numQueues queues of vhost-user-blk-pci
     * @param pattern what the guest writes at 1 MiB
     * @param log where QEMU's console goes
     * @param timeout the bound on the whole run
     * @return what the guest printed
     */
    public Result run(Path socket, int numQueues, String pattern, Path log, Duration timeout)
            throws IOException, InterruptedException {
        return run(socket, numQueues, 1, pattern, log, timeout);
    }

    /**
     * Boots the guest with several vCPUs (virtio-blk uses at most one queue per vCPU).
     *
     * @param socket the back-end's socket (QEMU connects to it)
     * @param numQueues queues of vhost-user-blk-pci
     * @param cpus vCPUs of the guest
     * @param pattern what the guest writes at 1 MiB
     * @param log where QEMU's console goes
     * @param timeout the bound on the whole run
     * @return what the guest printed
     */
    public Result run(Path socket, int numQueues, int cpus, String pattern, Path log, Duration timeout)
            throws IOException, InterruptedException {
        return start(socket, numQueues, cpus, pattern, 64, false, "", log).finish(timeout);
    }

    /** A guest that is running; {@link #finish} waits for its power-off and always kills QEMU. */
    public static final class Running {
        private final Process qemu;
        private final Path log;
        private final long start = System.nanoTime();

        private Running(Process qemu, Path log) {
            this.qemu = qemu;
            this.log = log;
        }

        /**
         * Returns the console so far.
         *
         * @return the text printed until now
         */
        public String console() {
            try {
                return Files.readString(log, StandardCharsets.ISO_8859_1);
            } catch (IOException e) {
                return "";
            }
        }

        /**
         * Waits for the guest to power off, kills QEMU in any case, and parses the results.
         *
         * @param timeout the bound
         * @return what the guest printed
         */
        public Result finish(Duration timeout) throws IOException, InterruptedException {
            try {
                if (!qemu.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
                    throw new AssertionError("QEMU did not power off within " + timeout + "; console:\n" + console());
                }
            } finally {
                qemu.destroyForcibly();
                qemu.waitFor(10, TimeUnit.SECONDS);
            }
            Duration wall = Duration.ofNanos(System.nanoTime() - start);
            List<String> console = Files.readAllLines(log, StandardCharsets.ISO_8859_1);
            Map<String, String> values = new LinkedHashMap<>();
            for (String line : console) {
                int at = line.indexOf("VHT: ");
                if (at < 0) {
                    continue;
                }
                String rest = line.substring(at + 5).trim();
                if (rest.startsWith("readback=")) {
                    values.put("readback", rest.substring("readback=".length()));
                    continue;
                }
                for (String pair : rest.split(" ")) {
                    int eq = pair.indexOf('=');
                    if (eq > 0) {
                        values.put(pair.substring(0, eq), pair.substring(eq + 1));
                    }
                }
            }
            return new Result(values, console, wall);
        }

        /** Kills QEMU (for cleanup paths that never reach {@link #finish}). */
        public void kill() {
            qemu.destroyForcibly();
        }
    }

    /**
     * Starts the guest without waiting.
     *
     * @param socket the back-end's socket
     * @param numQueues queues of vhost-user-blk-pci
     * @param cpus vCPUs
     * @param pattern what the guest writes at 1 MiB
     * @param readMib size of the O_DIRECT sequential read
     * @param reconnect whether QEMU reconnects (every second) when the back-end goes away
     * @param deviceProperties more properties of vhost-user-blk-pci, e.g. {@code ",packed=on"}
     * @param log where QEMU's console goes
     * @return the running guest
     */
    public Running start(Path socket, int numQueues, int cpus, String pattern, int readMib, boolean reconnect,
                         String deviceProperties, Path log) throws IOException {
        List<String> cmd = List.of("qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", "256",
                "-smp", String.valueOf(cpus),
                "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-numa", "node,memdev=mem",
                "-chardev", "socket,id=c0,path=" + socket + (reconnect ? ",reconnect=1" : ""),
                "-device", "vhost-user-blk-pci,chardev=c0,num-queues=" + numQueues + deviceProperties,
                "-kernel", kernel.toString(), "-initrd", initramfs.toString(),
                "-append", "console=ttyS0 quiet panic=-1 vht_pattern=" + pattern + " vht_read_mib=" + readMib,
                "-no-reboot", "-nographic", "-nodefaults", "-serial", "stdio");
        Process qemu = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
        return new Running(qemu, log);
    }
}
