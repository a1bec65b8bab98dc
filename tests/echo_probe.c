/*
 * echo_probe - the client side of the conformance scenarios.
 *
 *   echo_probe [-a ADDR] -p PORT [--timeout MS] SCENARIO [ARGS]
 *
 * Each scenario plays one client behaviour against an echo server, checks
 * every byte it gets back, prints one line saying what it saw, and exits
 * 0 when the server behaved, 1 when it did not, 2 on bad usage.
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *addr = "127.0.0.1";
static int port, timeout_ms = 10000;
static int retries;     /* --retry N: times a turned-away client reconnects */

static int fail(const char *fmt, const char *detail)
{
    printf(fmt, detail);
    putchar('\n');
    return 1;
}

static int connect_or_fail(int *fd)
{
    *fd = connect_to(addr, port, NULL);
    if (*fd < 0) {
        printf("connect: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

static size_t size_arg(const char *s)
{
    long long v = parse_size(s);
    if (v <= 0) {
        fprintf(stderr, "echo_probe: bad size %s\n", s);
        exit(2);
    }
    return (size_t)v;
}

/* One checked request on fd; on failure prints why and returns 1. */
static int request(int fd, uint32_t conn, uint32_t req, size_t size, int half_close)
{
    struct exchange x = {.conn = conn, .req = req, .size = size,
                         .half_close = half_close, .timeout_ms = timeout_ms};
    enum xchg_result r = echo_exchange(fd, &x);
    if (r == XCHG_OK)
        return 0;
    char why[160];
    printf("conn %u request %u (%zu bytes): %s\n", conn, req, size,
           exchange_error(&x, r, why, sizeof why));
    return 1;
}

/* Wait for EOF (or a reset) within ms; returns 1 if the peer closed. */
static int wait_closed(int fd, int ms)
{
    char buf[4096];
    double deadline = now_sec() + ms / 1000.0;
    while (now_sec() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 50);
        if (r <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
    }
    return 0;
}

static void set_linger_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};   /* close() sends RST */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* ---- scenarios ---------------------------------------------------------- */

/* integrity SIZE...: one connection, one request per size, in order. */
static int sc_integrity(int argc, char **argv)
{
    int fd;
    if (argc < 1 || connect_or_fail(&fd))
        return argc < 1 ? 2 : 1;
    for (int i = 0; i < argc; i++)
        if (request(fd, 1, (uint32_t)i, size_arg(argv[i]), 0)) {
            close(fd);
            return 1;
        }
    close(fd);
    printf("ok: %d requests intact\n", argc);
    return 0;
}

/* turns N SIZE: N clients one after another, 3 requests each. */
static int sc_turns(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int n = atoi(argv[0]);
    size_t size = size_arg(argv[1]);
    for (int c = 0; c < n; c++) {
        int fd;
        if (connect_or_fail(&fd))
            return 1;
        for (uint32_t r = 0; r < 3; r++)
            if (request(fd, (uint32_t)c, r, size, 0)) {
                close(fd);
                return 1;
            }
        close(fd);
    }
    printf("ok: %d clients in turn\n", n);
    return 0;
}

/* concurrent N SIZE [R]: N clients at once, R requests each (default 3). */
struct conc { int id, requests; size_t size, max_size; unsigned seed; int failed; };

/* The size of request r: fixed, or random in [1, max_size] (rand_r). */
static size_t conc_size(struct conc *c)
{
    if (c->max_size == 0)
        return c->size;
    return 1 + (size_t)rand_r(&c->seed) % c->max_size;
}

/* Was this client turned away (closed before its first byte came back)? */
static int turned_away(enum xchg_result r, const struct exchange *x, uint32_t req)
{
    return req == 0 && x->received == 0 && (r == XCHG_CLOSED || r == XCHG_ERROR);
}

static void *conc_client(void *arg)
{
    struct conc *c = arg;
    for (int attempt = 0;; attempt++) {
        int fd, again = 0;
        if (connect_or_fail(&fd)) {
            c->failed = 1;
            return NULL;
        }
        for (int r = 0; r < c->requests && !c->failed && !again; r++) {
            size_t size = conc_size(c);
            struct exchange x = {.conn = (uint32_t)c->id, .req = (uint32_t)r,
                                 .size = size, .timeout_ms = timeout_ms};
            enum xchg_result res = echo_exchange(fd, &x);
            if (res == XCHG_OK)
                continue;
            if (turned_away(res, &x, (uint32_t)r) && attempt < retries) {
                again = 1;             /* --retry: a refused client tries again */
                continue;
            }
            char why[160];
            printf("conn %d request %d (%zu bytes): %s\n", c->id, r, size,
                   exchange_error(&x, res, why, sizeof why));
            c->failed = 1;
        }
        close(fd);
        if (!again)
            return NULL;
        sleep_ms(10);
    }
}

static int run_concurrent(int n, int requests, size_t size, size_t max_size,
                          unsigned seed);

static int sc_concurrent(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    return run_concurrent(atoi(argv[0]), argc > 2 ? atoi(argv[2]) : 3,
                          size_arg(argv[1]), 0, 0);
}

/* mixed N MAX [SEED]: N clients at once, 3 requests each, of random sizes
 * up to MAX (binary bytes: the pattern holds NUL and 0xFF). */
static int sc_mixed(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    unsigned seed = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : (unsigned)getpid();
    printf("seed %u: ", seed);
    return run_concurrent(atoi(argv[0]), 3, 0, size_arg(argv[1]), seed);
}

static int run_concurrent(int n, int requests, size_t size, size_t max_size,
                          unsigned seed)
{
    if (n < 1 || n > 10000 || requests < 1)
        return 2;
    struct conc *cs = calloc((size_t)n, sizeof *cs);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    if (!cs || !t)
        return fail("%s", "out of memory");
    int started = 0, failed = 0;
    for (; started < n; started++) {
        cs[started] = (struct conc){.id = started, .requests = requests, .size = size,
                                    .max_size = max_size, .seed = seed + (unsigned)started};
        if (pthread_create(&t[started], NULL, conc_client, &cs[started]) != 0)
            break;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        failed += cs[i].failed;
    }
    free(cs);
    free(t);
    if (started < n) {
        printf("could start only %d of %d client threads\n", started, n);
        return 1;
    }
    if (failed) {
        printf("%d of %d concurrent clients failed\n", failed, n);
        return 1;
    }
    printf("ok: %d concurrent clients x %d requests\n", n, requests);
    return 0;
}

/* halfclose SIZE: send SIZE, shutdown(SHUT_WR), get all of it back, then EOF. */
static int sc_halfclose(int argc, char **argv)
{
    int fd;
    if (argc != 1 || connect_or_fail(&fd))
        return argc != 1 ? 2 : 1;
    size_t size = size_arg(argv[0]);
    if (request(fd, 7, 0, size, 1)) {
        close(fd);
        return 1;
    }
    int closed = wait_closed(fd, timeout_ms);
    close(fd);
    if (!closed)
        return fail("%s", "all bytes came back but the server never closed");
    printf("ok: %zu bytes back after half-close, then EOF\n", size);
    return 0;
}

/* Send up to `size` bytes without reading; stop when all is sent or the
 * server stops taking them for `stall_ms`. Returns the bytes sent. */
static size_t push_without_reading(int fd, size_t size, int stall_ms)
{
    static uint8_t buf[65536];
    size_t sent = 0;
    while (sent < size) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, stall_ms) <= 0)
            break;
        size_t n = size - sent < sizeof buf ? size - sent : sizeof buf;
        payload_fill(buf, n, 9, 0, sent);
        ssize_t w = send_nosignal(fd, buf, n, MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            break;
        }
        sent += (size_t)w;
    }
    return sent;
}

