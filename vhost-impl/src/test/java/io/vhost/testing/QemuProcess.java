package io.vhost.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A {@code qemu-system-x86_64} process for tests against a real front-end: TCG only (KVM on the CI machines is
 * PVM and cannot run stock guests), shared memfd guest memory (vhost-user needs {@code share=on}), no display, no
 * monitor, bounded by a watchdog that kills it, always killed by {@link #close()}.
 *
 * <pre>{@code
 * try (QemuProcess qemu = QemuProcess.builder()
 *         .chardevClient("c0", socketPath)                     // QEMU connects to our server socket
 *         .vhostUser(QemuProcess.Device.BLK, "c0")
 *         .start(Duration.ofSeconds(120))) {
 *     await().until(...);                                       // our back-end saw the handshake
 *     assertTrue(qemu.isAlive(), qemu.output());
 * }
 * }</pre>
 *
 * <p>Without a kernel, SeaBIOS and iPXE still start blk and net devices, so SET_MEM_TABLE and the rings arrive.
 * With {@link Builder#kernel}, the guest console goes to {@link #serialOutput()}.
 */
public final class QemuProcess implements AutoCloseable {

    /** The QEMU binary looked up on the PATH. */
    public static final String BINARY = "qemu-system-x86_64";

    /** vhost-user devices QEMU 7.2 can attach to a chardev, with the arguments that attach them. */
    public enum Device {
        /** {@code vhost-user-blk-pci}, one queue; needs protocol feature CONFIG and a GET_CONFIG answer (QEMU 7.2 asks for 57 bytes). */
        BLK,
        /** {@code virtio-net-pci} over {@code -netdev vhost-user}, with {@code vectors=0} (QEMU 7.2 segfaults otherwise). */
        NET,
        /** {@code vhost-user-vsock-pci}; needs protocol feature CONFIG and an 8-byte GET_CONFIG answer (guest_cid). */
        VSOCK,
        /** {@code vhost-user-fs-pci} with tag {@code myfs}; two queues (hiprio and request). */
        FS;

        /**
         * Returns the QEMU arguments that attach this device to a chardev.
         *
         * @param chardev the chardev id
         * @param index a number that keeps ids unique when several devices are attached
         * @return the arguments
         */
        public List<String> arguments(String chardev, int index) {
            return switch (this) {
                case BLK -> List.of("-device", "vhost-user-blk-pci,chardev=" + chardev + ",num-queues=1");
                case NET -> List.of("-netdev", "vhost-user,id=n" + index + ",chardev=" + chardev,
                        "-device", "virtio-net-pci,netdev=n" + index + ",vectors=0");
                case VSOCK -> List.of("-device", "vhost-user-vsock-pci,chardev=" + chardev);
                case FS -> List.of("-device", "vhost-user-fs-pci,chardev=" + chardev + ",tag=myfs");
            };
        }
    }

    private final Process process;
    private final Path output;
    private final Path serial;
    private final List<String> command;
    private final CompletableFuture<Void> watchdog;

    private QemuProcess(Process process, Path output, Path serial, List<String> command, Duration timeout) {
        this.process = process;
        this.output = output;
        this.serial = serial;
        this.command = command;
        this.watchdog = new CompletableFuture<>();
        CompletableFuture.delayedExecutor(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .execute(() -> {
                    if (!watchdog.isDone()) {
                        process.destroyForcibly();
                    }
                });
    }

    /**
     * Tells whether QEMU is installed (for {@code assumeTrue} in tests that need it).
     *
     * @return {@code true} if {@value #BINARY} is on the PATH
     */
    public static boolean available() {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, BINARY))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Starts building a QEMU command line.
     *
     * @return a builder with the default machine: q35, TCG, 256 MiB of shared memfd memory
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Tells whether QEMU is still running.
     *
     * @return {@code true} while the process lives
     */
    public boolean isAlive() {
        return process.isAlive();
    }

    /**
     * Returns the process id.
     *
     * @return the pid
     */
    public long pid() {
        return process.pid();
    }

    /**
     * Returns the exit code once QEMU has ended.
     *
     * @return the exit code
     * @throws IllegalThreadStateException if it is still running
     */
    public int exitValue() {
        return process.exitValue();
    }

    /**
     * Waits up to a bound for QEMU to exit by itself.
     *
     * @param timeout the bound
     * @return {@code true} if it exited
     * @throws InterruptedException if interrupted
     */
    public boolean waitFor(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Returns what QEMU printed on stdout and stderr so far, with the command line, for assertion messages.
     *
     * @return the text
     */
    public String output() {
        return "command: " + String.join(" ", command) + "\n" + read(output);
    }

    /**
     * Returns the guest's serial console output so far (empty unless a kernel was given).
     *
     * @return the text
     */
    public String serialOutput() {
        return serial == null ? "" : read(serial);
    }

    /**
     * Returns the command line.
     *
     * @return the arguments, binary first
     */
    public List<String> command() {
        return command;
    }

    /** Kills QEMU (SIGKILL), waits for it to be reaped and deletes the log files. Idempotent. */
    @Override
    public void close() {
        watchdog.complete(null);
        process.destroyForcibly();
        boolean interrupted = false;
        while (true) {
            try {
                process.waitFor();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        try {
            Files.deleteIfExists(output);
            if (serial != null) {
                Files.deleteIfExists(serial);
            }
        } catch (IOException e) {
            // temporary files; nothing else to do
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.ISO_8859_1) : "";
        } catch (IOException e) {
            return "(cannot read " + file + ": " + e + ")";
        }
    }

    /** Builds a QEMU command line; every method returns this builder. */
    public static final class Builder {
        private int memoryMib = 256;
        private final List<String> extra = new ArrayList<>();
        private Path kernel;
        private Path initrd;
        private String append;
        private int devices;

        private Builder() {
        }

        /**
         * Sets the guest memory size (shared memfd).
         *
         * @param mib the size in MiB
         * @return this builder
         */
        public Builder memoryMib(int mib) {
            this.memoryMib = mib;
            return this;
        }

        /**
         * Adds a socket chardev in client mode: QEMU connects to our back-end's server socket.
         *
         * @param id the chardev id
         * @param path the socket our back-end listens on
         * @return this builder
         */
        public Builder chardevClient(String id, Path path) {
            extra.addAll(List.of("-chardev", "socket,id=" + id + ",path=" + path));
            return this;
        }

        /**
         * Adds a socket chardev in server mode: QEMU listens on {@code path} and our back-end connects as a client.
         *
         * @param id the chardev id
         * @param path the socket QEMU creates
         * @param waitForClient {@code true} for {@code wait=on} (QEMU blocks at start-up until a client connects),
         *     {@code false} for {@code wait=off}
         * @return this builder
         */
        public Builder chardevServer(String id, Path path, boolean waitForClient) {
            extra.addAll(List.of("-chardev", "socket,id=" + id + ",path=" + path + ",server=on,wait="
                    + (waitForClient ? "on" : "off")));
            return this;
        }

        /**
         * Attaches a vhost-user device to a chardev.
         *
         * @param device the device
         * @param chardev the chardev id
         * @return this builder
         */
        public Builder vhostUser(Device device, String chardev) {
            extra.addAll(device.arguments(chardev, devices++));
            return this;
        }

        /**
         * Adds raw arguments.
         *
         * @param arguments the arguments
         * @return this builder
         */
        public Builder arguments(String... arguments) {
            extra.addAll(List.of(arguments));
            return this;
        }

        /**
         * Boots a Linux kernel; the console goes to a file read by {@link QemuProcess#serialOutput()}.
         *
         * @param kernel the bzImage
         * @param initrd the initramfs, or {@code null}
         * @param append the kernel command line
         * @return this builder
         */
        public Builder kernel(Path kernel, Path initrd, String append) {
            this.kernel = Objects.requireNonNull(kernel, "kernel");
            this.initrd = initrd;
            this.append = Objects.requireNonNull(append, "append");
            return this;
        }

        /**
         * Returns the command line as built so far.
         *
         * @param serialFile where the serial console goes, or {@code null} for none
         * @return the arguments, binary first
         */
        public List<String> command(Path serialFile) {
            List<String> cmd = new ArrayList<>(List.of(BINARY,
                    "-machine", "q35,accel=tcg", "-m", Integer.toString(memoryMib),
                    "-object", "memory-backend-memfd,id=mem,size=" + memoryMib + "M,share=on",
                    "-numa", "node,memdev=mem",
                    "-nographic", "-nodefaults", "-monitor", "none", "-no-reboot",
                    "-serial", serialFile == null ? "none" : "file:" + serialFile));
            if (kernel != null) {
                cmd.addAll(List.of("-kernel", kernel.toString(), "-append", append));
                if (initrd != null) {
                    cmd.addAll(List.of("-initrd", initrd.toString()));
                }
            }
            cmd.addAll(extra);
            return cmd;
        }

        /**
         * Starts QEMU.
         *
         * @param timeout after this QEMU is killed even if nobody closes it
         * @return the running process; close it to kill it
         * @throws IOException if QEMU cannot be started
         */
        public QemuProcess start(Duration timeout) throws IOException {
            Path out = Files.createTempFile("qemu-", ".log");
            Path serial = kernel == null ? null : Files.createTempFile("qemu-serial-", ".log");
            List<String> cmd = command(serial);
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(out.toFile()).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
            Process p = pb.start();
            return new QemuProcess(p, out, serial, List.copyOf(cmd), timeout);
        }
    }
}
