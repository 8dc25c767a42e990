package io.vhost.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real peer process (qemu-storage-daemon, dpdk-testpmd) started by a test: its output goes to a log file, it is
 * stopped with a signal and always killed in {@link #close()}. Test code only; never used by the library.
 */
public class PeerProcess implements AutoCloseable {

    private final String name;
    private final Process process;
    private final Path log;

    PeerProcess(String name, List<String> command, Path log) throws IOException {
        this.name = name;
        this.log = log;
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        // stdin stays an open pipe: dpdk-testpmd without --stats-period waits on it until signalled.
        this.process = pb.start();
    }

    /**
     * Tells whether a command is on the PATH.
     *
     * @param command the program name
     * @return {@code true} if an executable of that name is found
     */
    public static boolean onPath(String command) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String dir : path.split(":")) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }

    /** @return the peer's process */
    public Process process() {
        return process;
    }

    /** @return the file holding the peer's stdout and stderr */
    public Path log() {
        return log;
    }

    /**
     * Reads the whole log so far.
     *
     * @return the log text ("" if it cannot be read)
     */
    public String output() {
        try {
            return Files.readString(log, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * Waits until a socket path exists, failing early with the log when the peer exits first.
     *
     * @param socket the path the peer creates
     * @param timeout how long to wait
     */
    public void awaitSocket(Path socket, Duration timeout) {
        org.awaitility.Awaitility.await(name + " creates " + socket).atMost(timeout)
                .pollInterval(Duration.ofMillis(20))
                .until(() -> {
                    if (!process.isAlive()) {
                        throw new IllegalStateException(name + " exited with " + process.exitValue()
                                + " before creating " + socket + "; output:\n" + output());
                    }
                    return Files.exists(socket);
                });
    }

    /**
     * Sends SIGINT (testpmd prints its final statistics on it) and waits for the exit.
     *
     * @param timeout how long to wait for the exit before killing
     * @return the exit code, or -1 if the process had to be killed
     * @throws IOException if {@code kill} cannot be run
     * @throws InterruptedException if interrupted while waiting
     */
    public int interrupt(Duration timeout) throws IOException, InterruptedException {
        return signal("INT", timeout);
    }

    /**
     * Sends a signal and waits for the exit, killing the process if it does not end in time.
     *
     * @param signal the signal name, e.g. {@code TERM}
     * @param timeout how long to wait
     * @return the exit code, or -1 if the process had to be killed
     * @throws IOException if {@code kill} cannot be run
     * @throws InterruptedException if interrupted while waiting
     */
    public int signal(String signal, Duration timeout) throws IOException, InterruptedException {
        if (process.isAlive()) {
            try {
                Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid()))
                        .redirectErrorStream(true).start();
                if (!kill.waitFor(10, TimeUnit.SECONDS)) {
                    kill.destroyForcibly();
                }
            } catch (IOException noKillBinary) {
                process.destroy(); // SIGTERM: testpmd prints its final statistics on it as on SIGINT
            }
        }
        if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            return process.exitValue();
        }
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        return -1;
    }

    /** Kills the peer if it still runs and waits (bounded) for it to go. */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        try {
            process.getOutputStream().close();
        } catch (IOException ignored) {
            // the pipe is gone with the process
        }
    }

    @Override
    public String toString() {
        return name + "[pid " + process.pid() + "]";
    }
}