/* reset-mid SIZE: start a SIZE transfer, read part of the echo, then reset. */
static int sc_reset_mid(int argc, char **argv)
{
    int fd;
    if (argc != 1 || connect_or_fail(&fd))
        return argc != 1 ? 2 : 1;
    size_t size = size_arg(argv[0]);
    size_t sent = push_without_reading(fd, size / 2, 500);
    char buf[4096];
    ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    set_linger_reset(fd);
    close(fd);
    printf("ok: reset after sending %zu bytes (read %zd)\n", sent, got);
    return 0;
}

/* close-mid SIZE: like reset-mid, but a plain close with data unread. */
static int sc_close_mid(int argc, char **argv)
{
    int fd;
    if (argc != 1 || connect_or_fail(&fd))
        return argc != 1 ? 2 : 1;
    size_t sent = push_without_reading(fd, size_arg(argv[0]) / 2, 500);
    close(fd);
    printf("ok: closed after sending %zu bytes\n", sent);
    return 0;
}

/* vanish N SIZE: N clients, one after another, each sends SIZE and closes
 * at once, without reading. The echo then meets a closed socket, which
 * answers with a reset; a server that writes again gets EPIPE, and one
 * that did not ignore SIGPIPE dies there. (Whether the server is still
 * writing when the reset lands is a race; N clients make it likely.) */
