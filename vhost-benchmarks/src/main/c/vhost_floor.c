/*
 * vhost_floor: the C floor for vhost-java's benchmarks, measured in the same run as the Java figures.
 *
 * Three patterns, each between two threads of one process:
 *   rt       request/reply over an AF_UNIX stream socketpair: a 12-byte vhost-user header plus an 8-byte body,
 *            sent with one sendmsg; the receiver reads the header with recvmsg (with a control buffer, as a
 *            vhost-user endpoint must) and then the body with recv; the reply has the same shape.
 *            With --fd, each request carries one eventfd (SCM_RIGHTS); the receiver closes it.
 *   oneway   the sender streams requests without waiting; a final request is acknowledged so that every
 *            message was read before the clock stops. Reported as messages per second.
 *   efd      eventfd ping-pong: each thread blocks in epoll_wait on its own eventfd and signals the other's.
 *
 * --rcvtimeo-us N (rt, oneway) sets SO_RCVTIMEO to N microseconds on both ends, as vhost-java's FFM transport does
 * for its brief waits (a blocking recvmsg bounded by about one scheduler tick): every receive that sleeps then arms
 * and cancels a kernel timer. A receive that times out (none should once both threads run) is retried.
 *
 * Output: one JSON object per line, e.g.
 *   {"bench":"rt","fds":0,"rcvtimeo_us":0,"seconds":2.00,"ops":171234,"ops_per_s":85617,"median_us":11.4,"p99_us":19.0}
 *
 * Build: gcc -O2 -pthread -o vhost_floor vhost_floor.c
 * Usage: vhost_floor rt|oneway|efd [--fd] [--rcvtimeo-us N] [--seconds S] [--warmup S] [--pin same|split|none]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HDR 12
#define BODY 8
#define MAX_SAMPLES (1 << 24)

static long rcvtimeo_us; /* 0: receives block without a timeout */

static void die(const char *what) {
    fprintf(stderr, "vhost_floor: %s: %s\n", what, strerror(errno));
    exit(2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) die("pthread_setaffinity_np");
}

/* ---- message helpers: one sendmsg per message, header via recvmsg, then body via recv ---- */

