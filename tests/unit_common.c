/*
 * unit_common - checks of common/ on known inputs: the histogram's
 * percentiles and error bound, the payload pattern, size parsing, the
 * rate-limited log (from several threads at once: `make tsan` runs this
 * under ThreadSanitizer, which reports an unsynchronised one), the event
 * servers' ready queue and step, wait_fd().
 * Prints one PASS/FAIL line per check (the runner counts them).
 */
#include "common.h"
#include "step.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

static void check(int ok, const char *name, const char *detail)
{
    if (ok)
        printf("PASS unit: %s\n", name);
    else {
        printf("FAIL unit: %s - %s\n", name, detail);
        failures++;
    }
}

static double rel_err(uint64_t got, uint64_t want)
{
    return fabs((double)got - (double)want) / (double)want;
}

static void test_histogram_exact_small(void)
{
    static struct histogram h;
    hist_init(&h);
    for (uint64_t v = 1; v <= 100; v++)          /* below 128: exact buckets */
        hist_add(&h, v);
    check(hist_quantile(&h, 0.5) == 50 && hist_quantile(&h, 0.99) == 99 &&
          hist_quantile(&h, 0.0) == 1 && hist_quantile(&h, 1.0) == 100 &&
          h.count == 100 && h.sum_ns == 5050,
          "histogram: exact percentiles of 1..100", "wrong quantile");
}

static void test_histogram_error_bound(void)
{
    static struct histogram h;
    hist_init(&h);
    /* 1..1,000,000 microseconds in ns: the true p-th value is p*1e6 us. */
    for (uint64_t us = 1; us <= 1000000; us++)
        hist_add(&h, us * 1000);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    double worst = 0;
    for (int i = 0; i < 4; i++) {
        double e = rel_err(hist_quantile(&h, qs[i]), (uint64_t)(qs[i] * 1e6) * 1000);
        if (e > worst)
            worst = e;
    }
    char d[64];
    snprintf(d, sizeof d, "worst relative error %.4f%%", worst * 100);
    check(worst <= 0.004, "histogram: percentiles within 0.4% over 6 decades", d);
    check(hist_quantile(&h, 1.0) == 1000000000ull && hist_quantile(&h, 0) == 1000,
          "histogram: min and max exact", "min/max");
}

static void test_histogram_every_bucket(void)
{
    /* Every value maps to a bucket whose midpoint is within 1/256. */
    double worst = 0;
    static struct histogram h;
    for (uint64_t v = 1; v < (1ull << 40); v = v * 3 / 2 + 1) {
        hist_init(&h);
        hist_add(&h, v);
        hist_add(&h, v);
        hist_add(&h, (1ull << 41));            /* so the max does not clamp */
        double e = rel_err(hist_quantile(&h, 0.5), v);
        if (e > worst)
            worst = e;
    }
    char d[64];
    snprintf(d, sizeof d, "worst %.5f", worst);
    check(worst <= 1.0 / 256 + 1e-12, "histogram: bucket midpoints within 1/256", d);
}

static void test_histogram_merge(void)
{
    static struct histogram a, b;
    hist_init(&a);
    hist_init(&b);
    for (uint64_t v = 1; v <= 50; v++)
        hist_add(&a, v);
    for (uint64_t v = 51; v <= 100; v++)
        hist_add(&b, v);
    hist_merge(&a, &b);
    check(a.count == 100 && hist_quantile(&a, 0.5) == 50 && a.max_ns == 100 &&
          a.min_ns == 1, "histogram: merge", "merged quantiles wrong");
    hist_init(&b);
    check(hist_quantile(&b, 0.5) == 0 && b.count == 0, "histogram: empty", "not 0");
}

