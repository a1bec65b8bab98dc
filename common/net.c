/* net.c - sockets: listening, connecting, I/O that finishes what it starts. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- start-up ---------------------------------------------------------- */

static int resolve(const char *addr, int port, int passive,
                   struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints = {0}, *res;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int rc = getaddrinfo(addr, portstr, &hints, &res);
    if (rc != 0) {
        errno = rc == EAI_SYSTEM ? errno : EINVAL;
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int listen_socket(const struct server_opts *o, int reuseport)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (resolve(o->addr, o->port, 1, &ss, &len) != 0)
        die("resolving the listen address");
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    /* Rebind at once after a restart, even with old connections in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        die("setsockopt SO_REUSEADDR");
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        die("setsockopt SO_REUSEPORT");
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        die("bind");
    if (listen(fd, o->backlog) != 0)
        die("listen");
    return fd;
}

void print_banner(const char *name, int listen_fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char buf[INET6_ADDRSTRLEN + 8];
    if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) != 0)
        die("getsockname");
    printf("%s: listening on %s pid %ld\n", name,
           peer_string(&ss, buf, sizeof buf), (long)getpid());
    if (fflush(stdout) != 0)
        die("writing the banner");
}

atomic_int stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_harmless_signal(int sig)
{
    (void)sig;
}

void install_signal_handlers(void)
{
    struct sigaction sa = {0};
    /* A write to a client that has gone must fail with EPIPE, not kill us. */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        die("sigaction SIGPIPE");
    /* No SA_RESTART: a blocking call returns EINTR so the loop sees the flag. */
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        die("sigaction SIGTERM");
    /* SIGUSR1 does nothing but interrupt: a stray signal must cost an EINTR,
     * never the process, and the tests use it to prove every call retries. */
    sa.sa_handler = on_harmless_signal;
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        die("sigaction SIGUSR1");
}

void block_stop_signals(int how)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(how, &s, NULL);
}

/* ---- I/O ---------------------------------------------------------------- */

int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);    /* any fd; SIGPIPE is ignored by all */
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t send_nosignal(int fd, const void *buf, size_t n, int flags)
{
    for (;;) {
        ssize_t w = send(fd, buf, n, flags | MSG_NOSIGNAL);
        if (w >= 0 || errno != EINTR)
            return w;
    }
}

int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Poll in slices so that a stop request is seen within STOP_SLICE_MS even
 * when the signal landed in another thread. */
#define STOP_SLICE_MS 200

int wait_fd(int fd, short events, int timeout_ms)
{
    double deadline = now_sec() + timeout_ms / 1000.0;
    for (;;) {
        if (stop_requested)
            return -1;
        int slice = STOP_SLICE_MS;
        if (timeout_ms >= 0) {     /* at the deadline: one last look, as poll(0) */
            double left_ms = (deadline - now_sec()) * 1000.0;
            if (left_ms <= 0)
                slice = 0;
            else if (left_ms < slice)
                slice = (int)left_ms + 1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, slice);
        if (r > 0)
            return 1;     /* readable, writable, or an error to collect */
        if (r < 0 && errno != EINTR)
            return -1;
        if (r == 0 && slice == 0)
            return 0;
    }
}

/*
 * Nagle's algorithm holds back a small segment while an earlier one is
 * unacknowledged; the peer delays its ACK (up to 40 ms) hoping to piggyback
 * it on a reply. An echo that answers in pieces smaller than the MSS meets
 * both and stalls 40 ms per request. Request/response traffic turns Nagle
 * off. (docs/part1.md shows the stall in numbers.)
 */
void set_nodelay(int fd)
{
    int one = 1;
    /* Failing only costs latency, never correctness: nothing to handle. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- accepting ---------------------------------------------------------- */

/*
 * Out of descriptors (EMFILE) is the classic way to make a server spin:
 * the pending connection stays in the queue, the listening socket stays
 * readable, accept fails again, forever. We keep one spare descriptor;
 * when accept fails with EMFILE we give it up, accept the client, close
 * it at once (the client sees EOF, not a hang), and take the spare back.
 */
static int spare_fd = -1;
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static double last_emfile_log;

static void reserve_spare(void)
{
    if (spare_fd < 0)
        spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void shed_one_client(int listen_fd)
{
    pthread_mutex_lock(&spare_lock);
    if (spare_fd >= 0) {
        close(spare_fd);
        spare_fd = -1;
    }
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0)
        close(fd);
    reserve_spare();
    pthread_mutex_unlock(&spare_lock);
    log_ratelimited(&last_emfile_log,
                    "out of descriptors: turning clients away (accept: EMFILE)");
}

int accept_client(int listen_fd, struct sockaddr_storage *peer, int nonblock)
{
    socklen_t len = sizeof *peer;
    int flags = SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);

    pthread_mutex_lock(&spare_lock);
    reserve_spare();
    pthread_mutex_unlock(&spare_lock);

    int fd = accept4(listen_fd, (struct sockaddr *)peer, &len, flags);
    if (fd >= 0) {
        set_nodelay(fd);
        return fd;
    }
    switch (errno) {
    case EMFILE:
    case ENFILE:
        shed_one_client(listen_fd);
        errno = EAGAIN;
        return -1;
    case EINTR:
    case ECONNABORTED:     /* the client reset before we accepted it */
    case EPROTO:
    case EWOULDBLOCK:
        errno = EAGAIN;
        return -1;
    default:               /* ENOBUFS, ENOMEM, ...: the caller backs off */
        return -1;
    }
}

int accept_or_back_off(int listen_fd, struct sockaddr_storage *peer,
                       unsigned long *errors)
{
    int fd = accept_client(listen_fd, peer, 0);
    if (fd < 0 && errno != EAGAIN) {
        if (errors)
            (*errors)++;
        sleep_ms(10);
    }
    return fd;
}

void refuse_client(int listen_fd)
{
    struct sockaddr_storage peer;
    int fd = accept_client(listen_fd, &peer, 1);
    if (fd >= 0)
        close(fd);
}

/* ---- connecting --------------------------------------------------------- */

/* A connect interrupted by a signal goes on in the background; calling
 * connect() again would fail with EALREADY. Wait for it and collect the
 * result instead. Returns 1 when connected. */
static int finish_connect(int fd)
{
    if (errno != EINTR)
        return 0;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t elen = sizeof err;
    int r;
    while ((r = poll(&p, 1, 30000)) < 0)
        if (errno != EINTR)
            return 0;
    if (r == 0) {
        errno = ETIMEDOUT;
        return 0;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        return 0;
    errno = err;
    return err == 0;
}

int connect_to(const char *addr, int port, const char *src)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (resolve(addr, port, 0, &ss, &len) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (src) {
        struct sockaddr_storage from;
        socklen_t flen;
        int one = 1;
        /* Pick the port at connect time, per destination, not at bind time:
         * otherwise each source address is limited to ~28k ports in all. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (resolve(src, 0, 0, &from, &flen) != 0 ||
            bind(fd, (struct sockaddr *)&from, flen) != 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&ss, len) != 0 && !finish_connect(fd)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    set_nodelay(fd);
    return fd;
}