static void send_msg(int sock, uint32_t request, int fd) {
    unsigned char buf[HDR + BODY] = {0};
    uint32_t hdr[3] = {request, 1, BODY};
    memcpy(buf, hdr, HDR);
    struct iovec iov = {buf, sizeof buf};
    union { char raw[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctl;
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (fd >= 0) {
        mh.msg_control = ctl.raw;
        mh.msg_controllen = sizeof ctl.raw;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n;
    do { n = sendmsg(sock, &mh, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    if (n != (ssize_t) sizeof buf) die("sendmsg");
}

static void read_exact(int sock, void *dst, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(sock, (char *) dst + got, len - got, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n <= 0) die("recv");
        got += (size_t) n;
    }
}

/* Returns the request code; closes any received fd. */
static uint32_t recv_msg(int sock) {
    uint32_t hdr[3];
    struct iovec iov = {hdr, HDR};
    union { char raw[CMSG_SPACE(8 * sizeof(int))]; struct cmsghdr align; } ctl;
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.raw;
    mh.msg_controllen = sizeof ctl.raw;
    ssize_t n;
    do { n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC); } while (n < 0 && (errno == EINTR || errno == EAGAIN
                                                                      || errno == EWOULDBLOCK));
    if (n <= 0) die("recvmsg");
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int nfds = (int) ((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < nfds; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                close(fd);
            }
        }
    }
    if (n < HDR) read_exact(sock, (char *) hdr + n, (size_t) (HDR - n));
    unsigned char body[BODY];
    read_exact(sock, body, hdr[2] < BODY ? hdr[2] : BODY);
    return hdr[0];
}

/* ---- results ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void report(const char *bench, int fds, double secs, long ops, double *samples, long nsamples) {
    double median = 0, p99 = 0;
    if (nsamples > 0) {
        qsort(samples, (size_t) nsamples, sizeof *samples, cmp_double);
        median = samples[nsamples / 2] * 1e6;
        p99 = samples[(long) (nsamples * 0.99)] * 1e6;
    }
    printf("{\"bench\":\"%s\",\"fds\":%d,\"rcvtimeo_us\":%ld,\"seconds\":%.2f,\"ops\":%ld,\"ops_per_s\":%.0f,"
           "\"median_us\":%.2f,\"p99_us\":%.2f}\n", bench, fds, rcvtimeo_us, secs, ops, ops / secs, median, p99);
    fflush(stdout);
}

/* ---- socket round trip and one-way ---- */

enum { REQ_PING = 1, REQ_ONEWAY = 8, REQ_STOP = 99 };

struct peer { int sock; int cpu; int efd; };

static void *server(void *arg) {
    struct peer *p = arg;
    pin(p->cpu);
    for (;;) {
        uint32_t req = recv_msg(p->sock);
        if (req == REQ_PING || req == REQ_STOP) send_msg(p->sock, req, -1);
        if (req == REQ_STOP) return NULL;
    }
}

static void run_socket(int oneway, int with_fd, double secs, double warm, int cpu_a, int cpu_b) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    if (rcvtimeo_us > 0) {
        struct timeval tv = {rcvtimeo_us / 1000000, rcvtimeo_us % 1000000};
        for (int i = 0; i < 2; i++) {
            if (setsockopt(sv[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) die("setsockopt SO_RCVTIMEO");
        }
    }
    struct peer srv = {sv[1], cpu_b, -1};
    pthread_t t;
    if (pthread_create(&t, NULL, server, &srv) != 0) die("pthread_create");
    pin(cpu_a);
    int efd = with_fd ? eventfd(0, EFD_CLOEXEC) : -1;
    if (with_fd && efd < 0) die("eventfd");
    double *samples = oneway ? NULL : malloc(sizeof(double) * MAX_SAMPLES);
    long nsamples = 0, ops = 0;
    double end_warm = now_s() + warm;
    while (now_s() < end_warm) {
        send_msg(sv[0], REQ_PING, efd);
        recv_msg(sv[0]);
    }
    double start = now_s(), deadline = start + secs, t0 = start;
    if (oneway) {
        while (1) {
            for (int i = 0; i < 256; i++) send_msg(sv[0], REQ_ONEWAY, efd);
            ops += 256;
            if (now_s() >= deadline) break;
        }
        send_msg(sv[0], REQ_STOP, -1);
        recv_msg(sv[0]);
    } else {
        while (t0 < deadline) {
            send_msg(sv[0], REQ_PING, efd);
            recv_msg(sv[0]);
            double t1 = now_s();
            if (nsamples < MAX_SAMPLES) samples[nsamples++] = t1 - t0;
            ops++;
            t0 = t1;
        }
        send_msg(sv[0], REQ_STOP, -1);
        recv_msg(sv[0]);
    }
    double elapsed = now_s() - start;
    pthread_join(t, NULL);
    report(oneway ? "oneway" : "rt", with_fd, elapsed, ops, samples, nsamples);
    free(samples);
    if (efd >= 0) close(efd);
    close(sv[0]);
    close(sv[1]);
}

/* ---- eventfd ping-pong through epoll ---- */

struct efd_peer { int my_efd, other_efd, cpu; volatile int *stop; };

static void efd_wait(int ep, int efd) {
    struct epoll_event ev;
    int n;
    do { n = epoll_wait(ep, &ev, 1, -1); } while (n < 0 && errno == EINTR);
    if (n != 1) die("epoll_wait");
    uint64_t v;
    if (read(efd, &v, sizeof v) != sizeof v) die("read eventfd");
}

static void efd_signal(int efd) {
    uint64_t one = 1;
    if (write(efd, &one, sizeof one) != sizeof one) die("write eventfd");
}

static int epoll_for(int efd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = efd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) die("epoll_ctl");
    return ep;
}

static void *efd_echo(void *arg) {
    struct efd_peer *p = arg;
    pin(p->cpu);
    int ep = epoll_for(p->my_efd);
    for (;;) {
        efd_wait(ep, p->my_efd);
        /* Read the flag after the wake-up and before answering: the stop request is the signal just received, so
         * the last answer is always sent (reading it after answering could skip that answer and hang the caller). */
        int stop = *p->stop;
        efd_signal(p->other_efd);
        if (stop) break;
    }
    close(ep);
    return NULL;
}

static void run_efd(double secs, double warm, int cpu_a, int cpu_b) {
    int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC);
    if (a < 0 || b < 0) die("eventfd");
    volatile int stop = 0;
    struct efd_peer peer = {b, a, cpu_b, &stop};
    pthread_t t;
    if (pthread_create(&t, NULL, efd_echo, &peer) != 0) die("pthread_create");
    pin(cpu_a);
    int ep = epoll_for(a);
    double *samples = malloc(sizeof(double) * MAX_SAMPLES);
    long nsamples = 0, ops = 0;
    double end_warm = now_s() + warm;
    while (now_s() < end_warm) {
        efd_signal(b);
        efd_wait(ep, a);
    }
    double start = now_s(), deadline = start + secs, t0 = start;
    while (t0 < deadline) {
        efd_signal(b);
        efd_wait(ep, a);
        double t1 = now_s();
        if (nsamples < MAX_SAMPLES) samples[nsamples++] = t1 - t0;
        ops++;
        t0 = t1;
    }
    double elapsed = now_s() - start;
    stop = 1;
    efd_signal(b);
    efd_wait(ep, a);
    pthread_join(t, NULL);
    report("efd", 0, elapsed, ops, samples, nsamples);
    free(samples);
    close(ep);
    close(a);
    close(b);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s rt|oneway|efd [--fd] [--rcvtimeo-us N] [--seconds S] [--warmup S]"
                " [--pin same|split|none]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    int with_fd = 0, cpu_a = -1, cpu_b = -1;
    double secs = 2.0, warm = 0.3;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--fd")) with_fd = 1;
        else if (!strcmp(argv[i], "--rcvtimeo-us") && i + 1 < argc) rcvtimeo_us = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warm = atof(argv[++i]);
        else if (!strcmp(argv[i], "--pin") && i + 1 < argc) {
            const char *p = argv[++i];
            if (!strcmp(p, "same")) { cpu_a = 0; cpu_b = 0; }
            else if (!strcmp(p, "split")) { cpu_a = 0; cpu_b = 1; }
            else if (strcmp(p, "none")) { fprintf(stderr, "--pin same|split|none\n"); return 2; }
        } else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (secs <= 0 || secs > 600 || warm < 0 || warm > 60) { fprintf(stderr, "bad duration\n"); return 2; }
    if (rcvtimeo_us < 0 || rcvtimeo_us > 60000000) { fprintf(stderr, "--rcvtimeo-us 0..60000000\n"); return 2; }
    if (!strcmp(mode, "rt")) run_socket(0, with_fd, secs, warm, cpu_a, cpu_b);
    else if (!strcmp(mode, "oneway")) run_socket(1, with_fd, secs, warm, cpu_a, cpu_b);
    else if (!strcmp(mode, "efd")) run_efd(secs, warm, cpu_a, cpu_b);
    else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    return 0;
}
