/*
 * part3-multiplexing/client.c - the event-driven load generator.
 *
 *   ./client -p 9000 -c 1000 -n 100 -s 64          1,000 connections x 100 requests
 *   ./client -p 9000 -c 500 -d 10 --think 100      each connection busy for 10 s
 *   ./client -p 9000 -c 10000 --idle -n 1 -d 5     open, one request, hold 5 s
 *   ./client ... --ramp 2000 --log conns.log --csv
 *   ./client -p 9000 -c 10 -t 1 -d 5 --rate 20000    open loop: 20,000 requests/s
 *
 * The client side of lesson 3, built like the servers: T threads, each
 * running one epoll loop over its share of the C connections. A thread
 * never blocks on one connection: connect, send and receive are all
 * non-blocking, and each connection is a state machine:
 *
 *   WAITING -> CONNECTING -> ACTIVE (send S bytes, read S bytes back, check
 *   each) -> THINKING (--think) -> ACTIVE ... -> DONE, or FAILED (reset,
 *   closed by the server, wrong byte, no progress for --timeout ms).
 *   --idle: after its requests a connection HOLDs until the end.
 *
 * Beyond one process: a process may open only so many descriptors
 * (RLIMIT_NOFILE), so above that the client forks several processes, each
 * with its share. And one source address can reach one server port from
 * at most ~28,000 ephemeral ports, so --src N spreads the connections over
 * source addresses 127.0.0.1 .. 127.0.0.N (automatic above 20,000).
 *
 * Every connection ends in the summary (completed or failed, with the
 * first reasons); with --log FILE, one line per connection.
 *
 * Open loop (--rate R): each connection follows its share of a schedule
 * (schedule.h) instead of sending as soon as its previous reply is back.
 * A request waits in THINKING until it is due; if its connection is still
 * busy when it is due, it goes out as soon as the reply is in (late, never
 * skipped), and its latency counts from the time it was due.
 */
#include "common.h"
#include "schedule.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_EVENTS   512
#define SCRATCH      65536
#define SWEEP_NS     200000000ULL     /* look for timed-out connections */
#define FD_RESERVE   64               /* descriptors a process keeps spare */
#define PER_SRC      20000            /* connections per source address (auto) */
#define SCHED_SETTLE 50000000ULL      /* the schedule starts 50 ms after the ramp */

struct config {
    const char *addr;
    int port, conns, threads, procs, n_src, think_ms, ramp_ms, timeout_ms;
    int idle, csv, duration_s, failures_ok, series_ms;
    long requests;
    size_t size;
    const char *log_path, *series_path;
    double rate;               /* open loop: requests/s in total; 0: closed */
    enum arrival arrival;
};

enum state { WAITING, CONNECTING, ACTIVE, THINKING, HOLDING, DONE, FAILED };

struct cconn {
    int fd;
    uint32_t id;               /* global connection number: the pattern's key */
    enum state state;
    uint32_t interest;         /* what epoll watches now */
    long req;                  /* requests completed */
    size_t sent, recvd;        /* within the current request */
    uint64_t start_ns, req_ns, progress_ns, due_ns, end_ns, lat_sum_ns;
    uint64_t sched_ns;         /* open loop: when the current request was due */
    struct schedule sched;
    uint64_t bytes_sent, bytes_recv;
    double first_reply_ms;     /* < 0 until the first echoed byte */
    int timed_out;
    char error[72];
};

/* What one process (and one thread) adds up; sent through a pipe by the
 * child processes. */
struct totals {
    long completed, failed, requests, timeouts, closed_by_server;
    uint64_t sent, recv;
    double first_sum_ms, first_max_ms, sess_sum_s, sess_max_s;
    long first_n;
    char first_error[128];
    struct histogram lat;      /* open loop: from the schedule (corrected) */
    struct openloop open;      /* open loop: from the send, and lateness */
};

struct thread {
    const struct config *cfg;
    struct cconn *conns;
    int n, next_start, left;   /* next_start: the next WAITING one */
    int ep, log_fd;
    uint64_t t0, end_ns;
    struct timers timers;      /* THINKING connections, by due time */
    struct series series;      /* --series */
    char *log_buf;
    size_t log_len, log_cap;
    struct totals t;
    uint8_t scratch[SCRATCH];
};