static int sc_vanish(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int n = atoi(argv[0]);
    size_t size = size_arg(argv[1]);
    uint8_t *buf = malloc(size);
    if (!buf)
        return fail("%s", "out of memory");
    payload_fill(buf, size, 11, 0, 0);
    for (int i = 0; i < n; i++) {
        int fd;
        if (connect_or_fail(&fd)) {
            free(buf);
            return 1;
        }
        write_all(fd, buf, size);   /* may fail: the server may reset first */
        close(fd);
    }
    free(buf);
    printf("ok: %d clients sent %zu bytes and vanished\n", n, size);
    return 0;
}

/* no-read SIZE [HOLD_MS]: send SIZE (or until the server stops reading),
 * never read a byte, stay HOLD_MS if given, then leave. */
static int sc_no_read(int argc, char **argv)
{
    int fd;
    if (argc < 1 || argc > 2 || connect_or_fail(&fd))
        return argc < 1 || argc > 2 ? 2 : 1;
    size_t sent = push_without_reading(fd, size_arg(argv[0]), 1000);
    if (argc == 2) {                 /* HOLD_MS: stay connected, still not reading */
        printf("holding after %zu bytes\n", sent);
        fflush(stdout);
        sleep_ms(atoi(argv[1]));
    }
    close(fd);
    printf("ok: sent %zu bytes without reading, then left\n", sent);
    return 0;
}

/* idle-drop MAX_MS: connect, stay silent; the server must close us within
 * MAX_MS (it was started with a short --idle-timeout). */
static int sc_idle_drop(int argc, char **argv)
{
    int fd;
    if (argc != 1 || connect_or_fail(&fd))
        return argc != 1 ? 2 : 1;
    int max_ms = atoi(argv[0]);
    double t0 = now_sec();
    int closed = wait_closed(fd, max_ms);
    close(fd);
    if (!closed)
        return fail("silent client still open after %s ms", argv[0]);
    printf("ok: silent client closed after %.0f ms\n", (now_sec() - t0) * 1000);
    return 0;
}

/* trickle MAX_MS: send one byte every 250 ms, reading each echo back. The
 * server (started with a short --idle-timeout) must give up on us within
 * MAX_MS: a trickle holds a thread or process as surely as silence. */
