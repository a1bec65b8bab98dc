/*
 * part4-copy-modes/client.c - the receiver of lesson 4.
 *
 *   ./client -p 9000 -s 64K -d 5             stream 64 KiB messages for 5 s
 *   ./client -p 9000 -s 1K -n 1000 --check   1000 messages, every byte checked
 *   ./client -p 9000 -s 4K --latency -c 4 -d 3
 *                                            4 threads, each asking for one
 *                                            message at a time: latency
 *
 * T threads (-c), one connection each. In stream mode a thread sends one
 * request (count = -n, or 0 = "until I close" with -d) and counts what
 * arrives: this measures throughput. In latency mode it asks for one
 * message, waits for all of it, and asks again: the time from request to
 * last byte goes into a histogram.
 *
 * The messages are checkable (common/stream.h): message n starts with n
 * and the rest is the payload pattern of the request's tag. --check
 * compares every byte; without it the client only counts, so that the
 * receiver's CPU measures receiving and not checking.
 */
#include "common.h"
#include "stream.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct config {
    const char *addr;
    int port, threads, latency, check, csv, timeout_ms, rcvbuf, pause_us;
    long long size, count;           /* count 0 with duration: until time is up */
    double duration;
};

struct worker {
    int id;
    const struct config *cfg;
    pthread_barrier_t *start_line;
    struct histogram latency;
    long messages, requests, errors, timeouts;
    int connected;
    uint64_t sent, received;
    char error[200];
};

/* Where we are in the byte stream of replies. */
struct reader {
    const struct config *cfg;
    uint8_t *expect;                 /* --check: one message's content */
    uint32_t tag;
    uint8_t reply[STREAM_REPLY_LEN];
    size_t reply_have;               /* < STREAM_REPLY_LEN: reading the reply header */
    uint64_t seq;                    /* message number on this connection */
    size_t off;                      /* bytes of message `seq` received */
    uint64_t left;                   /* messages still due for this request (0: unlimited) */
    int unlimited;
};

/* Record the first error of this thread (and count it); returns -1. */
__attribute__((format(printf, 2, 3)))
static int fail(struct worker *w, const char *fmt, ...)
{
    if (!w->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->error, sizeof w->error, fmt, ap);
        va_end(ap);
    }
    w->errors++;
    return -1;
}

/* Compare bytes [r->off, r->off + n) of message r->seq with what it must be. */
static int check_bytes(struct worker *w, struct reader *r, const uint8_t *p, size_t n)
{
    uint8_t stamp[STREAM_STAMP_LEN];
    stream_stamp(stamp, sizeof stamp, r->seq);
    for (size_t i = 0; i < n; i++) {
        size_t at = r->off + i;
        if (at >= STREAM_STAMP_LEN) {
            if (memcmp(p + i, r->expect + at, n - i) == 0)
                return 0;
            for (; i < n && p[i] == r->expect[r->off + i]; i++)
                ;
            return fail(w, "mismatch in message %llu at byte %zu",
                        (unsigned long long)r->seq, r->off + i);
        }
        if (p[i] != stamp[at])
            return fail(w, "wrong sequence number in message %llu (byte %zu)",
                        (unsigned long long)r->seq, at);
    }
    return 0;
}

/* Consume n received bytes. Returns 1 when the request is complete,
 * 0 when more is due, -1 on an error reply or a mismatch. */
static int consume(struct worker *w, struct reader *r, const uint8_t *p, size_t n)
{
    size_t size = (size_t)r->cfg->size;
    while (n > 0) {
        if (r->reply_have < STREAM_REPLY_LEN) {
            size_t k = STREAM_REPLY_LEN - r->reply_have;
            k = k < n ? k : n;
            memcpy(r->reply + r->reply_have, p, k);
            r->reply_have += k, p += k, n -= k;
            if (r->reply_have < STREAM_REPLY_LEN)
                return 0;
            uint32_t len;
            int ok = stream_parse_reply(r->reply, &len);
            if (ok < 0)
                return fail(w, "not a reply header");
            if (ok == 0) {
                size_t m = n < len ? n : len;
                return fail(w, "server refused: %.*s", (int)m, (const char *)p);
            }
            continue;
        }
        size_t k = size - r->off;
        k = k < n ? k : n;
        if (r->cfg->check && check_bytes(w, r, p, k) != 0)
            return -1;
        r->off += k, p += k, n -= k;
        if (r->off == size) {
            r->off = 0;
            r->seq++;
            w->messages++;
            if (!r->unlimited && --r->left == 0) {
                if (n > 0)
                    return fail(w, "%zu bytes beyond the last message", n);
                return 1;
            }
        }
    }
    return 0;
}