/* Ctrl-C ends the run early, with a summary of what was done. An atomic,
 * because every thread reads it and the handler may run in any of them. */
static atomic_int interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    atomic_store(&interrupted, 1);
}

/* ---- one connection's state machine -------------------------------------- */

static void fail(struct thread *th, struct cconn *c, const char *why, int err)
{
    if (err)
        snprintf(c->error, sizeof c->error, "%s: %s", why, strerror(err));
    else
        snprintf(c->error, sizeof c->error, "%s", why);
    c->state = FAILED;
    c->end_ns = now_ns();
    if (c->fd >= 0)
        close(c->fd);     /* also leaves the epoll set */
    c->fd = -1;
    th->left--;
}

static void finish(struct thread *th, struct cconn *c)
{
    c->state = DONE;
    c->end_ns = now_ns();
    close(c->fd);
    c->fd = -1;
    th->left--;
}

static int set_interest(struct thread *th, struct cconn *c, uint32_t ev)
{
    if (c->interest == ev)
        return 0;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    c->interest = ev;
    return epoll_ctl(th->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Send as much of the current request as the socket takes now. */
static int push(struct thread *th, struct cconn *c)
{
    size_t size = th->cfg->size;
    while (c->sent < size) {
        size_t n = size - c->sent < SCRATCH ? size - c->sent : SCRATCH;
        payload_fill(th->scratch, n, c->id, (uint32_t)c->req, c->sent);
        ssize_t w = send_nosignal(c->fd, th->scratch, n, MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            fail(th, c, "send", errno);
            return -1;
        }
        c->sent += (size_t)w;
        c->bytes_sent += (uint64_t)w;
        c->progress_ns = now_ns();
    }
    /* Watch for writability only while something is left to send. */
    if (set_interest(th, c, EPOLLIN | (c->sent < size ? EPOLLOUT : 0)) != 0) {
        fail(th, c, "epoll_ctl", errno);
        return -1;
    }
    return 0;
}

/* Is there another request? With -d: one that starts (closed loop) or is
 * due (open loop) at `t`, before the end. */
static int more_requests(const struct thread *th, const struct cconn *c, uint64_t t)
{
    if (atomic_load(&interrupted))
        return 0;
    if (th->cfg->duration_s > 0 && !th->cfg->idle)
        return t < th->end_ns;
    return c->req < th->cfg->requests;
}

static void start_request(struct thread *th, struct cconn *c, int from_timer)
{
    c->state = ACTIVE;
    c->sent = c->recvd = 0;
    c->req_ns = c->progress_ns = now_ns();
    if (th->cfg->rate > 0)
        openloop_sent(&th->t.open, c->sched_ns, c->req_ns, from_timer);
    push(th, c);
}

/* Between requests (first == 0) or just connected: wait (think, or the
 * schedule), start the next request, hold, or leave. */
static void next_step(struct thread *th, struct cconn *c, int first)
{
    uint64_t now = now_ns(), due = now;
    if (th->cfg->rate > 0)
        due = c->sched_ns = schedule_take(&c->sched);
    else if (th->cfg->think_ms > 0 && !first)
        due = now + (uint64_t)th->cfg->think_ms * 1000000ULL;
    if (more_requests(th, c, th->cfg->rate > 0 ? due : now)) {
        if (due <= now) {
            start_request(th, c, 0);
        } else if (timers_push(&th->timers, due, c) == 0) {
            c->state = THINKING;
            c->due_ns = due;
        } else {
            fail(th, c, "no room for a timer", 0);
        }
    } else if (th->cfg->idle && !atomic_load(&interrupted)) {
        c->state = HOLDING;
    } else {
        finish(th, c);
    }
}

/* Bytes came in: they must be the next bytes of the current request. */
static void on_readable(struct thread *th, struct cconn *c)
{
    size_t want = c->state == ACTIVE ? th->cfg->size - c->recvd : SCRATCH;
    ssize_t n = recv(c->fd, th->scratch, want < SCRATCH ? want : SCRATCH, MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fail(th, c, "recv", errno);
        return;
    }
    if (n == 0) {
        th->t.closed_by_server++;
        fail(th, c, c->state == HOLDING ? "closed by the server while held"
                                        : "closed by the server", 0);
        return;
    }
    if (c->state != ACTIVE) {
        fail(th, c, "bytes that were not asked for", 0);
        return;
    }
    if (c->first_reply_ms < 0)
        c->first_reply_ms = (double)(now_ns() - c->start_ns) / 1e6;
    long bad = payload_check(th->scratch, (size_t)n, c->id, (uint32_t)c->req, c->recvd);
    if (bad >= 0) {
        char why[64];
        snprintf(why, sizeof why, "wrong byte at offset %zu of request %ld",
                 c->recvd + (size_t)bad, c->req);
        fail(th, c, why, 0);
        return;
    }
    c->recvd += (size_t)n;
    c->bytes_recv += (uint64_t)n;
    c->progress_ns = now_ns();
    if (c->recvd < th->cfg->size)
        return;
    uint64_t lat = c->progress_ns - c->req_ns;
    if (th->cfg->rate > 0) {
        openloop_done(&th->t.open, lat, c->progress_ns);
        lat = c->progress_ns - c->sched_ns;
    }
    hist_add(&th->t.lat, lat);
    if (th->cfg->series_path)
        series_add(&th->series, c->progress_ns, lat);
    c->lat_sum_ns += lat;
    c->req++;
    next_step(th, c, 0);
}

static void on_connected(struct thread *th, struct cconn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err) {
        fail(th, c, "connect", err);
        return;
    }
    if (set_interest(th, c, EPOLLIN) != 0) {
        fail(th, c, "epoll_ctl", errno);
        return;
    }
    next_step(th, c, 1);
}

static void on_event(struct thread *th, struct cconn *c, uint32_t ev)
{
    if (c->state == CONNECTING) {
        on_connected(th, c);
        return;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(th, c);
    if (c->state == ACTIVE && (ev & EPOLLOUT))
        push(th, c);
}

/* A non-blocking connect, from source address 127.0.0.(k+1) when asked. */
static void start_connection(struct thread *th, struct cconn *c)
{
    const struct config *cfg = th->cfg;
    c->start_ns = c->progress_ns = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(th, c, "socket", errno);
        return;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, cfg->addr, &to.sin_addr) != 1) {
        fail(th, c, "bad server address (IPv4 only)", 0);
        return;
    }
    if (cfg->n_src > 0) {
        int one = 1;
        struct sockaddr_in from = {.sin_family = AF_INET};
        from.sin_addr.s_addr = htonl(0x7f000001u + c->id % (uint32_t)cfg->n_src);
        /* Choose the port at connect time, per destination (see common/net.c). */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&from, sizeof from) != 0) {
            fail(th, c, "bind source address", errno);
            return;
        }
    }
    set_nodelay(c->fd);        /* small requests must not wait for Nagle */
    c->state = CONNECTING;
    int r = connect(c->fd, (struct sockaddr *)&to, sizeof to);
    if (r != 0 && errno != EINPROGRESS) {
        fail(th, c, "connect", errno);
        return;
    }
    c->interest = EPOLLOUT;
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(th->ep, EPOLL_CTL_ADD, c->fd, &e) != 0)
        fail(th, c, "epoll_ctl", errno);
}