static void test_payload(void)
{
    static uint8_t whole[100000], part[100000];
    payload_fill(whole, sizeof whole, 3, 4, 0);
    /* Filling in odd-sized pieces at offsets gives the same bytes. */
    size_t off = 0, step = 1;
    while (off < sizeof part) {
        size_t n = off + step > sizeof part ? sizeof part - off : step;
        payload_fill(part + off, n, 3, 4, off);
        off += n;
        step = step * 7 % 4093 + 1;
    }
    check(memcmp(whole, part, sizeof whole) == 0, "payload: same bytes at any split",
          "fill differs by offset");
    check(payload_check(whole, sizeof whole, 3, 4, 0) == -1,
          "payload: check accepts the pattern", "rejected");
    whole[54321] ^= 1;
    check(payload_check(whole, sizeof whole, 3, 4, 0) == 54321,
          "payload: check finds a flipped bit", "wrong offset");
    whole[54321] ^= 1;
    check(payload_check(whole, sizeof whole, 3, 5, 0) == 0 ||
          payload_check(whole, sizeof whole, 3, 5, 0) < 8,
          "payload: another request's bytes are caught", "not caught");
    int zeros = 0, ffs = 0;
    for (size_t i = 0; i < sizeof whole; i++) {
        zeros += whole[i] == 0;
        ffs += whole[i] == 0xff;
    }
    check(zeros > 100 && ffs > 100, "payload: contains NUL and 0xFF bytes", "missing");
}

static void test_parse_size(void)
{
    check(parse_size("64") == 64 && parse_size("16K") == 16384 &&
          parse_size("8M") == 8 << 20 && parse_size("1G") == 1 << 30 &&
          parse_size("4KiB") == 4096 && parse_size("x") == -1 &&
          parse_size("5Q") == -1 && parse_size("-1") == -1,
          "parse_size: units and errors", "wrong value");
}

/* Run fn() with stderr sent to a temporary file; returns what it wrote
 * (NUL-terminated, at most n - 1 bytes) or -1. */
static ssize_t capture_stderr(void (*fn)(void), char *out, size_t n)
{
    char path[] = "/tmp/unit_common.XXXXXX";
    int tmp = mkstemp(path), saved = dup(STDERR_FILENO);
    if (tmp < 0 || saved < 0)
        return -1;
    unlink(path);
    dup2(tmp, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t got = pread(tmp, out, n - 1, 0);
    close(tmp);
    if (got >= 0)
        out[got] = '\0';
    return got;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static double shared_last;
static pthread_barrier_t start_together;

static void *log_from_a_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_together);
    for (int i = 0; i < 200; i++)
        log_ratelimited(&shared_last, "unit: warning %d", i);
    return NULL;
}

enum { LOG_THREADS = 8 };
static double burst_seconds;

static void log_burst(void)
{
    pthread_t t[LOG_THREADS];
    int started = 0;
    double t0 = now_sec();
    pthread_barrier_init(&start_together, NULL, LOG_THREADS);
    for (; started < LOG_THREADS; started++)
        if (pthread_create(&t[started], NULL, log_from_a_thread, NULL) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_together);
    burst_seconds = started == LOG_THREADS ? now_sec() - t0 : -1;
}

/* Eight threads, one call site, 1,600 calls at once: one line per second
 * of the burst (the first call prints). Unsynchronised, several threads
 * see the old time together and all print; TSan reports the race. */
static void test_log_ratelimited_threads(void)
{
    char out[8192], d[96];
    ssize_t got = capture_stderr(log_burst, out, sizeof out);
    int lines = got < 0 ? -1 : count_lines(out);
    snprintf(d, sizeof d, "%d lines in %.2f s", lines, burst_seconds);
    check(burst_seconds >= 0 && lines >= 1 && lines <= 1 + (int)burst_seconds,
          "log_ratelimited: eight threads at once, one line per second", d);
}

static void log_with_newline(void)
{
    static double last;
    log_ratelimited(&last, "unit: a format that ends in a newline\n");
}

/* The newline is log_ratelimited's: a format's own must not make a blank line. */
static void test_log_ratelimited_newline(void)
{
    char out[512];
    ssize_t got = capture_stderr(log_with_newline, out, sizeof out);
    check(got > 0 && count_lines(out) == 1 && out[got - 1] == '\n',
          "log_ratelimited: a trailing newline in the format gives no blank line",
          got > 0 ? out : "nothing written");
}

/* epoll -e serves at most 256 queued connections a turn and puts the
 * still-busy ones back. With 300 always busy, every one must get a turn
 * within two: a stack (last in, first out) served the newest 256 for
 * ever and let the oldest 44 expire as "idle". */