static int send_request(int fd, struct worker *w, struct reader *r, uint64_t count)
{
    struct stream_request rq = {.version = STREAM_VERSION, .size = (uint32_t)r->cfg->size,
                                .tag = r->tag, .count = count};
    uint8_t buf[STREAM_REQ_LEN];
    stream_encode_request(buf, &rq);
    if (write_all(fd, buf, sizeof buf) != 0)
        return fail(w, "send request: %s", strerror(errno));
    w->sent += sizeof buf;
    r->reply_have = 0;
    r->left = count;
    r->unlimited = count == 0;
    return 0;
}

/* Read until the request is complete (1), the deadline passes (0), or an
 * error (-1). Every wait is bounded by the timeout. */
static int receive(int fd, struct worker *w, struct reader *r, uint8_t *buf, size_t cap,
                   double deadline)
{
    for (;;) {
        double left = deadline - now_sec();
        if (deadline > 0 && left <= 0)
            return 0;
        /* Read first, wait only when there is nothing: while data flows,
         * one system call per read rather than two. */
        ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
        if (n > 0) {
            w->received += (uint64_t)n;
            int done = consume(w, r, buf, (size_t)n);
            if (done != 0)
                return done;
            if (r->cfg->pause_us > 0)            /* a slow receiver, for the tests */
                usleep((useconds_t)r->cfg->pause_us);
            continue;
        }
        if (n == 0)
            return fail(w, "server closed the connection at message %llu byte %zu",
                        (unsigned long long)r->seq, r->off);
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return fail(w, "recv: %s", strerror(errno));
        int wait_ms = r->cfg->timeout_ms;
        if (deadline > 0 && left * 1000 < wait_ms)
            wait_ms = (int)(left * 1000) + 1;
        int ready = wait_fd(fd, POLLIN, wait_ms);
        if (ready < 0)
            return fail(w, "interrupted");
        if (ready == 0) {
            if (deadline > 0 && now_sec() >= deadline)
                return 0;
            w->timeouts++;
            return fail(w, "timeout: nothing for %d ms (message %llu)",
                        r->cfg->timeout_ms, (unsigned long long)r->seq);
        }
    }
}

static void run_connection(int fd, struct worker *w, struct reader *r, uint8_t *buf, size_t cap)
{
    const struct config *cfg = w->cfg;
    double end = cfg->duration > 0 ? now_sec() + cfg->duration : 0;
    if (!cfg->latency) {
        if (send_request(fd, w, r, cfg->duration > 0 ? 0 : (uint64_t)cfg->count) == 0 &&
            receive(fd, w, r, buf, cap, end) >= 0)
            w->requests++;
        return;
    }
    for (long long i = 0; cfg->duration > 0 || i < cfg->count; i++) {
        if (end > 0 && now_sec() >= end)
            break;
        uint64_t t = now_ns();
        if (send_request(fd, w, r, 1) != 0)
            return;
        int done = receive(fd, w, r, buf, cap, 0);
        if (done != 1)
            return;
        hist_add(&w->latency, now_ns() - t);
        w->requests++;
    }
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    const struct config *cfg = w->cfg;
    size_t cap = 64 * 1024;
    uint8_t *buf = malloc(cap);
    struct reader r = {.cfg = cfg, .tag = 0x5eed0000u + (uint32_t)w->id};
    if (cfg->check && (r.expect = malloc((size_t)cfg->size)) != NULL)
        stream_fill(r.expect, (size_t)cfg->size, r.tag, 0);
    pthread_barrier_wait(w->start_line);
    if (!buf || (cfg->check && !r.expect)) {
        fail(w, "out of memory");
        goto out;
    }
    int fd = connect_to(cfg->addr, cfg->port, NULL);
    if (fd < 0) {
        fail(w, "connect: %s", strerror(errno));
        goto out;
    }
    w->connected = 1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cfg->rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cfg->rcvbuf, sizeof cfg->rcvbuf);
    run_connection(fd, w, &r, buf, cap);
    close(fd);
out:
    free(buf);
    free(r.expect);
    return NULL;
}

/* The common columns of run_summary_csv(), and two of this lesson's:
 * the received rate in Gbit/s and this process's CPU per KiB received. */
static void print_csv(const struct run_summary *sum)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m)
        die("open_memstream");
    run_summary_csv(sum, m);
    fclose(m);
    char *row = strchr(text, '\n');
    if (!row || len == 0 || text[len - 1] != '\n')
        die("formatting the CSV summary");
    *row++ = '\0';
    text[len - 1] = '\0';
    double gbit = sum->wall_s > 0 ? (double)sum->bytes_recv * 8 / sum->wall_s / 1e9 : 0;
    double kib = (double)sum->bytes_recv / 1024;
    printf("%s,gbit_s,cli_cpu_per_kib_ns\n%s,%.4g,%.4g\n", text, row, gbit,
           kib > 0 ? sum->cpu_s * 1e9 / kib : 0);
    fflush(stdout);
    free(text);
}