/* ---- the thread's loop ------------------------------------------------------- */

static uint64_t start_due(const struct thread *th, const struct cconn *c)
{
    const struct config *cfg = th->cfg;
    return th->t0 + (uint64_t)cfg->ramp_ms * 1000000ULL * c->id / (uint64_t)cfg->conns;
}

/* Start the connections and the requests that are due; returns the ns
 * until the next one is due (capped). */
static uint64_t run_timers(struct thread *th, uint64_t now)
{
    uint64_t next = now + 100000000ULL;
    while (th->next_start < th->n && !atomic_load(&interrupted)) {
        struct cconn *c = &th->conns[th->next_start];
        uint64_t due = start_due(th, c);
        if (due > now) {
            if (due < next)
                next = due;
            break;
        }
        th->next_start++;
        start_connection(th, c);
    }
    struct cconn *c;
    uint64_t due;
    while ((c = timers_pop_due(&th->timers, now, &due)) != NULL)
        if (c->state == THINKING)          /* (it may have failed meanwhile) */
            start_request(th, c, 1);
    if (timers_next(&th->timers) < next)
        next = timers_next(&th->timers);
    return next > now ? next - now : 0;
}

static void sweep_timeouts(struct thread *th, uint64_t now)
{
    uint64_t limit = (uint64_t)th->cfg->timeout_ms * 1000000ULL;
    for (int i = 0; i < th->n; i++) {
        struct cconn *c = &th->conns[i];
        if ((c->state == CONNECTING || c->state == ACTIVE) && now - c->progress_ns > limit) {
            c->timed_out = 1;
            th->t.timeouts++;
            fail(th, c, c->state == CONNECTING ? "connect timed out"
                                               : "no progress: timed out", 0);
        }
    }
}

