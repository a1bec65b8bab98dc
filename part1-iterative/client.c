/*
 * part1-iterative/client.c - a blocking echo client.
 *
 *   ./client -p 9000                      interactive: type lines, see them echoed
 *   ./client -p 9000 -n 10 -s 1K          scripted: 10 requests of 1 KiB, timed
 *   ./client -p 9000 -c 4 -n 3 --think 100
 *                                         4 sessions that start together
 *
 * The client side of lesson 1. A request is S bytes written and the same S
 * bytes read back; the client must read while it writes, or a request
 * larger than the two socket buffers would deadlock (the server blocks
 * writing to us while we block writing to it). echo_exchange() in
 * common/exchange.c does exactly that and checks every byte.
 *
 * With -c N, N sessions start at the same instant (one thread each, held
 * at a barrier) so that they reach the server together: against the
 * iterative server, session k waits for the k-1 before it, and "wait for
 * first reply" shows the listen queue.
 */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct config {
    const char *addr;
    int port, sessions, think_ms, timeout_ms, csv;
    long requests;
    long long size;
};

struct session {
    int id;
    const struct config *cfg;
    pthread_barrier_t *start_line;
    struct histogram latency;
    long requests, errors, timeouts;
    int connected, got_reply;
    uint64_t sent, received;
    double first_reply_ms, duration_s;
    char error[160];
};

/* ---- scripted mode ------------------------------------------------------ */

/* One request; returns 0, or -1 after recording why in the session. */
static int one_request(int fd, struct session *s, long req, double t0)
{
    struct exchange x = {.conn = (uint32_t)s->id, .req = (uint32_t)req,
                         .size = (size_t)s->cfg->size,
                         .timeout_ms = s->cfg->timeout_ms};
    uint64_t t = now_ns();
    enum xchg_result r = echo_exchange(fd, &x);
    s->sent += x.sent;
    s->received += x.received;
    if (x.first_reply_ns && !s->got_reply) {
        s->got_reply = 1;
        s->first_reply_ms = ((double)x.first_reply_ns / 1e9 - t0) * 1000.0;
    }
    if (r != XCHG_OK) {
        s->errors++;
        s->timeouts += r == XCHG_TIMEOUT;
        exchange_error(&x, r, s->error, sizeof s->error);
        return -1;
    }
    hist_add(&s->latency, now_ns() - t);
    s->requests++;
    return 0;
}

static void *run_session(void *arg)
{
    struct session *s = arg;
    const struct config *cfg = s->cfg;
    pthread_barrier_wait(s->start_line);
    double t0 = now_sec();
    int fd = connect_to(cfg->addr, cfg->port, NULL);
    if (fd < 0) {
        snprintf(s->error, sizeof s->error, "connect: %s", strerror(errno));
        s->errors++;
        return NULL;
    }
    s->connected = 1;
    for (long r = 0; r < cfg->requests; r++) {
        if (one_request(fd, s, r, t0) != 0)
            break;
        if (cfg->think_ms > 0 && r + 1 < cfg->requests)
            sleep_ms(cfg->think_ms);
    }
    close(fd);
    s->duration_s = now_sec() - t0;
    return NULL;
}

static void summarise(struct session *ss, int n, double wall, const struct config *cfg)
{
    FILE *human = cfg->csv ? stderr : stdout;
    static struct histogram all;
    struct run_summary sum;
    run_summary_init(&sum, "client");
    hist_init(&all);
    double first_total = 0, sess_total = 0;
    int replied = 0;
    sum.first_max_ms = sum.sess_max_s = 0;
    for (int i = 0; i < n; i++) {
        struct session *s = &ss[i];
        hist_merge(&all, &s->latency);
        sum.connections += s->connected && s->got_reply;
        sum.conn_failed += !(s->connected && s->got_reply);
        sum.requests += s->requests;
        sum.errors += s->errors;
        sum.timeouts += s->timeouts;
        sum.bytes_sent += s->sent;
        sum.bytes_recv += s->received;
        if (s->got_reply) {
            replied++;
            first_total += s->first_reply_ms;
            sess_total += s->duration_s;
            if (s->first_reply_ms > sum.first_max_ms)
                sum.first_max_ms = s->first_reply_ms;
            if (s->duration_s > sum.sess_max_s)
                sum.sess_max_s = s->duration_s;
        }
        if (n > 1 || s->error[0])
            fprintf(human, "session %d: first reply after %.1f ms, %.3f s in all, "
                           "%ld requests%s%s\n", i, s->first_reply_ms, s->duration_s,
                    s->requests, s->error[0] ? ", error: " : "", s->error);
    }
    if (replied > 0) {
        sum.first_avg_ms = first_total / replied;
        sum.sess_avg_s = sess_total / replied;
    } else {
        sum.first_max_ms = sum.sess_max_s = -1;
    }
    sum.wall_s = wall;
    sum.latency = &all;
    sum.cpu_s = process_cpu_seconds();
    run_summary_print(&sum, human);
    if (cfg->csv)
        run_summary_csv(&sum, stdout);
}

