package io.vhost.impl.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.testing.NoFdLeaks;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Checks every hand-written layout and constant against gcc's view of the C headers. gcc is required. */
@NoFdLeaks
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StructsTest {

    private static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <stdio.h>
            #include <stddef.h>
            #include <fcntl.h>
            #include <poll.h>
            #include <sys/socket.h>
            #include <sys/time.h>
            #include <sys/un.h>
            #include <sys/uio.h>
            #include <sys/epoll.h>
            #include <sys/eventfd.h>
            #include <sys/mman.h>
            #include <sys/ioctl.h>
            #include <sys/syscall.h>
            #define P(name, value) printf("%s=%ld\\n", name, (long) (value))
            int main(void) {
              P("iovec.size", sizeof(struct iovec));
              P("iovec.iov_base", offsetof(struct iovec, iov_base));
              P("iovec.iov_len", offsetof(struct iovec, iov_len));
              P("msghdr.size", sizeof(struct msghdr));
              P("msghdr.msg_name", offsetof(struct msghdr, msg_name));
              P("msghdr.msg_namelen", offsetof(struct msghdr, msg_namelen));
              P("msghdr.msg_iov", offsetof(struct msghdr, msg_iov));
              P("msghdr.msg_iovlen", offsetof(struct msghdr, msg_iovlen));
              P("msghdr.msg_control", offsetof(struct msghdr, msg_control));
              P("msghdr.msg_controllen", offsetof(struct msghdr, msg_controllen));
              P("msghdr.msg_flags", offsetof(struct msghdr, msg_flags));
              P("cmsghdr.size", sizeof(struct cmsghdr));
              P("cmsghdr.cmsg_len", offsetof(struct cmsghdr, cmsg_len));
              P("cmsghdr.cmsg_level", offsetof(struct cmsghdr, cmsg_level));
              P("cmsghdr.cmsg_type", offsetof(struct cmsghdr, cmsg_type));
              P("CMSG_LEN(4)", CMSG_LEN(4));
              P("CMSG_SPACE(4)", CMSG_SPACE(4));
              P("CMSG_LEN(32)", CMSG_LEN(32));
              P("CMSG_SPACE(32)", CMSG_SPACE(32));
              P("CMSG_SPACE(12)", CMSG_SPACE(12));
              P("sockaddr_un.size", sizeof(struct sockaddr_un));
              P("sockaddr_un.sun_family", offsetof(struct sockaddr_un, sun_family));
              P("sockaddr_un.sun_path", offsetof(struct sockaddr_un, sun_path));
              P("epoll_event.size", sizeof(struct epoll_event));
              P("epoll_event.events", offsetof(struct epoll_event, events));
              P("epoll_event.data", offsetof(struct epoll_event, data));
              P("ucred.size", sizeof(struct ucred));
              P("ucred.pid", offsetof(struct ucred, pid));
              P("ucred.uid", offsetof(struct ucred, uid));
              P("ucred.gid", offsetof(struct ucred, gid));
              P("pollfd.size", sizeof(struct pollfd));
              P("pollfd.fd", offsetof(struct pollfd, fd));
              P("pollfd.events", offsetof(struct pollfd, events));
              P("pollfd.revents", offsetof(struct pollfd, revents));
              P("timeval.size", sizeof(struct timeval));
              P("timeval.tv_sec", offsetof(struct timeval, tv_sec));
              P("timeval.tv_usec", offsetof(struct timeval, tv_usec));
              P("AF_UNIX", AF_UNIX); P("SOCK_STREAM", SOCK_STREAM); P("SOCK_NONBLOCK", SOCK_NONBLOCK);
              P("SOCK_CLOEXEC", SOCK_CLOEXEC); P("SOL_SOCKET", SOL_SOCKET); P("SCM_RIGHTS", SCM_RIGHTS);
              P("SO_TYPE", SO_TYPE); P("SO_PEERCRED", SO_PEERCRED); P("SO_ACCEPTCONN", SO_ACCEPTCONN);
              P("SO_DOMAIN", SO_DOMAIN); P("SO_RCVTIMEO", SO_RCVTIMEO); P("MSG_CTRUNC", MSG_CTRUNC); P("MSG_DONTWAIT", MSG_DONTWAIT);
              P("MSG_NOSIGNAL", MSG_NOSIGNAL); P("MSG_CMSG_CLOEXEC", MSG_CMSG_CLOEXEC);
              P("SHUT_RD", SHUT_RD); P("SHUT_WR", SHUT_WR); P("SHUT_RDWR", SHUT_RDWR);
              P("EPOLLIN", EPOLLIN); P("EPOLLOUT", EPOLLOUT); P("EPOLLERR", EPOLLERR); P("EPOLLHUP", EPOLLHUP);
              P("EPOLLRDHUP", EPOLLRDHUP); P("EPOLLONESHOT", EPOLLONESHOT); P("EPOLL_CLOEXEC", EPOLL_CLOEXEC);
              P("EPOLL_CTL_ADD", EPOLL_CTL_ADD); P("EPOLL_CTL_DEL", EPOLL_CTL_DEL); P("EPOLL_CTL_MOD", EPOLL_CTL_MOD);
              P("EFD_SEMAPHORE", EFD_SEMAPHORE); P("EFD_NONBLOCK", EFD_NONBLOCK); P("EFD_CLOEXEC", EFD_CLOEXEC);
              P("MFD_CLOEXEC", MFD_CLOEXEC); P("MFD_ALLOW_SEALING", MFD_ALLOW_SEALING);
              P("F_SEAL_SEAL", F_SEAL_SEAL); P("F_SEAL_SHRINK", F_SEAL_SHRINK); P("F_SEAL_GROW", F_SEAL_GROW);
              P("F_SEAL_WRITE", F_SEAL_WRITE); P("F_ADD_SEALS", F_ADD_SEALS); P("F_GET_SEALS", F_GET_SEALS);
              P("F_GETFD", F_GETFD); P("F_SETFD", F_SETFD); P("F_GETFL", F_GETFL); P("F_SETFL", F_SETFL); P("FD_CLOEXEC", FD_CLOEXEC);
              P("F_DUPFD_CLOEXEC", F_DUPFD_CLOEXEC); P("FIONREAD", FIONREAD);
              P("O_NONBLOCK", O_NONBLOCK); P("O_CLOEXEC", O_CLOEXEC);
              P("PROT_READ", PROT_READ); P("PROT_WRITE", PROT_WRITE); P("MAP_SHARED", MAP_SHARED);
              P("POLLIN", POLLIN); P("POLLOUT", POLLOUT); P("POLLERR", POLLERR); P("POLLHUP", POLLHUP);
              P("SYS_read", SYS_read); P("SYS_write", SYS_write); P("SYS_close", SYS_close); P("SYS_sendmsg", SYS_sendmsg);
              P("SYS_sendto", SYS_sendto);
              P("SYS_recvmsg", SYS_recvmsg);
            #ifdef SYS_poll
              P("SYS_poll", SYS_poll);
            #else
              P("SYS_poll", -1);
            #endif
            #ifdef SYS_epoll_wait
              P("SYS_epoll_wait", SYS_epoll_wait);
            #else
              P("SYS_epoll_wait", -1);
            #endif
            #ifdef SYS_close_range
              P("SYS_close_range", SYS_close_range);
            #else
              P("SYS_close_range", -1);
            #endif
              return 0;
            }
            """;

    private static Map<String, Long> c;

    @BeforeAll
    static void compileAndRun(@TempDir Path dir) throws IOException, InterruptedException {
        Path source = dir.resolve("layouts.c");
        Path binary = dir.resolve("layouts");
        Files.writeString(source, PROGRAM);
        run(List.of("gcc", "-O0", "-o", binary.toString(), source.toString()), dir);
        String out = run(List.of(binary.toString()), dir);
        c = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            c.put(line.substring(0, eq), Long.parseLong(line.substring(eq + 1)));
        }
        assertTrue(c.size() > 80, "the C program printed too few values: " + c.keySet());
    }

    private static String run(List<String> command, Path dir) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), command + " did not finish");
        assertEquals(0, p.exitValue(), command + " failed (gcc is required on PATH):\n" + output);
        return output;
    }

    private static void same(String name, long java) {
        Long expected = c.get(name);
        assertEquals(expected, Long.valueOf(java), name + ": C says " + expected + ", Java says " + java);
    }

    @Test
    void iovec() {
        same("iovec.size", Structs.IOVEC.byteSize());
        same("iovec.iov_base", Structs.IOVEC_BASE);
        same("iovec.iov_len", Structs.IOVEC_LEN);
    }

    @Test
    void msghdr() {
        same("msghdr.size", Structs.MSGHDR.byteSize());
        same("msghdr.msg_name", Structs.MSGHDR_NAME);
        same("msghdr.msg_namelen", Structs.MSGHDR_NAMELEN);
        same("msghdr.msg_iov", Structs.MSGHDR_IOV);
        same("msghdr.msg_iovlen", Structs.MSGHDR_IOVLEN);
        same("msghdr.msg_control", Structs.MSGHDR_CONTROL);
        same("msghdr.msg_controllen", Structs.MSGHDR_CONTROLLEN);
        same("msghdr.msg_flags", Structs.MSGHDR_FLAGS);
    }

    @Test
    void cmsghdrAndMacros() {
        same("cmsghdr.size", Structs.CMSGHDR.byteSize());
        same("cmsghdr.cmsg_len", Structs.CMSG_LEN_OFFSET);
        same("cmsghdr.cmsg_level", Structs.CMSG_LEVEL);
        same("cmsghdr.cmsg_type", Structs.CMSG_TYPE);
        same("CMSG_LEN(4)", Structs.cmsgLen(4));
        same("CMSG_SPACE(4)", Structs.cmsgSpace(4));
        same("CMSG_LEN(32)", Structs.cmsgLen(32));
        same("CMSG_SPACE(32)", Structs.cmsgSpace(32));
        same("CMSG_SPACE(12)", Structs.cmsgSpace(12));
    }

    @Test
    void sockaddrUn() {
        same("sockaddr_un.size", Structs.SOCKADDR_UN.byteSize());
        same("sockaddr_un.sun_family", Structs.SOCKADDR_UN_FAMILY);
        same("sockaddr_un.sun_path", Structs.SOCKADDR_UN_PATH);
        same("sockaddr_un.size", Structs.SOCKADDR_UN_PATH + Sockets.MAX_PATH_BYTES + 1);
    }

    @Test
    void epollEventIsPacked() {
        same("epoll_event.size", Structs.EPOLL_EVENT.byteSize());
        same("epoll_event.events", Structs.EPOLL_EVENT_EVENTS);
        same("epoll_event.data", Structs.EPOLL_EVENT_DATA);
    }

    @Test
    void ucredAndPollfd() {
        same("ucred.size", Structs.UCRED.byteSize());
        same("ucred.pid", Structs.UCRED_PID);
        same("ucred.uid", Structs.UCRED_UID);
        same("ucred.gid", Structs.UCRED_GID);
        same("pollfd.size", Structs.POLLFD.byteSize());
        same("pollfd.fd", Structs.POLLFD_FD);
        same("pollfd.events", Structs.POLLFD_EVENTS);
        same("pollfd.revents", Structs.POLLFD_REVENTS);
    }

    @Test
    void timeval() {
        same("timeval.size", Structs.TIMEVAL.byteSize());
        same("timeval.tv_sec", Structs.TIMEVAL_SEC);
        same("timeval.tv_usec", Structs.TIMEVAL_USEC);
    }

    @Test
    void constants() {
        same("AF_UNIX", Sockets.AF_UNIX);
        same("SOCK_STREAM", Sockets.SOCK_STREAM);
        same("SOCK_NONBLOCK", Sockets.SOCK_NONBLOCK);
        same("SOCK_CLOEXEC", Sockets.SOCK_CLOEXEC);
        same("SOL_SOCKET", Sockets.SOL_SOCKET);
        same("SCM_RIGHTS", Sockets.SCM_RIGHTS);
        same("SO_TYPE", Sockets.SO_TYPE);
        same("SO_PEERCRED", Sockets.SO_PEERCRED);
        same("SO_ACCEPTCONN", Sockets.SO_ACCEPTCONN);
        same("SO_DOMAIN", Sockets.SO_DOMAIN);
        same("SO_RCVTIMEO", Sockets.SO_RCVTIMEO);
        same("MSG_CTRUNC", Sockets.MSG_CTRUNC);
        same("MSG_DONTWAIT", Sockets.MSG_DONTWAIT);
        same("MSG_NOSIGNAL", Sockets.MSG_NOSIGNAL);
        same("MSG_CMSG_CLOEXEC", Sockets.MSG_CMSG_CLOEXEC);
        same("SHUT_RD", Sockets.SHUT_RD);
        same("SHUT_WR", Sockets.SHUT_WR);
        same("SHUT_RDWR", Sockets.SHUT_RDWR);
        same("EPOLLIN", Epoll.EPOLLIN);
        same("EPOLLOUT", Epoll.EPOLLOUT);
        same("EPOLLERR", Epoll.EPOLLERR);
        same("EPOLLHUP", Epoll.EPOLLHUP);
        same("EPOLLRDHUP", Epoll.EPOLLRDHUP);
        same("EPOLLONESHOT", Epoll.EPOLLONESHOT);
        same("EPOLL_CLOEXEC", Epoll.EPOLL_CLOEXEC);
        same("EPOLL_CTL_ADD", Epoll.EPOLL_CTL_ADD);
        same("EPOLL_CTL_DEL", Epoll.EPOLL_CTL_DEL);
        same("EPOLL_CTL_MOD", Epoll.EPOLL_CTL_MOD);
        same("EFD_SEMAPHORE", EventFds.EFD_SEMAPHORE);
        same("EFD_NONBLOCK", EventFds.EFD_NONBLOCK);
        same("EFD_CLOEXEC", EventFds.EFD_CLOEXEC);
        same("MFD_CLOEXEC", Mman.MFD_CLOEXEC);
        same("MFD_ALLOW_SEALING", Mman.MFD_ALLOW_SEALING);
        same("F_SEAL_SEAL", Mman.F_SEAL_SEAL);
        same("F_SEAL_SHRINK", Mman.F_SEAL_SHRINK);
        same("F_SEAL_GROW", Mman.F_SEAL_GROW);
        same("F_SEAL_WRITE", Mman.F_SEAL_WRITE);
        same("F_ADD_SEALS", Unistd.F_ADD_SEALS);
        same("F_GET_SEALS", Unistd.F_GET_SEALS);
        same("F_GETFD", Unistd.F_GETFD);
        same("F_SETFD", Unistd.F_SETFD);
        same("F_GETFL", Unistd.F_GETFL);
        same("F_DUPFD_CLOEXEC", Unistd.F_DUPFD_CLOEXEC);
        same("FIONREAD", Sockets.FIONREAD);
        same("F_SETFL", Unistd.F_SETFL);
        same("FD_CLOEXEC", Unistd.FD_CLOEXEC);
        same("O_NONBLOCK", Unistd.O_NONBLOCK);
        same("O_CLOEXEC", Unistd.O_CLOEXEC);
        same("PROT_READ", Mman.PROT_READ);
        same("PROT_WRITE", Mman.PROT_WRITE);
        same("MAP_SHARED", Mman.MAP_SHARED);
        same("POLLIN", Unistd.POLLIN);
        same("POLLOUT", Unistd.POLLOUT);
        same("POLLERR", Unistd.POLLERR);
        same("POLLHUP", Unistd.POLLHUP);
    }

    @Test
    void systemCallNumbersOfThisArchitecture() {
        for (String call : List.of("read", "write", "close", "sendto", "sendmsg", "recvmsg", "poll", "epoll_wait",
                "close_range")) {
            same("SYS_" + call, SyscallNumbers.of(call)); // -1 on both sides where the call does not exist
        }
    }
}