/* The end of the run: an idle run's holders, and anything cut short by a
 * stop request, end here. */
static void end_holders(struct thread *th)
{
    for (int i = 0; i < th->n; i++) {
        struct cconn *c = &th->conns[i];
        if (c->state == HOLDING)
            finish(th, c);
        else if (c->state == WAITING) {
            fail(th, c, "never started (stopped)", 0);
        } else if (c->state != DONE && c->state != FAILED)
            fail(th, c, "stopped", 0);
    }
}

static void log_conn_line(struct thread *th, const struct cconn *c)
{
    if (th->log_fd < 0)
        return;
    if (th->log_cap - th->log_len < 256) {
        size_t cap = th->log_cap ? th->log_cap * 2 : 65536;
        char *p = realloc(th->log_buf, cap);
        if (!p)
            return;
        th->log_buf = p;
        th->log_cap = cap;
    }
    double dur_ms = c->end_ns > c->start_ns ? (double)(c->end_ns - c->start_ns) / 1e6 : 0;
    int len = snprintf(th->log_buf + th->log_len, th->log_cap - th->log_len,
        "conn=%u requests=%ld bytes_sent=%llu bytes_recv=%llu duration_ms=%.1f "
        "avg_response_ms=%.3f result=%s\n", c->id, c->req,
        (unsigned long long)c->bytes_sent, (unsigned long long)c->bytes_recv, dur_ms,
        c->req ? (double)c->lat_sum_ns / (double)c->req / 1e6 : 0.0,
        c->state == DONE ? "ok" : c->error);
    if (len > 0)
        th->log_len += (size_t)len < th->log_cap - th->log_len ? (size_t)len : 0;
}

static void add_up(struct thread *th)
{
    struct totals *t = &th->t;
    t->first_max_ms = t->sess_max_s = 0;
    for (int i = 0; i < th->n; i++) {
        struct cconn *c = &th->conns[i];
        log_conn_line(th, c);
        t->requests += c->req;
        t->sent += c->bytes_sent;
        t->recv += c->bytes_recv;
        if (c->first_reply_ms >= 0) {
            t->first_n++;
            t->first_sum_ms += c->first_reply_ms;
            if (c->first_reply_ms > t->first_max_ms)
                t->first_max_ms = c->first_reply_ms;
        }
        if (c->state == DONE) {
            double s = (double)(c->end_ns - c->start_ns) / 1e9;
            t->completed++;
            t->sess_sum_s += s;
            if (s > t->sess_max_s)
                t->sess_max_s = s;
        } else {
            t->failed++;
            if (!t->first_error[0])
                snprintf(t->first_error, sizeof t->first_error, "conn %u: %s",
                         c->id, c->error);
        }
    }
    if (th->log_len > 0 && write_all(th->log_fd, th->log_buf, th->log_len) != 0)
        fprintf(stderr, "client: writing the log: %s\n", strerror(errno));
}