static int scripted(const struct config *cfg)
{
    struct session *ss = calloc((size_t)cfg->sessions, sizeof *ss);
    pthread_t *tids = calloc((size_t)cfg->sessions, sizeof *tids);
    pthread_barrier_t start_line;
    if (!ss || !tids || pthread_barrier_init(&start_line, NULL,
                                             (unsigned)cfg->sessions + 1) != 0)
        die("allocating sessions");
    int started = 0;
    for (int i = 0; i < cfg->sessions; i++) {
        ss[i] = (struct session){.id = i, .cfg = cfg, .start_line = &start_line};
        hist_init(&ss[i].latency);
        if (pthread_create(&tids[i], NULL, run_session, &ss[i]) != 0)
            die("pthread_create");    /* before any session ran: start-up */
        started++;
    }
    pthread_barrier_wait(&start_line);
    double t0 = now_sec();
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    summarise(ss, cfg->sessions, now_sec() - t0, cfg);
    int failed = 0;
    for (int i = 0; i < cfg->sessions; i++)
        failed |= ss[i].errors != 0;
    pthread_barrier_destroy(&start_line);
    free(ss);
    free(tids);
    return failed ? 1 : 0;
}

/* ---- interactive mode ---------------------------------------------------- */

/* Copy stdin to the socket and the socket to stdout, never blocking on one
 * while the other has data waiting. At the end of stdin, half-close and
 * print what is still coming back until the server closes. */
static int interactive(const struct config *cfg)
{
    int fd = connect_to(cfg->addr, cfg->port, NULL);
    if (fd < 0) {
        fprintf(stderr, "client: connect to %s:%d: %s\n", cfg->addr, cfg->port,
                strerror(errno));
        return 1;
    }
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "connected to %s:%d; type lines, Ctrl-D to finish\n",
                cfg->addr, cfg->port);
    char pending[4096], buf[4096];
    size_t len = 0, off = 0;
    int stdin_open = 1;
    for (;;) {
        struct pollfd p[2] = {
            {.fd = stdin_open && len == 0 ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = fd, .events = POLLIN | (len ? POLLOUT : 0)},
        };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (p[0].revents) {
            ssize_t n = read(STDIN_FILENO, pending, sizeof pending);
            if (n <= 0) {
                stdin_open = 0;
                shutdown(fd, SHUT_WR);      /* "I am done sending" */
            } else {
                len = (size_t)n;
                off = 0;
            }
        }
        if (p[1].revents & POLLOUT) {
            ssize_t w = send_nosignal(fd, pending + off, len - off, MSG_DONTWAIT);
            if (w < 0 && errno != EAGAIN) {
                perror("client: send");
                break;
            }
            if (w > 0 && (off += (size_t)w) == len)
                len = 0;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0)
                break;                      /* the server closed: all echoed */
            if (n < 0 && errno != EAGAIN) {
                perror("client: recv");
                break;
            }
            if (n > 0 && write_all(STDOUT_FILENO, buf, (size_t)n) != 0)
                break;
        }
    }
    close(fd);
    return 0;
}

/* ---- options ---------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: client [options]\n"
        "  -a ADDR         server address (default 127.0.0.1)\n"
        "  -p PORT         server port (default %d)\n"
        "without -n: interactive, stdin to the server and its echo to stdout\n"
        "  -n R            scripted: R requests per session\n"
        "  -s SIZE         bytes per request, e.g. 64, 16K, 8M (default 64)\n"
        "  -c N            N sessions started together (default 1)\n"
        "  --think MS      pause between requests (default 0)\n"
        "  --timeout MS    give up a request after MS without progress (default 60000)\n"
        "  --csv           machine-readable summary on stdout (header + one row)\n"
        "  -h              this help\n", DEFAULT_PORT);
}

static long long number(const char *s, long long min, long long max)
{
    long long v = parse_size(s);
    if (v < min || v > max) {
        fprintf(stderr, "client: bad number: %s\n", s);
        usage(stderr);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    enum { THINK = 1000, TIMEOUT, CSV };
    static const struct option longopts[] = {
        {"think", required_argument, 0, THINK},
        {"timeout", required_argument, 0, TIMEOUT},
        {"csv", no_argument, 0, CSV},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct config cfg = {.addr = "127.0.0.1", .port = DEFAULT_PORT, .sessions = 1,
                         .size = 64, .timeout_ms = 60000};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "a:p:n:s:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': cfg.addr = optarg; break;
        case 'p': cfg.port = (int)number(optarg, 1, 65535); break;
        case 'n': cfg.requests = (long)number(optarg, 1, 1000000000); break;
        case 's': cfg.size = number(optarg, 1, 1LL << 32); break;
        case 'c': cfg.sessions = (int)number(optarg, 1, 10000); break;
        case THINK: cfg.think_ms = (int)number(optarg, 0, 3600000); break;
        case TIMEOUT: cfg.timeout_ms = (int)number(optarg, 1, 3600000); break;
        case CSV: cfg.csv = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "client: unknown or incomplete option: %s\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "client: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    return cfg.requests > 0 ? scripted(&cfg) : interactive(&cfg);
}
