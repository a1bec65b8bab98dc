/*
 * part3-multiplexing/server_epoll_workers.c - epoll loops on every core.
 *
 * Lesson 3, continued. One epoll loop (server_epoll.c) uses one core. To
 * use them all, run N loops, one per worker thread, each with its own
 * epoll set and its own connections: a connection lives its whole life in
 * one worker, so workers share nothing and take no locks on the hot path.
 *
 * Who accepts, and how does the kernel pick? Three designs, compared in
 * the tables (docs/part3.md):
 *
 *   default (hand-off): the main thread accepts, and hands each new
 *     connection to the next worker in turn (round robin) through a pipe
 *     per worker: the descriptor number (and the peer's address, for the
 *     log) goes in, and the worker's epoll set watches the pipe's read end
 *     like any client.
 *   --reuseport: every worker has its own listening socket on the same
 *     port (SO_REUSEPORT); the kernel picks one by a hash of the addresses,
 *     busy or not, and nobody hands anything off.
 *   --exclusive: one listening socket, in every worker's epoll set with
 *     EPOLLEXCLUSIVE. Without it a new connection wakes every worker that
 *     waits (the thundering herd) and all but one find nothing to accept;
 *     with it the kernel wakes one waiting worker: a busy one, not in
 *     epoll_wait, is seldom picked.
 *
 * The stop line counts each worker's connections: accepts=A/B/...
 * Each worker serves its connections level-triggered, one step per
 * wakeup (common/step.c, conn_step()), as server_epoll.c does.
 */
#include "common.h"
#include "spread.h"
#include "step.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS         256
#define DEFAULT_WORKERS    2
#define READABLE (EPOLLIN | EPOLLHUP | EPOLLERR)   /* an error shows in a read */
#define WRITABLE (EPOLLOUT | EPOLLHUP | EPOLLERR)

static atomic_int live;        /* connections open in all workers: the cap */
/* Set by the main thread at SIGTERM: the workers read this, not stop_requested. */
static atomic_int stopping;
static char handoff_tag, listener_tag;

struct worker {
    int ep;
    int handoff[2];            /* pipe: [0] read by the worker, [1] by the acceptor */
    int listen_fd;             /* --reuseport: its own; --exclusive: the shared one */
    pthread_t thread;
    struct server_opts opts;   /* its log lines say "name/wN" */
    char name[48];
    struct conns conns;        /* its registry and counters; `live` is shared */
};

/* What the acceptor writes into a worker's pipe: small enough (< PIPE_BUF)
 * that each write is atomic, so records never interleave. */
struct handoff {
    int fd;
    struct sockaddr_storage peer;
};

/* Tell the worker's epoll set what c waits for: ADD a new one, or MOD. */
static int watch(struct worker *w, int op, struct conn *c)
{
    struct epoll_event ev = {.events = c->want == WANT_WRITE ? EPOLLOUT : EPOLLIN,
                             .data.ptr = c};
    if (epoll_ctl(w->ep, op, c->fd, &ev) == 0)
        return 0;
    c->why = "epoll_ctl";
    return -1;
}

/* A new connection, already counted in `live`, joins this worker. */
static void adopt(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
    struct conn *c = conns_adopt(&w->conns, fd, peer);
    if (c && watch(w, EPOLL_CTL_ADD, c) != 0)
        conns_close(&w->conns, c);
}

/* Adopt what the acceptor wrote into our pipe, at most 16 records a call.
 * Returns how many it read: 0 once the pipe is empty. */
static int take_handoffs(struct worker *w)
{
    struct handoff h[16];
    ssize_t n = read(w->handoff[0], h, sizeof h);
    int records = n > 0 ? (int)(n / (ssize_t)sizeof h[0]) : 0;
    for (int i = 0; i < records; i++)
        adopt(w, h[i].fd, &h[i].peer);
    return records;
}

static void accept_own(struct worker *w)   /* --reuseport, --exclusive */
{
    struct sockaddr_storage peer;
    int fd, k = 0;         /* until none is left, or one is refused at the cap */
    while (k++ < ACCEPTS_PER_WAKEUP && (fd = accept_counted(w->listen_fd, &live,
                                      w->opts.max_conns, &w->conns.n.refused, &peer)) >= 0)
        adopt(w, fd, &peer);
}

/* One step of a ready connection; epoll_ctl MOD only when its wish changes. */
static void serve(struct worker *w, struct conn *c, uint32_t ev)
{
    enum conn_want was = c->want;
    if (conn_step(&w->conns, c, ev & READABLE, ev & WRITABLE) == WANT_CLOSE ||
        (c->want != was && watch(w, EPOLL_CTL_MOD, c) != 0))
        conns_close(&w->conns, c);
}

/* Close every connection, those still in the pipe included (a bounded
 * drain: it runs when the acceptor has stopped writing). */
static void close_all(struct worker *w)
{
    while (take_handoffs(w) > 0)
        continue;
    struct conn *c;
    while ((c = conns_oldest(&w->conns)) != NULL)
        conns_close(&w->conns, c);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event events[MAX_EVENTS];
    while (!atomic_load(&stopping)) {
        int n = epoll_wait(w->ep, events, MAX_EVENTS, conns_wait_ms(&w->conns));
        if (n < 0 && errno != EINTR)   /* EBADF, EFAULT, EINVAL: a bug, not */
            die("epoll_wait");         /* a client; no worker quits alone   */
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p == &handoff_tag)
                take_handoffs(w);
            else if (p == &listener_tag)
                accept_own(w);
            else
                serve(w, p, events[i].events);
        }
        struct conn *c;
        while ((c = conns_idle(&w->conns, now_sec())) != NULL)
            conns_close(&w->conns, c);
    }
    close_all(w);
    return NULL;
}