static void *thread_main(void *arg)
{
    struct thread *th = arg;
    struct epoll_event events[MAX_EVENTS];
    uint64_t last_sweep = now_ns();
    th->left = th->n;
    if (th->cfg->rate > 0)
        precise_timers();
    while (th->left > 0) {
        uint64_t now = now_ns();
        uint64_t wait_ns = run_timers(th, now);
        if (atomic_load(&interrupted) || (th->cfg->idle && now >= th->end_ns))
            break;
        if (th->cfg->idle && th->end_ns - now < wait_ns)
            wait_ns = th->end_ns - now + 1000000ULL;
        int n = wait_events(th->ep, events, MAX_EVENTS, wait_ns);
        if (n < 0 && errno != EINTR) {
            perror("client: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            struct cconn *c = events[i].data.ptr;
            if (c->fd >= 0)
                on_event(th, c, events[i].events);
        }
        now = now_ns();
        if (now - last_sweep > SWEEP_NS) {
            sweep_timeouts(th, now);
            last_sweep = now;
        }
    }
    end_holders(th);
    add_up(th);
    return NULL;
}

/* ---- one process: its share of the connections over T threads ------------- */

static void merge(struct totals *into, const struct totals *t)
{
    into->completed += t->completed;
    into->failed += t->failed;
    into->requests += t->requests;
    into->timeouts += t->timeouts;
    into->closed_by_server += t->closed_by_server;
    into->sent += t->sent;
    into->recv += t->recv;
    into->first_sum_ms += t->first_sum_ms;
    into->first_n += t->first_n;
    into->sess_sum_s += t->sess_sum_s;
    if (t->first_max_ms > into->first_max_ms)
        into->first_max_ms = t->first_max_ms;
    if (t->sess_max_s > into->sess_max_s)
        into->sess_max_s = t->sess_max_s;
    if (!into->first_error[0] && t->first_error[0])
        memcpy(into->first_error, t->first_error, sizeof into->first_error);
    hist_merge(&into->lat, &t->lat);
    openloop_merge(&into->open, &t->open);
}

static void totals_init(struct totals *t)
{
    hist_init(&t->lat);
    openloop_init(&t->open, 0);
}

/* --series: the threads' series, merged (one process only). */
static struct series run_series;

/* Connections lo..hi-1, thread k taking every T-th one (the ramp stays even). */
static void run_share(const struct config *cfg, int lo, int hi, uint64_t t0,
                      int log_fd, struct totals *out)
{
    int nt = cfg->threads < hi - lo ? cfg->threads : hi - lo;
    struct thread **ths = calloc((size_t)nt, sizeof *ths);
    pthread_t *tids = calloc((size_t)nt, sizeof *tids);
    if (!ths || !tids)
        die("allocating threads");
    uint64_t ramp_end = t0 + (uint64_t)cfg->ramp_ms * 1000000ULL;
    uint64_t sched_start = ramp_end + (cfg->rate > 0 ? SCHED_SETTLE : 0);
    uint64_t end = sched_start + (uint64_t)cfg->duration_s * 1000000000ULL;
    for (int k = 0; k < nt; k++) {
        struct thread *th = calloc(1, sizeof *th);
        if (!th)
            die("allocating a thread");
        th->cfg = cfg;
        th->n = (hi - lo - k + nt - 1) / nt;
        th->conns = calloc((size_t)th->n, sizeof *th->conns);
        th->ep = epoll_create1(EPOLL_CLOEXEC);
        if (!th->conns || timers_init(&th->timers, th->n) != 0 || th->ep < 0)
            die("allocating connections");
        for (int i = 0; i < th->n; i++) {
            struct cconn *c = &th->conns[i];
            *c = (struct cconn){.fd = -1, .id = (uint32_t)(lo + k + i * nt),
                                .first_reply_ms = -1};
            if (cfg->rate > 0)
                schedule_init(&c->sched, cfg->rate, cfg->conns, c->id, cfg->arrival,
                              sched_start);
        }
        th->t0 = t0;
        th->end_ns = end;
        th->log_fd = log_fd;
        totals_init(&th->t);
        th->t.open.start_ns = sched_start;
        series_init(&th->series, t0, (uint64_t)cfg->series_ms * 1000000ULL);
        ths[k] = th;
        if (pthread_create(&tids[k], NULL, thread_main, th) != 0)
            die("pthread_create");
    }
    for (int k = 0; k < nt; k++) {
        pthread_join(tids[k], NULL);
        merge(out, &ths[k]->t);
        series_merge(&run_series, &ths[k]->series);
        series_free(&ths[k]->series);
        timers_free(&ths[k]->timers);
        close(ths[k]->ep);
        free(ths[k]->conns);
        free(ths[k]->log_buf);
        free(ths[k]);
    }
    free(ths);
    free(tids);
}

/* ---- several processes -------------------------------------------------------- */

static void read_child(int fd, struct totals *into)
{
    static struct totals t;
    if (read_full(fd, &t, sizeof t) == (ssize_t)sizeof t)
        merge(into, &t);
    else
        fprintf(stderr, "client: a worker process sent no totals\n");
}

static void run_all(const struct config *cfg, int log_fd, struct totals *all)
{
    uint64_t t0 = now_ns() + 20000000ULL;     /* every process starts together */
    if (cfg->procs <= 1) {
        run_share(cfg, 0, cfg->conns, t0, log_fd, all);
        return;
    }
    pid_t *pids = calloc((size_t)cfg->procs, sizeof *pids);
    int *pipes = calloc((size_t)cfg->procs, sizeof *pipes);
    if (!pids || !pipes)
        die("allocating processes");
    for (int p = 0; p < cfg->procs; p++) {
        int lo = (int)((long)cfg->conns * p / cfg->procs);
        int hi = (int)((long)cfg->conns * (p + 1) / cfg->procs);
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            die("pipe");
        fflush(NULL);
        pids[p] = fork();
        if (pids[p] < 0)
            die("fork");
        if (pids[p] == 0) {
            close(fds[0]);
            static struct totals t;
            totals_init(&t);
            run_share(cfg, lo, hi, t0, log_fd, &t);
            _exit(write_all(fds[1], &t, sizeof t) == 0 ? 0 : 1);
        }
        close(fds[1]);
        pipes[p] = fds[0];
    }
    for (int p = 0; p < cfg->procs; p++) {
        read_child(pipes[p], all);
        close(pipes[p]);
        while (waitpid(pids[p], NULL, 0) < 0 && errno == EINTR)
            ;
    }
    free(pids);
    free(pipes);
}

/* ---- options and the summary ------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: client [options]\n"
        "  -a ADDR         server address, IPv4 (default 127.0.0.1)\n"
        "  -p PORT         server port (default %d)\n"
        "  -c C            connections (default 1)\n"
        "  -t T            threads per process, each an epoll loop (default 2)\n"
        "  -n R            requests per connection (default 10; --idle: 0)\n"
        "  -d SECS         instead of -n: each connection makes requests for SECS;\n"
        "                  with --idle: hold the connections SECS (default 2)\n"
        "  -s SIZE         bytes per request, e.g. 64, 16K (default 64)\n"
        "  --think MS      pause between a connection's requests (default 0)\n"
        "  --ramp MS       start the connections evenly over MS (default 0)\n"
        "  --idle          open, make -n requests, then hold until the end\n"
        "  --src N         source addresses 127.0.0.1..N (default: 1 per %d conns)\n"
        "  --procs P       processes (default: as many as the descriptor limit needs)\n"
        "  --timeout MS    fail a connection after MS without progress (default 30000)\n"
        "  --log FILE      one line per connection\n"
        "  --rate R        open loop: R requests/s in total, on a schedule; latency\n"
        "                  counted from each request's scheduled time (and from its send)\n"
        "  --arrival A     open loop spacing: fixed (default) or poisson\n"
        "  --series FILE   per interval: requests/s, p50, p99, max latency (CSV)\n"
        "  --series-ms MS  the interval of --series (default 100)\n"
        "  --csv           machine-readable summary on stdout (header + one row)\n"
        "  --failures-ok   exit 0 even if connections failed (capacity runs: the\n"
        "                  failures are the measurement; they stay in the summary)\n"
        "  -h              this help\n", DEFAULT_PORT, PER_SRC);
}

static void bad_combination(const char *why)
{
    fprintf(stderr, "client: %s\n", why);
    exit(2);
}

static double option_rate(const char *s)
{
    char *end;
    double r = strtod(s, &end);
    if (end == s || *end || !(r > 0 && r <= 1e8))
        bad_combination("--rate wants requests/s, from 0 to 100000000");
    return r;
}

static void parse(struct config *cfg, int argc, char **argv)
{
    enum { THINK = 1000, RAMP, IDLE, SRC, PROCS, TIMEOUT, LOG, CSV, FAILOK, RATE, ARRIVAL,
           SERIES, SERIES_MS };
    static const struct option longopts[] = {
        {"think", required_argument, 0, THINK}, {"ramp", required_argument, 0, RAMP},
        {"idle", no_argument, 0, IDLE},         {"src", required_argument, 0, SRC},
        {"procs", required_argument, 0, PROCS}, {"timeout", required_argument, 0, TIMEOUT},
        {"log", required_argument, 0, LOG},     {"csv", no_argument, 0, CSV},
        {"failures-ok", no_argument, 0, FAILOK}, {"rate", required_argument, 0, RATE},
        {"arrival", required_argument, 0, ARRIVAL}, {"series", required_argument, 0, SERIES},
        {"series-ms", required_argument, 0, SERIES_MS},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    int c, n_set = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "a:p:c:t:n:d:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': cfg->addr = optarg; break;
        case 'p': cfg->port = (int)option_number(optarg, 1, 65535, usage); break;
        case 'c': cfg->conns = (int)option_number(optarg, 1, 10000000, usage); break;
        case 't': cfg->threads = (int)option_number(optarg, 1, 256, usage); break;
        case 'n':
            cfg->requests = (long)option_number(optarg, 0, 1000000000, usage);
            n_set = 1;
            break;
        case 'd': cfg->duration_s = (int)option_number(optarg, 1, 86400, usage); break;
        case 's': cfg->size = (size_t)option_number(optarg, 1, 1LL << 30, usage); break;
        case THINK: cfg->think_ms = (int)option_number(optarg, 0, 3600000, usage); break;
        case RAMP: cfg->ramp_ms = (int)option_number(optarg, 0, 3600000, usage); break;
        case IDLE: cfg->idle = 1; break;
        case SRC: cfg->n_src = (int)option_number(optarg, 1, 254, usage); break;
        case PROCS: cfg->procs = (int)option_number(optarg, 1, 256, usage); break;
        case TIMEOUT: cfg->timeout_ms = (int)option_number(optarg, 1, 3600000, usage); break;
        case LOG: cfg->log_path = optarg; break;
        case CSV: cfg->csv = 1; break;
        case FAILOK: cfg->failures_ok = 1; break;
        case RATE: cfg->rate = option_rate(optarg); break;
        case ARRIVAL:
            if (arrival_parse(optarg, &cfg->arrival) != 0)
                bad_combination("--arrival is fixed or poisson");
            break;
        case SERIES: cfg->series_path = optarg; break;
        case SERIES_MS: cfg->series_ms = (int)option_number(optarg, 1, 60000, usage); break;
        case 'h': usage(stdout); exit(0);
        default:
            fprintf(stderr, "client: unknown or incomplete option: %s\n", argv[optind - 1]);
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "client: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        exit(2);
    }
    if (cfg->rate > 0 && (cfg->idle || cfg->think_ms))
        bad_combination("--rate sets the spacing: not with --idle or --think");
    if (cfg->idle) {
        if (!n_set)
            cfg->requests = 0;
        if (!cfg->duration_s)
            cfg->duration_s = 2;
    } else if (cfg->duration_s && n_set) {
        fprintf(stderr, "client: -n and -d exclude each other (except with --idle)\n");
        exit(2);
    } else if (!cfg->duration_s && cfg->requests < 1) {
        fprintf(stderr, "client: -n must be at least 1\n");
        exit(2);
    }
}

/* Raise the soft descriptor limit to the hard one; return what one process
 * may use for connections. */
static int fds_per_process(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1000;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1000;
    return rl.rlim_cur > FD_RESERVE * 2 ? (int)rl.rlim_cur - FD_RESERVE : FD_RESERVE;
}

static void print_summary(const struct config *cfg, struct totals *all, double wall)
{
    FILE *human = cfg->csv ? stderr : stdout;
    struct run_summary s;
    run_summary_init(&s, "client");
    s.connections = all->completed;
    s.conn_failed = all->failed;
    s.requests = all->requests;
    s.errors = all->failed;                 /* each failed connection: one error */
    s.timeouts = all->timeouts;
    s.bytes_sent = all->sent;
    s.bytes_recv = all->recv;
    s.wall_s = wall;
    s.latency = &all->lat;
    if (all->first_n) {
        s.first_avg_ms = all->first_sum_ms / (double)all->first_n;
        s.first_max_ms = all->first_max_ms;
    }
    if (all->completed) {
        s.sess_avg_s = all->sess_sum_s / (double)all->completed;
        s.sess_max_s = all->sess_max_s;
    }
    struct rusage kids;                     /* worker processes, if any */
    s.cpu_s = process_cpu_seconds();
    if (getrusage(RUSAGE_CHILDREN, &kids) == 0)
        s.cpu_s += (double)kids.ru_utime.tv_sec + (double)kids.ru_utime.tv_usec / 1e6 +
                   (double)kids.ru_stime.tv_sec + (double)kids.ru_stime.tv_usec / 1e6;
    fprintf(human, "client: %d connections, %d thread(s) x %d process(es), "
                   "%d source address(es)%s\n", cfg->conns, cfg->threads, cfg->procs,
            cfg->n_src ? cfg->n_src : 1, cfg->idle ? ", idle mode" : "");
    struct openloop_report rep = {.o = cfg->rate > 0 ? &all->open : NULL, .rate = cfg->rate,
        .arrival = cfg->arrival, .requests = all->requests, .cpu_s = s.cpu_s, .wall_s = wall,
        .threads = (cfg->threads < cfg->conns ? cfg->threads : cfg->conns) * cfg->procs};
    if (rep.o)
        s.latency = NULL;                   /* two labelled lines instead, below */
    if (cfg->idle)
        fprintf(human, "client: held %ld of %d connections to the end (%ld closed by "
                       "the server)\n", all->completed, cfg->conns, all->closed_by_server);
    if (all->first_error[0])
        fprintf(human, "client: first failure: %s\n", all->first_error);
    run_summary_print(&s, human);
    s.latency = &all->lat;
    if (rep.o)
        openloop_print(&rep, &all->lat, human);
    if (cfg->csv)
        openloop_csv(&s, &rep, stdout);
}

int main(int argc, char **argv)
{
    struct config cfg = {.addr = "127.0.0.1", .port = DEFAULT_PORT, .conns = 1,
                         .threads = 2, .requests = 10, .size = 64, .timeout_ms = 30000,
                         .series_ms = 100};
    parse(&cfg, argc, argv);
    struct sigaction sa = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &sa, NULL);      /* a reset peer: EPIPE, not death */
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int per_proc = fds_per_process();
    if (!cfg.procs)
        cfg.procs = (cfg.conns + per_proc - 1) / per_proc;
    if (!cfg.n_src && cfg.conns > PER_SRC)
        cfg.n_src = (cfg.conns + PER_SRC - 1) / PER_SRC;
    if (cfg.series_path && cfg.procs > 1)
        bad_combination("--series works in one process (fewer connections, or --procs 1)");
    int log_fd = -1;
    if (cfg.log_path) {
        log_fd = open(cfg.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0)
            die(cfg.log_path);
    }
    static struct totals all;
    totals_init(&all);
    series_init(&run_series, 0, (uint64_t)cfg.series_ms * 1000000ULL);
    double t0 = now_sec();
    run_all(&cfg, log_fd, &all);
    print_summary(&cfg, &all, now_sec() - t0);
    int bad_series = cfg.series_path && series_write(&run_series, cfg.series_path) != 0;
    if (bad_series)
        fprintf(stderr, "client: writing %s: %s\n", cfg.series_path, strerror(errno));
    if (log_fd >= 0)
        close(log_fd);
    return (all.failed && !cfg.failures_ok) || bad_series ? 1 : 0;
}
