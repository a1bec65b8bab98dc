/*
 * part3-multiplexing/server_epoll_workers.c - epoll loops on every core.
 *
 * Lesson 3, continued. One epoll loop (server_epoll.c) uses one core. To
 * use them all, run N loops, one per worker thread, each with its own
 * epoll set and its own connections: a connection lives its whole life in
 * one worker, so workers share nothing and take no locks on the hot path.
 *
 * Who accepts? Two designs, compared in the tables:
 *
 *   default: the main thread accepts, and hands each new connection to
 *     the next worker in turn (round robin). The hand-off is a pipe per
 *     worker: the acceptor writes the descriptor number (and the peer's
 *     address, for the log) into it, and the worker's epoll set watches
 *     the pipe's read end like any client. Each log line names its worker
 *     ("epoll-workers/w1: closed ...").
 *   --reuseport: every worker has its own listening socket on the same
 *     port (SO_REUSEPORT); the kernel spreads incoming connections over
 *     them by a hash of the addresses, and nobody hands anything off.
 *
 * Each worker serves its connections level-triggered, one step per
 * wakeup (common/step.c, conn_step()), as server_epoll.c does.
 */
#include "common.h"
#include "step.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
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
/* Set by the main thread when it has seen SIGTERM: the workers read this,
 * not stop_requested, which belongs to the signal handler and main thread. */
static atomic_int stopping;
static char handoff_tag, listener_tag;

struct worker {
    int ep;
    int handoff[2];            /* pipe: [0] read by the worker, [1] by the acceptor */
    int listen_fd;             /* --reuseport: this worker's own; else -1 */
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

static void accept_own(struct worker *w)          /* --reuseport */
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

static void start_worker(struct worker *w, int id, struct server_opts *o, int reuse_port_fd)
{
    w->opts = *o;
    snprintf(w->name, sizeof w->name, "%s/w%d", o->name, id);
    w->opts.name = w->name;
    conns_init(&w->conns, &w->opts, &live);
    w->listen_fd = reuse_port_fd;
    struct epoll_event from_pipe = {.events = EPOLLIN, .data.ptr = &handoff_tag};
    struct epoll_event from_listener = {.events = EPOLLIN, .data.ptr = &listener_tag};
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0 || pipe2(w->handoff, O_CLOEXEC | O_NONBLOCK) != 0 ||
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->handoff[0], &from_pipe) != 0 ||
        (reuse_port_fd >= 0 && (set_nonblocking(reuse_port_fd) != 0 ||
         epoll_ctl(w->ep, EPOLL_CTL_ADD, reuse_port_fd, &from_listener) != 0)))
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
                            .accepts = OPT_WORKERS | OPT_REUSEPORT};
    server_opts_parse(&o, argc, argv);
    if (o.reuseport)
        o.name = "epoll-reuseport";
    install_signal_handlers();

    /* Signals go to the main thread only: the workers block them. The main
     * thread then sets `stopping` and wakes each worker by closing the
     * writing end of its pipe (the reading end then reports EOF). */
    sigset_t stop_set, old;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);

    int listen_fd = listen_socket(&o, o.reuseport);
    if (set_nonblocking(listen_fd) != 0)
        die("making the listening socket non-blocking");
    struct worker *ws = calloc((size_t)o.workers, sizeof *ws);
    if (!ws)
        die("allocating workers");
    struct server_opts same_port = o;     /* --reuseport: every worker binds */
    struct sockaddr_storage ss;           /* the port the first one got,    */
    socklen_t len = sizeof ss;            /* IPv4 or IPv6 alike             */
    char port[8];
    if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, NULL, 0, port, sizeof port, NI_NUMERICSERV))
        die("getsockname");
    same_port.port = atoi(port);
    pthread_sigmask(SIG_BLOCK, &stop_set, &old);
    for (int i = 0; i < o.workers; i++)   /* --reuseport: a listening socket each */
        start_worker(&ws[i], i, &o, !o.reuseport ? -1 :
                                    i == 0 ? listen_fd : listen_socket(&same_port, 1));
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    print_banner(o.name, listen_fd);

    struct conn_counts total = {0};
    while (!stop_requested) {
        if (o.reuseport)       /* the workers accept; we only wait for a stop */
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
        close(w->handoff[0]);
        close(w->ep);
        if (w->listen_fd >= 0 && w->listen_fd != listen_fd)
            close(w->listen_fd);
    }
    close(listen_fd);
    free(ws);
    char extra[32];
    snprintf(extra, sizeof extra, " workers=%d", o.workers);
    print_stopped(o.name, &total, extra);
    return 0;
}