static void test_ready_queue_is_fifo(void)
{
    enum { N = 300, PER_TURN = 256, TURNS = 6 };
    static struct conn c[N];
    struct conn_queue q = {0};
    int last_turn[N], worst_wait = 0, order_ok = 1;
    for (int i = 0; i < N; i++) {
        queue_push(&q, &c[i]);
        last_turn[i] = -1;
    }
    for (int turn = 0; turn < TURNS; turn++) {
        int k = q.len < PER_TURN ? q.len : PER_TURN;
        struct conn *served[PER_TURN];
        for (int j = 0; j < k; j++)
            served[j] = queue_pop(&q);
        if (turn == 0)
            for (int j = 0; j < k; j++)
                order_ok &= served[j] == &c[j];
        for (int j = 0; j < k; j++) {
            int i = (int)(served[j] - c);
            if (turn - last_turn[i] > worst_wait)
                worst_wait = turn - last_turn[i];
            last_turn[i] = turn;
            queue_push(&q, served[j]);        /* still busy: back in line */
        }
    }
    int never = 0;
    for (int i = 0; i < N; i++)
        never += last_turn[i] < 0;
    char d[96];
    snprintf(d, sizeof d, "%d of %d never served, worst wait %d turns, first turn in order: %d",
             never, N, worst_wait, order_ok);
    check(never == 0 && worst_wait <= 2 && order_ok && q.len == N,
          "ready queue: 300 busy connections, 256 a turn, each served within 2 turns", d);

    queue_remove(&q, &c[150]);                /* a connection closed while queued */
    queue_remove(&q, &c[150]);                /* twice: no harm */
    int seen = 0, has150 = 0;
    for (struct conn *p; (p = queue_pop(&q)) != NULL; seen++)
        has150 |= p == &c[150];
    check(seen == N - 1 && !has150 && q.len == 0 && !q.first && !q.last,
          "ready queue: a removed connection is gone, the rest intact", "wrong contents");
}

/* One step of a connection over a socketpair: echo, then EOF closes. */
static void test_conn_step(void)
{
    static struct conns cs;
    struct server_opts o = {.name = "unit", .idle_timeout = 1};
    conns_init(&cs, &o, NULL);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
        check(0, "conn_step: echo, then EOF closes", "socketpair failed");
        return;
    }
    struct sockaddr_storage peer = {.ss_family = AF_UNIX};
    atomic_fetch_add(cs.live, 1);             /* as accept_counted() does */
    struct conn *c = conns_adopt(&cs, sv[0], &peer);
    char buf[8] = "";
    int ok = c && write(sv[1], "hello", 5) == 5 &&
             conn_step(&cs, c, 1, 0) == WANT_READ &&
             read(sv[1], buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0;
    ok = ok && conn_step(&cs, c, 0, 0) == WANT_READ;    /* not ready: no change */
    ok = ok && shutdown(sv[1], SHUT_WR) == 0 && conn_step(&cs, c, 1, 0) == WANT_CLOSE &&
         strcmp(c->why, "eof") == 0;
    check(ok, "conn_step: echo, then EOF closes", "wrong step");
    if (c)
        conns_close(&cs, c);
    check(atomic_load(cs.live) == 0 && cs.reg.oldest == NULL && cs.n.accepted == 1 &&
          cs.n.bytes == 5, "conns_close: uncounted, out of the registry", "counts wrong");
    close(sv[1]);
}

/* A timeout of 0 looks once, as poll(..., 0) does. */
static void test_wait_fd_zero(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        check(0, "wait_fd: timeout 0 polls once", "socketpair failed");
        return;
    }
    int empty = wait_fd(sv[0], POLLIN, 0);
    int wrote = write(sv[1], "x", 1) == 1;
    int ready = wait_fd(sv[0], POLLIN, 0);
    int writable = wait_fd(sv[0], POLLOUT, 0);
    char d[64];
    snprintf(d, sizeof d, "empty %d, with a byte %d, writable %d", empty, ready, writable);
    check(empty == 0 && wrote && ready == 1 && writable == 1,
          "wait_fd: timeout 0 polls once (0 when not ready, 1 when ready)", d);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    test_histogram_exact_small();
    test_histogram_error_bound();
    test_histogram_every_bucket();
    test_histogram_merge();
    test_payload();
    test_parse_size();
    test_log_ratelimited_threads();
    test_log_ratelimited_newline();
    test_ready_queue_is_fifo();
    test_conn_step();
    test_wait_fd_zero();
    return failures ? 1 : 0;
}