static int run(const struct config *cfg)
{
    int n = cfg->threads;
    struct worker *ws = calloc((size_t)n, sizeof *ws);
    pthread_t *tids = calloc((size_t)n, sizeof *tids);
    pthread_barrier_t start_line;
    if (!ws || !tids || pthread_barrier_init(&start_line, NULL, (unsigned)n + 1) != 0)
        die("allocating threads");
    for (int i = 0; i < n; i++) {
        ws[i] = (struct worker){.id = i, .cfg = cfg, .start_line = &start_line};
        hist_init(&ws[i].latency);
        if (pthread_create(&tids[i], NULL, run_worker, &ws[i]) != 0)
            die("pthread_create");
    }
    pthread_barrier_wait(&start_line);
    double t0 = now_sec();
    for (int i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    double wall = now_sec() - t0;

    FILE *human = cfg->csv ? stderr : stdout;
    static struct histogram all;
    hist_init(&all);
    struct run_summary sum;
    run_summary_init(&sum, "client");
    for (int i = 0; i < n; i++) {
        struct worker *w = &ws[i];
        hist_merge(&all, &w->latency);
        sum.connections += w->connected;
        sum.conn_failed += !w->connected;
        sum.requests += cfg->latency ? w->requests : w->messages;
        sum.errors += w->errors;
        sum.timeouts += w->timeouts;
        sum.bytes_sent += w->sent;
        sum.bytes_recv += w->received;
        if (w->error[0])
            fprintf(human, "thread %d: %s\n", i, w->error);
    }
    sum.wall_s = wall;
    sum.latency = cfg->latency ? &all : NULL;
    sum.cpu_s = process_cpu_seconds();
    fprintf(human, "%s mode, %d thread(s), %lld-byte messages%s\n",
            cfg->latency ? "latency" : "stream", n, cfg->size,
            cfg->check ? ", every byte checked" : "");
    run_summary_print(&sum, human);
    if (cfg->csv)
        print_csv(&sum);
    free(ws);
    free(tids);
    pthread_barrier_destroy(&start_line);
    return sum.errors || sum.conn_failed ? 1 : 0;
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: client [options]\n"
        "  -a ADDR         server address (default 127.0.0.1)\n"
        "  -p PORT         server port (default %d)\n"
        "  -c T            threads, one connection each (default 1)\n"
        "  -s SIZE         message size, 1 .. 16M (default 64K)\n"
        "  -n COUNT        messages per connection (stream) or requests (latency)\n"
        "                  (default 1000)\n"
        "  -d SECONDS      run for this long instead (stream: count 0 = until I close)\n"
        "  --latency       ask for one message at a time; report its latency\n"
        "  --check         check every byte of every message\n"
        "  --rcvbuf BYTES  SO_RCVBUF of the client sockets (a small one: slow receiver)\n"
        "  --pause-us US   sleep after every read (a slow receiver)\n"
        "  --timeout MS    give up after this long without data (default 10000)\n"
        "  --csv           one CSV header and row on stdout (summary to stderr)\n",
        DEFAULT_PORT);
}

int main(int argc, char **argv)
{
    struct config cfg = {.addr = "127.0.0.1", .port = DEFAULT_PORT, .threads = 1,
                         .size = 64 * 1024, .count = 1000, .timeout_ms = 10000};
    enum { O_LAT = 256, O_CHECK, O_RCVBUF, O_PAUSE, O_TIMEOUT, O_CSV };
    static const struct option longopts[] = {
        {"latency", no_argument, 0, O_LAT},         {"check", no_argument, 0, O_CHECK},
        {"rcvbuf", required_argument, 0, O_RCVBUF}, {"pause-us", required_argument, 0, O_PAUSE},
        {"timeout", required_argument, 0, O_TIMEOUT}, {"csv", no_argument, 0, O_CSV},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "a:p:c:s:n:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': cfg.addr = optarg; break;
        case 'p': cfg.port = (int)option_number(optarg, 1, 65535, usage); break;
        case 'c': cfg.threads = (int)option_number(optarg, 1, 4096, usage); break;
        case 's': cfg.size = option_number(optarg, 1, STREAM_MAX_SIZE, usage); break;
        case 'n': cfg.count = option_number(optarg, 1, 1LL << 40, usage); break;
        case 'd': cfg.duration = atof(optarg);
                  if (cfg.duration <= 0 || cfg.duration > 86400) {
                      fprintf(stderr, "client: bad duration: %s\n", optarg);
                      return 2;
                  }
                  break;
        case O_LAT: cfg.latency = 1; break;
        case O_CHECK: cfg.check = 1; break;
        case O_RCVBUF: cfg.rcvbuf = (int)option_number(optarg, 1, 1 << 30, usage); break;
        case O_PAUSE: cfg.pause_us = (int)option_number(optarg, 0, 10000000, usage); break;
        case O_TIMEOUT: cfg.timeout_ms = (int)option_number(optarg, 1, 3600000, usage); break;
        case O_CSV: cfg.csv = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    install_signal_handlers();
    return run(&cfg);
}
