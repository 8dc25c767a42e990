package io.vhost.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** What the kernel says about this process's epoll sets ({@code /proc/self/fdinfo}, "tfd:" lines). */
public final class EpollEntries {

    private EpollEntries() {
    }

    /**
     * Counts the entries for descriptor number {@code fd} in every epoll set of this process.
     *
     * @param fd the watched descriptor's number
     * @return how many epoll sets hold it
     * @throws IOException if {@code /proc/self/fdinfo} cannot be listed
     */
    public static int count(int fd) throws IOException {
        int count = 0;
        String number = Integer.toString(fd);
        try (Stream<Path> infos = Files.list(Path.of("/proc/self/fdinfo"))) {
            for (Path info : (Iterable<Path>) infos::iterator) {
                List<String> lines;
                try {
                    lines = Files.readAllLines(info);
                } catch (IOException closedMeanwhile) {
                    continue;
                }
                for (String line : lines) {
                    if (line.startsWith("tfd:") && line.split("\\s+")[1].equals(number)) {
                        count++;
                    }
                }
            }
        }
        return count;
    }
}
