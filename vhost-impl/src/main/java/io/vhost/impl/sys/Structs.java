package io.vhost.impl.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.StructLayout;

/**
 * Hand-written C struct layouts for Linux x86-64 (LP64), each checked against gcc's {@code sizeof}/{@code offsetof}
 * by {@code StructsTest}.
 */
public final class Structs {

    /** {@code struct iovec { void *iov_base; size_t iov_len; }}: 16 bytes. */
    public static final StructLayout IOVEC = MemoryLayout.structLayout(
            ADDRESS.withName("iov_base"), JAVA_LONG.withName("iov_len"));

    /** {@code struct msghdr}: 56 bytes, with padding after {@code msg_namelen} and {@code msg_flags}. */
    public static final StructLayout MSGHDR = MemoryLayout.structLayout(
            ADDRESS.withName("msg_name"),
            JAVA_INT.withName("msg_namelen"),
            MemoryLayout.paddingLayout(4),
            ADDRESS.withName("msg_iov"),
            JAVA_LONG.withName("msg_iovlen"),
            ADDRESS.withName("msg_control"),
            JAVA_LONG.withName("msg_controllen"),
            JAVA_INT.withName("msg_flags"),
            MemoryLayout.paddingLayout(4));

    /** {@code struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; }}: 16 bytes, data follows. */
    public static final StructLayout CMSGHDR = MemoryLayout.structLayout(
            JAVA_LONG.withName("cmsg_len"), JAVA_INT.withName("cmsg_level"), JAVA_INT.withName("cmsg_type"));

    /** {@code struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }}: 110 bytes. */
    public static final StructLayout SOCKADDR_UN = MemoryLayout.structLayout(
            JAVA_SHORT.withName("sun_family"), MemoryLayout.sequenceLayout(108, JAVA_BYTE).withName("sun_path"));

    /** {@code struct epoll_event { uint32_t events; epoll_data_t data; } __attribute__((packed))}: 12 bytes on x86-64. */
    public static final StructLayout EPOLL_EVENT = MemoryLayout.structLayout(
            JAVA_INT.withName("events"), JAVA_LONG_UNALIGNED.withName("data"));

    /** {@code struct ucred { pid_t pid; uid_t uid; gid_t gid; }}: 12 bytes. */
    public static final StructLayout UCRED = MemoryLayout.structLayout(
            JAVA_INT.withName("pid"), JAVA_INT.withName("uid"), JAVA_INT.withName("gid"));

    /** {@code struct pollfd { int fd; short events; short revents; }}: 8 bytes. */
    public static final StructLayout POLLFD = MemoryLayout.structLayout(
            JAVA_INT.withName("fd"), JAVA_SHORT.withName("events"), JAVA_SHORT.withName("revents"));

    /** {@code struct timeval { time_t tv_sec; suseconds_t tv_usec; }}: 16 bytes. */
    public static final StructLayout TIMEVAL = MemoryLayout.structLayout(
            JAVA_LONG.withName("tv_sec"), JAVA_LONG.withName("tv_usec"));

    /** Offset of {@code msg_name}. */
    public static final long MSGHDR_NAME = off(MSGHDR, "msg_name");
    /** Offset of {@code msg_namelen}. */
    public static final long MSGHDR_NAMELEN = off(MSGHDR, "msg_namelen");
    /** Offset of {@code msg_iov}. */
    public static final long MSGHDR_IOV = off(MSGHDR, "msg_iov");
    /** Offset of {@code msg_iovlen}. */
    public static final long MSGHDR_IOVLEN = off(MSGHDR, "msg_iovlen");
    /** Offset of {@code msg_control}. */
    public static final long MSGHDR_CONTROL = off(MSGHDR, "msg_control");
    /** Offset of {@code msg_controllen}. */
    public static final long MSGHDR_CONTROLLEN = off(MSGHDR, "msg_controllen");
    /** Offset of {@code msg_flags}. */
    public static final long MSGHDR_FLAGS = off(MSGHDR, "msg_flags");
    /** Offset of {@code iov_base}. */
    public static final long IOVEC_BASE = off(IOVEC, "iov_base");
    /** Offset of {@code iov_len}. */
    public static final long IOVEC_LEN = off(IOVEC, "iov_len");
    /** Offset of {@code cmsg_len}. */
    public static final long CMSG_LEN_OFFSET = off(CMSGHDR, "cmsg_len");
    /** Offset of {@code cmsg_level}. */
    public static final long CMSG_LEVEL = off(CMSGHDR, "cmsg_level");
    /** Offset of {@code cmsg_type}. */
    public static final long CMSG_TYPE = off(CMSGHDR, "cmsg_type");
    /** Offset of {@code sun_family}. */
    public static final long SOCKADDR_UN_FAMILY = off(SOCKADDR_UN, "sun_family");
    /** Offset of {@code sun_path}. */
    public static final long SOCKADDR_UN_PATH = off(SOCKADDR_UN, "sun_path");
    /** Offset of {@code epoll_event.events}. */
    public static final long EPOLL_EVENT_EVENTS = off(EPOLL_EVENT, "events");
    /** Offset of {@code epoll_event.data}. */
    public static final long EPOLL_EVENT_DATA = off(EPOLL_EVENT, "data");
    /** Offset of {@code ucred.pid}. */
    public static final long UCRED_PID = off(UCRED, "pid");
    /** Offset of {@code ucred.uid}. */
    public static final long UCRED_UID = off(UCRED, "uid");
    /** Offset of {@code ucred.gid}. */
    public static final long UCRED_GID = off(UCRED, "gid");
    /** Offset of {@code pollfd.fd}. */
    public static final long POLLFD_FD = off(POLLFD, "fd");
    /** Offset of {@code pollfd.events}. */
    public static final long POLLFD_EVENTS = off(POLLFD, "events");
    /** Offset of {@code pollfd.revents}. */
    public static final long POLLFD_REVENTS = off(POLLFD, "revents");

    /** Offset of {@code timeval.tv_sec}. */
    public static final long TIMEVAL_SEC = off(TIMEVAL, "tv_sec");
    /** Offset of {@code timeval.tv_usec}. */
    public static final long TIMEVAL_USEC = off(TIMEVAL, "tv_usec");

    private Structs() {
    }

    /**
     * {@code CMSG_ALIGN(len)}: rounds up to {@code sizeof(size_t)}.
     *
     * @param len a length in bytes
     * @return the aligned length
     */
    public static long cmsgAlign(long len) {
        return (len + 7) & ~7L;
    }

    /**
     * {@code CMSG_LEN(dataBytes)}: the {@code cmsg_len} of a control message carrying {@code dataBytes}.
     *
     * @param dataBytes payload bytes (4 per fd)
     * @return header plus data length
     */
    public static long cmsgLen(long dataBytes) {
        return cmsgAlign(CMSGHDR.byteSize()) + dataBytes;
    }

    /**
     * {@code CMSG_SPACE(dataBytes)}: the buffer space one control message takes.
     *
     * @param dataBytes payload bytes
     * @return aligned header plus aligned data length
     */
    public static long cmsgSpace(long dataBytes) {
        return cmsgAlign(CMSGHDR.byteSize()) + cmsgAlign(dataBytes);
    }

    private static long off(StructLayout layout, String field) {
        return layout.byteOffset(PathElement.groupElement(field));
    }
}