static int sc_trickle(int argc, char **argv)
{
    int fd;
    if (argc != 1 || connect_or_fail(&fd))
        return argc != 1 ? 2 : 1;
    int max_ms = atoi(argv[0]);
    double t0 = now_sec();
    uint8_t byte;
    for (uint64_t i = 0; (now_sec() - t0) * 1000 < max_ms; i++) {
        payload_fill(&byte, 1, 5, 0, i);
        if (send_nosignal(fd, &byte, 1, 0) != 1 || wait_closed(fd, 250)) {
            close(fd);
            printf("ok: trickling client dropped after %.0f ms\n", (now_sec() - t0) * 1000);
            return 0;
        }
    }
    close(fd);
    return fail("a client trickling a byte every 250 ms still held after %s ms", argv[0]);
}

/* slow-reader SIZE: a client with a 4 KiB receive buffer that reads its
 * echo 4 KiB at a time with a pause between reads. Every byte must come
 * back; the server must wait for us without burning CPU (the caller
 * measures that). */
static int sc_slow_reader(int argc, char **argv)
{
    if (argc != 1)
        return 2;
    size_t size = size_arg(argv[0]), sent = 0, got = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) != 0 ||
        inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return fail("connect: %s", strerror(errno));
    static uint8_t out[65536], in[4096];
    double last_progress = now_sec();
    while (got < size) {
        if (now_sec() - last_progress > timeout_ms / 1000.0) {
            printf("stalled: sent %zu, received %zu of %zu\n", sent, got, size);
            close(fd);
            return 1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < size ? POLLOUT : 0)};
        if (poll(&p, 1, 100) <= 0)
            continue;
        if ((p.revents & POLLOUT) && sent < size) {
            size_t n = size - sent < sizeof out ? size - sent : sizeof out;
            payload_fill(out, n, 21, 0, sent);
            ssize_t w = send_nosignal(fd, out, n, MSG_DONTWAIT);
            if (w > 0) {
                sent += (size_t)w;
                last_progress = now_sec();
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, in, sizeof in, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                printf("connection ended after %zu of %zu bytes\n", got, size);
                close(fd);
                return 1;
            }
            if (r > 0) {
                if (payload_check(in, (size_t)r, 21, 0, got) >= 0) {
                    printf("wrong byte near offset %zu\n", got);
                    close(fd);
                    return 1;
                }
                got += (size_t)r;
                last_progress = now_sec();
                struct timespec pause = {0, 50000};     /* 50 us: read slowly */
                nanosleep(&pause, NULL);
            }
        }
    }
    close(fd);
    printf("ok: %zu bytes read slowly, intact\n", size);
    return 0;
}

/* reset-early N: N clients connect and reset at once, most of them before
 * the server has accepted them. */
static int sc_reset_early(int argc, char **argv)
{
    if (argc != 1)
        return 2;
    int n = atoi(argv[0]);
    for (int i = 0; i < n; i++) {
        int fd;
        if (connect_or_fail(&fd))
            return 1;
        set_linger_reset(fd);
        close(fd);
    }
    printf("ok: %d clients reset right after connecting\n", n);
    return 0;
}

/*
 * admit [waiting-ok] TOTAL [SERVED]: TOTAL clients connect, one after
 * another, each sending a 100-byte request, and all stay connected. Each
 * must either get its echo (admitted) or see the server close it (turned
 * away) within a second: a client left hanging fails the scenario, unless
 * `waiting-ok` says the server has a waiting room of its own (a pool's
 * queue: accepted, waiting for a worker). With SERVED, exactly that many
 * must be admitted (the connection cap).
 *
 * With waiting-ok, a client not answered at once is set aside and the next
 * one connects; at the end every set-aside client is given the rest of its
 * second, all of them together, so that a queue of 60 costs one second of
 * waiting instead of sixty.
 */
enum admit_outcome { ADMITTED, REFUSED, PENDING, BROKEN };

/* admit_answer: what client i's connection shows within wait_ms. */
static enum admit_outcome admit_answer(int fd, int i, int wait_ms)
{
    uint8_t got[100];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, wait_ms) <= 0)
        return PENDING;
    ssize_t r = recv(fd, got, sizeof got, MSG_WAITALL);
    if (r == (ssize_t)sizeof got && payload_check(got, sizeof got, (uint32_t)i, 0, 0) < 0)
        return ADMITTED;
    if (r <= 0)
        return REFUSED;
    printf("client %d: a partial or wrong echo (%zd bytes)\n", i, r);
    return BROKEN;
}

