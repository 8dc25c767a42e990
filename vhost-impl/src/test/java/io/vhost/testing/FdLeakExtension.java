package io.vhost.testing;

import static org.awaitility.Awaitility.await;

import io.vhost.impl.poll.Poller;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Counts {@code /proc/self/fd} before and after each test class (and optionally each test) and fails on a leak.
 *
 * <p>Robust to the JVM: it pre-warms lazily opened fds (the shared poller, Awaitility's threads, SecureRandom),
 * ignores fds of jar files, of the JDK (opened by class loading) and of the random devices, and lets fds that are
 * being closed asynchronously settle through Awaitility (up to 5 s) before it reports.
 */
public final class FdLeakExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback,
        AfterEachCallback {

    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(FdLeakExtension.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        prewarm();
        context.getStore(NS).put("class", openFds());
    }

    @Override
    public void afterAll(ExtensionContext context) {
        @SuppressWarnings("unchecked")
        Map<Integer, String> before = context.getStore(NS).remove("class", Map.class);
        check(before, "test class " + context.getDisplayName());
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        if (eachTest(context)) {
            context.getStore(NS).put("test", openFds());
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        if (eachTest(context)) {
            @SuppressWarnings("unchecked")
            Map<Integer, String> before = context.getStore(NS).remove("test", Map.class);
            check(before, "test " + context.getDisplayName());
        }
    }

    /**
     * Lists this process's open descriptors with their {@code readlink} targets.
     *
     * @return fd number to target
     */
    public static Map<Integer, String> openFds() {
        Map<Integer, String> fds = new TreeMap<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path p : dir) {
                String target;
                try {
                    target = Files.readSymbolicLink(p).toString();
                } catch (IOException e) {
                    continue; // the directory stream's own fd, closed by now
                }
                fds.put(Integer.parseInt(p.getFileName().toString()), target);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list /proc/self/fd", e);
        }
        return fds;
    }

    private static boolean eachTest(ExtensionContext context) {
        return context.getRequiredTestClass().getAnnotation(NoFdLeaks.class) != null
                && context.getRequiredTestClass().getAnnotation(NoFdLeaks.class).eachTest();
    }

    private static void prewarm() {
        Poller.shared();
        new java.security.SecureRandom().nextInt(); // NativePRNG keeps /dev/random and /dev/urandom open
        await().atMost(Duration.ofSeconds(1)).until(() -> true);
    }

    private static void check(Map<Integer, String> before, String what) {
        AtomicReference<Map<Integer, String>> leaked = new AtomicReference<>(Map.of());
        try {
            await().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(20)).atMost(Duration.ofSeconds(5))
                    .until(() -> {
                        leaked.set(leaks(before));
                        return leaked.get().isEmpty();
                    });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(what + " leaked " + leaked.get().size() + " file descriptor(s): "
                    + leaked.get());
        }
    }

    private static Map<Integer, String> leaks(Map<Integer, String> before) {
        Map<Integer, String> now = openFds();
        Map<Integer, String> leaked = new TreeMap<>();
        now.forEach((fd, target) -> {
            if (!target.equals(before.get(fd)) && !jvmInternal(target)) {
                leaked.put(fd, target);
            }
        });
        return leaked;
    }

    private static boolean jvmInternal(String target) {
        return target.endsWith(".jar") || target.startsWith("/usr/lib/jvm/") || target.endsWith(".so")
                || target.contains("/surefire") || target.startsWith("/proc/")
                || target.equals("/dev/random") || target.equals("/dev/urandom");
    }
}
