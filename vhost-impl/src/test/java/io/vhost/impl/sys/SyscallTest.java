package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.testing.NoFdLeaks;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Direct system calls through {@code syscall(2)} behave as the C library's wrappers: results, errno, arguments. */
@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SyscallTest {

    private static final FunctionDescriptor READ_WRITE = FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor POLL = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);

    @Test
    void thisMachineCallsTheKernelDirectly() {
        assertNotEquals(SyscallNumbers.UNKNOWN, SyscallNumbers.of("recvmsg"), "os.arch " + System.getProperty("os.arch")
                + " should have its numbers (the CI machines are x86-64)");
    }

    @Test
    void directAndWrapperRoutesMoveTheSameBytes() throws Throwable {
        for (boolean direct : new boolean[] {true, false}) {
            MethodHandle write = handle("write", READ_WRITE, direct);
            MethodHandle read = handle("read", READ_WRITE, direct);
            OwnedFd[] pipe = Unistd.pipe(Unistd.O_NONBLOCK);
            try (OwnedFd in = pipe[0]; OwnedFd out = pipe[1]; Arena arena = Arena.ofConfined()) {
                CallState cs = CallState.current();
                MemorySegment data = arena.allocate(16);
                data.set(JAVA_LONG, 0, 0x0102030405060708L);
                data.set(JAVA_LONG, 8, -2L);
                assertEquals(16L, (long) write.invokeExact(cs.errnoSegment, out.number(), data, 16L), "direct=" + direct);
                MemorySegment back = arena.allocate(32);
                assertEquals(16L, (long) read.invokeExact(cs.errnoSegment, in.number(), back, 32L), "direct=" + direct);
                assertEquals(0x0102030405060708L, back.get(JAVA_LONG, 0));
                assertEquals(-2L, back.get(JAVA_LONG, 8));
                // an empty non-blocking pipe: -1 and EAGAIN captured, on both routes
                assertEquals(-1L, (long) read.invokeExact(cs.errnoSegment, in.number(), back, 32L));
                assertEquals(Errno.EAGAIN, cs.errno(), "direct=" + direct);
            }
        }
    }

    @Test
    void pointersPassedAsAddressesWorkOnBothRoutes() throws Throwable {
        // Sockets passes buffers and msghdrs as longs (no segment acquire per call): sendto with a null address,
        // recvmsg with a msghdr, through syscall(2) and through the C library's wrappers
        MethodHandle[] sendto = new MethodHandle[2];
        MethodHandle[] recvmsg = new MethodHandle[2];
        for (int route = 0; route < 2; route++) {
            boolean direct = route == 0;
            sendto[route] = handle("sendto",
                    FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT),
                    direct);
            recvmsg[route] = handle("recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT), direct);
        }
        for (int route = 0; route < 2; route++) {
            OwnedFd[] pair = Sockets.socketPair(0, "address route " + route);
            try (OwnedFd a = pair[0]; OwnedFd b = pair[1]; Arena arena = Arena.ofConfined()) {
                CallState cs = CallState.current();
                MemorySegment data = arena.allocate(12);
                data.set(JAVA_LONG, 0, 0x1122334455667788L);
                data.set(JAVA_INT, 8, 99);
                assertEquals(12L, (long) sendto[route].invokeExact(cs.errnoSegment, a.number(), data.address(), 12L,
                        Sockets.MSG_NOSIGNAL, 0L, 0), "route " + route);
                MemorySegment into = arena.allocate(64);
                MemorySegment iov = arena.allocate(Structs.IOVEC);
                iov.set(JAVA_LONG, Structs.IOVEC_BASE, into.address());
                iov.set(JAVA_LONG, Structs.IOVEC_LEN, 64L);
                MemorySegment msghdr = arena.allocate(Structs.MSGHDR);
                msghdr.set(JAVA_LONG, Structs.MSGHDR_IOV, iov.address());
                msghdr.set(JAVA_LONG, Structs.MSGHDR_IOVLEN, 1L);
                assertEquals(12L, (long) recvmsg[route].invokeExact(cs.errnoSegment, b.number(), msghdr.address(),
                        Sockets.MSG_DONTWAIT), "route " + route);
                assertEquals(0x1122334455667788L, into.get(JAVA_LONG, 0));
                assertEquals(99, into.get(JAVA_INT, 8));
                assertEquals(-1L, (long) recvmsg[route].invokeExact(cs.errnoSegment, b.number(), msghdr.address(),
                        Sockets.MSG_DONTWAIT));
                assertEquals(Errno.EAGAIN, cs.errno(), "route " + route);
            }
        }
    }

    @Test
    void negativeIntArgumentsKeepTheirMeaning() throws Throwable {
        // poll's timeout -1 means "no timeout": an int widened by sign, which the kernel reads back as -1
        MethodHandle poll = handle("poll", POLL, true);
        OwnedFd[] pipe = Unistd.pipe(Unistd.O_NONBLOCK);
        try (OwnedFd in = pipe[0]; OwnedFd out = pipe[1]; Arena arena = Arena.ofConfined()) {
            CallState cs = CallState.current();
            MemorySegment one = arena.allocate(1);
            Unistd.write(out.number(), one);
            MemorySegment pfd = arena.allocate(Structs.POLLFD);
            pfd.set(JAVA_INT, Structs.POLLFD_FD, in.number());
            pfd.set(JAVA_SHORT, Structs.POLLFD_EVENTS, Unistd.POLLIN);
            assertEquals(1, (int) poll.invokeExact(cs.errnoSegment, pfd, 1L, -1));
            // a closed descriptor number: EBADF through errno, not a crash or a garbage result
            MethodHandle read = handle("read", READ_WRITE, true);
            assertEquals(-1L, (long) read.invokeExact(cs.errnoSegment, -1, one, 1L));
            assertEquals(Errno.EBADF, cs.errno());
        }
    }

    @Test
    void architecturesWithoutATableUseTheWrappers() {
        assertEquals(Map.of(), SyscallNumbers.forArch("riscv64"));
        assertEquals(47L, SyscallNumbers.forArch("amd64").get("recvmsg"));
        assertEquals(212L, SyscallNumbers.forArch("aarch64").get("recvmsg"));
        assertTrue(!SyscallNumbers.forArch("aarch64").containsKey("poll"), "aarch64 has only ppoll");
    }

    @Test
    void aarch64NumbersMatchTheKernelsGenericTable() throws Exception {
        // arm64 takes its numbers from asm-generic/unistd.h (linux-libc-dev, which .ci/run installs)
        Path header = Path.of("/usr/include/asm-generic/unistd.h");
        Assumptions.assumeTrue(Files.exists(header), header + " is not installed");
        Map<String, Long> generic = new HashMap<>();
        Pattern define = Pattern.compile("#define __NR_(\\w+) (\\d+)");
        for (String line : Files.readAllLines(header)) {
            Matcher m = define.matcher(line);
            if (m.matches()) {
                generic.put(m.group(1), Long.parseLong(m.group(2)));
            }
        }
        Map<String, Long> ours = SyscallNumbers.forArch("aarch64");
        assertTrue(ours.size() >= 5, "aarch64 table " + ours);
        ours.forEach((call, number) -> assertEquals(generic.get(call), number, "aarch64 " + call));
        assertTrue(!generic.containsKey("poll") && !generic.containsKey("epoll_wait"),
                "the generic table has poll or epoll_wait now; aarch64 could call them directly");
    }

    private static MethodHandle handle(String name, FunctionDescriptor descriptor, boolean direct) {
        return Libc.syscall(name, descriptor, direct ? SyscallNumbers.of(name) : SyscallNumbers.UNKNOWN);
    }
}