static int sc_admit(int argc, char **argv)
{
    int waiting_ok = argc > 0 && strcmp(argv[0], "waiting-ok") == 0;
    argc -= waiting_ok;
    argv += waiting_ok;
    if (argc < 1 || argc > 2)
        return 2;
    int total = atoi(argv[0]), want = argc == 2 ? atoi(argv[1]) : -1;
    if (total < 1 || total > 10000)
        return 2;
    int *fds = calloc((size_t)total, sizeof *fds);
    double *sent_at = calloc((size_t)total, sizeof *sent_at);
    enum admit_outcome *outcome = calloc((size_t)total, sizeof *outcome);
    int admitted = 0, refused = 0, waiting = 0, rc = 0;
    if (!fds || !sent_at || !outcome) {
        free(fds), free(sent_at), free(outcome);
        return fail("%s", "out of memory");
    }
    for (int i = 0; i < total && rc == 0; i++) {
        uint8_t req[100];
        outcome[i] = REFUSED;             /* refused at connect: turned away too */
        fds[i] = connect_to(addr, port, NULL);
        if (fds[i] < 0)
            continue;
        payload_fill(req, sizeof req, (uint32_t)i, 0, 0);
        if (send_nosignal(fds[i], req, sizeof req, 0) != (ssize_t)sizeof req)
            continue;
        sent_at[i] = now_sec();
        outcome[i] = admit_answer(fds[i], i, waiting_ok ? 50 : 1000);
        if (outcome[i] == PENDING && !waiting_ok) {
            printf("client %d: neither served nor turned away within 1 s\n", i);
            rc = 1;
        }
        if (outcome[i] == BROKEN)
            rc = 1;
    }
    /* Every set-aside client gets at least one second from its request. */
    for (int i = 0; i < total && rc == 0; i++) {
        if (outcome[i] != PENDING)
            continue;
        int left_ms = (int)((sent_at[i] + 1.0 - now_sec()) * 1000);
        outcome[i] = admit_answer(fds[i], i, left_ms > 0 ? left_ms : 0);
        if (outcome[i] == BROKEN)
            rc = 1;
    }
    for (int i = 0; i < total; i++) {
        admitted += outcome[i] == ADMITTED;
        refused += outcome[i] == REFUSED;
        waiting += outcome[i] == PENDING;
        if (fds[i] > 0)
            close(fds[i]);
    }
    free(fds), free(sent_at), free(outcome);
    if (rc == 0 && want >= 0 && admitted != want) {
        printf("%d admitted, %d turned away; expected %d admitted\n", admitted, refused, want);
        return 1;
    }
    if (rc == 0)
        printf("ok: %d admitted, %d waiting in the server's queue, %d turned away cleanly\n",
               admitted, waiting, refused);
    return rc;
}

/* churn N [THREADS]: N connections, each ending one of three ways: a full
 * request then a graceful close, a request then a reset, or half a request
 * then a close. The caller checks the server's descriptors, threads and
 * children afterwards. */
struct churn { int from, to; int failed; };

static void *churn_worker(void *arg)
{
    struct churn *c = arg;
    uint8_t half[512];
    for (int i = c->from; i < c->to && !c->failed; i++) {
        int fd = connect_to(addr, port, NULL);
        if (fd < 0) {
            c->failed = 1;
            printf("connection %d: connect: %s\n", i, strerror(errno));
            break;
        }
        switch (i % 3) {
        case 0:
            c->failed = request(fd, (uint32_t)i, 0, 1024, 0);
            break;
        case 1:
            c->failed = request(fd, (uint32_t)i, 0, 1024, 0);
            set_linger_reset(fd);
            break;
        case 2:
            payload_fill(half, sizeof half, (uint32_t)i, 0, 0);
            (void)send_nosignal(fd, half, sizeof half, 0);
            break;
        }
        close(fd);
    }
    return NULL;
}

