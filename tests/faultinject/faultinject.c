/*
 * faultinject.so - make the system calls a server relies on misbehave, the
 * way they are allowed to, without touching the server's code:
 *
 *   LD_PRELOAD=tests/bin/faultinject.so FAULT_EVERY=4 ./server ...
 *
 * On sockets only, about one call in FAULT_EVERY (pseudo-random, seeded by
 * FAULT_SEED) is changed:
 *   accept/accept4  fail with EINTR, EAGAIN, ECONNABORTED or EMFILE
 *   read/recv       fail with EINTR or EAGAIN, or return fewer bytes
 *   write/send      fail with EINTR or EAGAIN, or write fewer bytes
 * Every one of these can happen for real; a correct server retries, waits,
 * or turns a client away, and never loses or reorders a byte.
 * FAULT_NO_EAGAIN=1 injects EINTR instead of EAGAIN on reads and writes:
 * an edge-triggered server is right to wait for the next edge after
 * EAGAIN, and a fake one never brings that edge, so it would (correctly)
 * stall.
 * At exit it prints how many faults it injected, in it and in the
 * children it forked, to stderr.
 *
 * FAULT_SHUT_LISTEN_MS=N: N ms after the server's listen(), shut its
 * listening socket down (SHUT_RD), so that every accept fails (EINVAL)
 * from then on: a lasting accept error, as a lasting ENOBUFS or ENOMEM
 * would be, and one that reaches accepts made inside the kernel too
 * (io_uring's), which the faults above cannot.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static unsigned every = 4;
static int no_eagain;
static atomic_uint state = 12345;
/* In a shared page, so that faults injected in forked children count. */
static atomic_ulong *injected, no_counter;

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_listen)(int, int);

static void report(void)
{
    char line[96];
    int n = snprintf(line, sizeof line, "faultinject: %lu faults injected\n",
                     (unsigned long)atomic_load(injected));
    if (n > 0)
        (void)!real_write(STDERR_FILENO, line, (size_t)n);
}

__attribute__((constructor)) static void init(void)
{
    real_read = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    real_recv = (ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
    real_send = (ssize_t (*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
    real_accept = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    real_accept4 = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    real_listen = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
    const char *e = getenv("FAULT_EVERY");
    if (e && atoi(e) > 0)
        every = (unsigned)atoi(e);
    const char *s = getenv("FAULT_SEED");
    if (s)
        atomic_store(&state, (unsigned)strtoul(s, NULL, 10) | 1u);
    no_eagain = getenv("FAULT_NO_EAGAIN") != NULL;
    void *page = mmap(NULL, sizeof *injected, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    injected = page == MAP_FAILED ? &no_counter : page;
    atexit(report);
}

/* A small thread-safe generator: which calls fail, and how. */
static unsigned next_random(void)
{
    unsigned old = atomic_load(&state), x;
    do {
        x = old;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
    } while (!atomic_compare_exchange_weak(&state, &old, x));
    return x;
}

static int is_socket(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* 0: leave this call alone; else one of 1..kinds, the fault to inject. */
static unsigned pick(int fd, unsigned kinds)
{
    if (!is_socket(fd) || next_random() % every != 0)
        return 0;
    atomic_fetch_add(injected, 1);
    return 1 + next_random() % kinds;
}

static size_t shorter(size_t n)
{
    return n > 1 ? 1 + next_random() % (n - 1) : n;
}

static int io_fault(unsigned f)
{
    if (f == 1 || (no_eagain && f == 2))
        return EINTR;
    return f == 2 ? EAGAIN : 0;      /* 0: a short count instead */
}

ssize_t read(int fd, void *buf, size_t n)
{
    unsigned f = pick(fd, 3);
    int err = f ? io_fault(f) : 0;
    if (err) {
        errno = err;
        return -1;
    }
    return real_read(fd, buf, f ? shorter(n) : n);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    unsigned f = pick(fd, 3);
    int err = f ? io_fault(f) : 0;
    if (err) {
        errno = err;
        return -1;
    }
    return real_recv(fd, buf, f ? shorter(n) : n, flags);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    unsigned f = pick(fd, 3);
    int err = f ? io_fault(f) : 0;
    if (err) {
        errno = err;
        return -1;
    }
    return real_write(fd, buf, f ? shorter(n) : n);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    unsigned f = pick(fd, 3);
    int err = f ? io_fault(f) : 0;
    if (err) {
        errno = err;
        return -1;
    }
    return real_send(fd, buf, f ? shorter(n) : n, flags);
}

static const int accept_errors[] = {EINTR, EAGAIN, ECONNABORTED, EMFILE};

int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    unsigned f = pick(fd, 4);
    if (f) {
        errno = accept_errors[f - 1];
        return -1;
    }
    return real_accept(fd, sa, len);
}

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    unsigned f = pick(fd, 4);
    if (f) {
        errno = accept_errors[f - 1];
        return -1;
    }
    return real_accept4(fd, sa, len, flags);
}

static int shut_fd = -1, shut_ms;

static void *shut_listener(void *arg)
{
    (void)arg;
    struct timespec t = {.tv_sec = shut_ms / 1000, .tv_nsec = (shut_ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
    if (shutdown(shut_fd, SHUT_RD) == 0) {
        static const char line[] = "faultinject: the listening socket is shut down\n";
        (void)!real_write(STDERR_FILENO, line, sizeof line - 1);
    }
    return NULL;
}

int listen(int fd, int backlog)
{
    int r = real_listen(fd, backlog);
    const char *ms = getenv("FAULT_SHUT_LISTEN_MS");
    pthread_t t;
    if (r == 0 && ms && atoi(ms) >= 0 && shut_fd < 0) {
        shut_fd = fd;
        shut_ms = atoi(ms);
        if (pthread_create(&t, NULL, shut_listener, NULL) == 0)
            pthread_detach(t);
    }
    return r;
}