/* listen_fd: the worker's to accept from (-1: hand-off); `exclusive`
 * adds it with EPOLLEXCLUSIVE. */
static void start_worker(struct worker *w, int id, struct server_opts *o,
                         int listen_fd, int exclusive)
{
    w->opts = *o;
    snprintf(w->name, sizeof w->name, "%s/w%d", o->name, id);
    w->opts.name = w->name;
    conns_init(&w->conns, &w->opts, &live);
    w->listen_fd = listen_fd;
    struct epoll_event from_pipe = {.events = EPOLLIN, .data.ptr = &handoff_tag};
    struct epoll_event from_listener = {.events = EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0),
                                        .data.ptr = &listener_tag};
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0 || pipe2(w->handoff, O_CLOEXEC | O_NONBLOCK) != 0 ||
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->handoff[0], &from_pipe) != 0 ||
        (listen_fd >= 0 && (set_nonblocking(listen_fd) != 0 ||
         epoll_ctl(w->ep, EPOLL_CTL_ADD, listen_fd, &from_listener) != 0)))
        die("setting up a worker: its epoll set, pipe and listening socket");
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        die("pthread_create");
}

/* The acceptor (default design): accept, then pass the descriptor on. */
static void accept_and_hand_off(int listen_fd, struct worker *ws, int nw,
                                const struct server_opts *o, unsigned long *refused)
{
    static int next;
    for (int k = 0; k < ACCEPTS_PER_WAKEUP; k++) {
        struct handoff h = {.fd = -1};
        h.fd = accept_counted(listen_fd, &live, o->max_conns, refused, &h.peer);
        if (h.fd < 0)
            return;        /* none left, or one refused at the cap */
        /* The pipe holds hundreds of hand-offs; if it is ever full, the
         * worker is far behind, and we refuse rather than wait. */
        struct worker *w = &ws[next];
        next = (next + 1) % nw;
        if (write(w->handoff[1], &h, sizeof h) != (ssize_t)sizeof h) {
            close(h.fd);
            atomic_fetch_sub(&live, 1);
            (*refused)++;
        }
    }
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "epoll-workers", .workers = DEFAULT_WORKERS,
                            .accepts = OPT_WORKERS | OPT_REUSEPORT, .help_extra =
        "  --exclusive        one listening socket, in every worker's epoll set\n"
        "                     with EPOLLEXCLUSIVE (default: the main thread accepts)\n"};
    int exclusive = take_flag(&argc, argv, "--exclusive", NULL);
    server_opts_parse(&o, argc, argv);
    if (o.reuseport && exclusive) {
        fprintf(stderr, "%s: --reuseport or --exclusive, not both\n", o.name);
        return 2;
    }
    o.name = o.reuseport ? "epoll-reuseport" : exclusive ? "epoll-exclusive" : o.name;
    int workers_accept = o.reuseport || exclusive;
    install_signal_handlers();

    /* Signals go to the main thread only: the workers block them. The main
     * thread then sets `stopping` and wakes each worker by closing the
     * writing end of its pipe (the reading end then reports EOF). */
    int listen_fd = listen_socket(&o, o.reuseport);
    if (set_nonblocking(listen_fd) != 0)
        die("making the listening socket non-blocking");
    struct worker *ws = calloc((size_t)o.workers, sizeof *ws);
    unsigned long *accepts = calloc((size_t)o.workers, sizeof *accepts);
    if (!ws || !accepts)
        die("allocating workers");
    struct server_opts port = same_port(&o, listen_fd);   /* --reuseport binds it */
    block_stop_signals(SIG_BLOCK);
    for (int i = 0; i < o.workers; i++)
        start_worker(&ws[i], i, &o, !workers_accept ? -1 : i == 0 || exclusive ? listen_fd
                                    : listen_socket(&port, 1), exclusive);
    block_stop_signals(SIG_UNBLOCK);
    print_banner(o.name, listen_fd);

    struct conn_counts total = {0};
    while (!stop_requested) {
        if (workers_accept)    /* the workers accept; we only wait for a stop */
            sleep_ms(200);
        else if (wait_fd(listen_fd, POLLIN, WAIT_CAP_MS) > 0)
            accept_and_hand_off(listen_fd, ws, o.workers, &o, &total.refused);
    }

    atomic_store(&stopping, 1);
    for (int i = 0; i < o.workers; i++)     /* wake them now, not in 500 ms */
        close(ws[i].handoff[1]);
    for (int i = 0; i < o.workers; i++) {
        struct worker *w = &ws[i];
        pthread_join(w->thread, NULL);
        counts_add(&total, &w->conns.n);
        accepts[i] = w->conns.n.accepted;
        close(w->handoff[0]);
        close(w->ep);
        if (w->listen_fd >= 0 && w->listen_fd != listen_fd)
            close(w->listen_fd);
    }
    close(listen_fd);
    static char extra[80 + 24 * 1024];    /* " workers=N accepts=A/B/..." */
    snprintf(extra, sizeof extra, " workers=%d", o.workers);
    append_spread(extra, sizeof extra, accepts, o.workers);
    free(accepts);
    free(ws);
    print_stopped(o.name, &total, extra);
    return 0;
}