static int sc_churn(int argc, char **argv)
{
    if (argc < 1)
        return 2;
    int n = atoi(argv[0]), t = argc > 1 ? atoi(argv[1]) : 4;
    if (n < 1 || t < 1 || t > 64)
        return 2;
    pthread_t tid[64];
    struct churn cs[64];
    int failed = 0, started = 0;
    for (int i = 0; i < t; i++) {
        cs[i] = (struct churn){.from = n * i / t, .to = n * (i + 1) / t};
        if (pthread_create(&tid[i], NULL, churn_worker, &cs[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        failed += cs[i].failed;
    }
    if (failed || started < t)
        return fail("%s", "churn: some connections failed");
    printf("ok: %d connections: graceful, reset and mid-message closes\n", n);
    return 0;
}

/*
 * soak SECONDS CONNS: CONNS connections spread over 8 threads. Each thread
 * goes round its connections, one checked request of 1 B to 4 KiB each;
 * about one request in 40 is followed by a disconnect (graceful or reset,
 * at random) and a fresh connection in its place. Any wrong byte fails.
 */
struct soak { int first, count; double end; unsigned seed; long requests, reconnects; int failed; };

static int soak_connect(int id)
{
    int fd = connect_to(addr, port, NULL);
    if (fd < 0)
        printf("connection %d: connect: %s\n", id, strerror(errno));
    return fd;
}

static void *soak_worker(void *arg)
{
    struct soak *w = arg;
    int *fds = calloc((size_t)w->count, sizeof *fds);
    uint32_t *req = calloc((size_t)w->count, sizeof *req);
    if (!fds || !req) {
        w->failed = 1;
        goto out;
    }
    for (int i = 0; i < w->count; i++)
        if ((fds[i] = soak_connect(w->first + i)) < 0) {
            w->failed = 1;
            goto out;
        }
    while (now_sec() < w->end && !w->failed) {
        for (int i = 0; i < w->count && !w->failed; i++) {
            uint32_t id = (uint32_t)(w->first + i);
            w->failed = request(fds[i], id, req[i]++, 1 + (size_t)rand_r(&w->seed) % 4096, 0);
            w->requests++;
            if (w->failed || rand_r(&w->seed) % 40 != 0)
                continue;
            if (rand_r(&w->seed) % 2)
                set_linger_reset(fds[i]);
            close(fds[i]);
            w->reconnects++;
            if ((fds[i] = soak_connect((int)id)) < 0)
                w->failed = 1;
        }
    }
out:
    for (int i = 0; fds && i < w->count; i++)
        if (fds[i] > 0)
            close(fds[i]);
    free(fds);
    free(req);
    return NULL;
}

static int sc_soak(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    double seconds = atof(argv[0]);
    int conns = atoi(argv[1]);
    enum { THREADS = 8 };
    if (seconds <= 0 || conns < THREADS || conns > 20000)
        return 2;
    pthread_t tid[THREADS];
    struct soak ws[THREADS];
    double end = now_sec() + seconds;
    int started = 0, failed = 0;
    long requests = 0, reconnects = 0;
    for (int t = 0; t < THREADS; t++) {
        ws[t] = (struct soak){.first = conns * t / THREADS,
                              .count = conns * (t + 1) / THREADS - conns * t / THREADS,
                              .end = end, .seed = (unsigned)t * 7919u + 1};
        if (pthread_create(&tid[t], NULL, soak_worker, &ws[t]) != 0)
            break;
        started++;
    }
    for (int t = 0; t < started; t++) {
        pthread_join(tid[t], NULL);
        failed += ws[t].failed;
        requests += ws[t].requests;
        reconnects += ws[t].reconnects;
    }
    printf("%s: %d connections, %ld checked requests, %ld disconnects and reconnects\n",
           failed || started < THREADS ? "FAILED" : "ok", conns, requests, reconnects);
    return failed || started < THREADS;
}

/*
 * serial-order: the iterative server's promise, observed by two clients.
 * A connects and is served. B connects (the kernel accepts the handshake)
 * and sends a request. While A goes on with more round trips, B gets
 * nothing. When A disconnects, B gets its echo - and only after that.
 */
static int sc_serial_order(int argc, char **argv)
{
    (void)argv;
    int a, b;
    if (argc != 0)
        return 2;
    if (connect_or_fail(&a) || request(a, 1, 0, 100, 0) || connect_or_fail(&b))
        return 1;
    uint8_t req[100];
    payload_fill(req, sizeof req, 2, 0, 0);
    if (write_all(b, req, sizeof req) != 0)
        return fail("B could not send: %s", strerror(errno));
    for (uint32_t r = 1; r <= 5; r++) {      /* A is still being served... */
        if (request(a, 1, r, 100, 0))
            return 1;
        char c;
        if (recv(b, &c, 1, MSG_DONTWAIT | MSG_PEEK) > 0)
            return fail("%s", "B got an answer while A was still connected");
    }
    double a_left = now_sec();
    close(a);
    uint8_t got[100];
    struct pollfd p = {.fd = b, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return fail("%s", "B was never served after A left");
    double b_served = now_sec();
    if (read_full(b, got, sizeof got) != (ssize_t)sizeof got ||
        payload_check(got, sizeof got, 2, 0, 0) >= 0)
        return fail("%s", "B's echo was wrong or short");
    close(b);
    if (b_served < a_left)
        return fail("%s", "B was served before A left");
    printf("ok: B waited through 5 of A's requests; served %.1f ms after A left\n",
           (b_served - a_left) * 1000);
    return 0;
}

/* ---- main ----------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *args;
} scenarios[] = {
    {"integrity", sc_integrity, "SIZE..."},
    {"turns", sc_turns, "N SIZE"},
    {"concurrent", sc_concurrent, "N SIZE [REQUESTS]"},
    {"mixed", sc_mixed, "N MAXSIZE [SEED]"},
    {"halfclose", sc_halfclose, "SIZE"},
    {"reset-mid", sc_reset_mid, "SIZE"},
    {"close-mid", sc_close_mid, "SIZE"},
    {"no-read", sc_no_read, "SIZE [HOLD_MS]"},
    {"slow-reader", sc_slow_reader, "SIZE"},
    {"reset-early", sc_reset_early, "N"},
    {"admit", sc_admit, "[waiting-ok] TOTAL [SERVED]"},
    {"churn", sc_churn, "N [THREADS]"},
    {"soak", sc_soak, "SECONDS CONNS"},
    {"vanish", sc_vanish, "N SIZE"},
    {"idle-drop", sc_idle_drop, "MAX_MS"},
    {"trickle", sc_trickle, "MAX_MS"},
    {"serial-order", sc_serial_order, ""},
};

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: echo_probe [-a ADDR] -p PORT [--timeout MS] [--retry N] SCENARIO [ARGS]\n"
               "  --retry N: a client turned away before its first reply reconnects,\n"
               "             up to N times (concurrent, mixed)\n");
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        fprintf(f, "  %-13s %s\n", scenarios[i].name, scenarios[i].args);
    return code;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"timeout", required_argument, 0, 't'},
        {"retry", required_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "+a:p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 't': timeout_ms = atoi(optarg); break;
        case 'r': retries = atoi(optarg); break;
        case 'h': return usage(stdout, 0);
        default: return usage(stderr, 2);
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (optind >= argc || port <= 0)
        return usage(stderr, 2);
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[optind], scenarios[i].name) == 0) {
            int rc = scenarios[i].run(argc - optind - 1, argv + optind + 1);
            return rc == 2 ? usage(stderr, 2) : rc;
        }
    return usage(stderr, 2);
}
