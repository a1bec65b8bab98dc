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
 * Each worker serves its connections level-triggered, one read and one
 * write per wakeup, with the state machine of server_epoll.c:
 * READING -> (short send) OWING -> READING ...; EOF -> CLOSING.
 */
#include "common.h"
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define WAIT_CAP_MS        500
#define MAX_EVENTS         256
#define ACCEPTS_PER_WAKEUP 64
#define DEFAULT_WORKERS    2

static atomic_int live;        /* connections open in all workers: the cap */
/* Set by the main thread when it has seen SIGTERM: the workers read this,
 * not stop_requested, which belongs to the signal handler and main thread. */
static atomic_int stopping;
static char handoff_tag, listener_tag;

struct worker {
    int id, ep;
    int handoff[2];            /* pipe: [0] read by the worker, [1] by the acceptor */
    int listen_fd;             /* --reuseport: this worker's own; else -1 */
    pthread_t thread;
    const struct server_opts *o;   /* &opts: its log lines say "name/wN" */
    struct server_opts opts;
    char name[48];
    struct idle_list idle;
    unsigned long accepted, refused, idle_closed;
    unsigned long long bytes;
    char scratch[CONN_CHUNK];
};

static void drop_client(struct worker *w, struct conn *c, const char *why)
{
    idle_unlink(&w->idle, c);
    w->bytes += c->st.bytes_out;
    conn_close(w->o, c, why);
    atomic_fetch_sub(&live, 1);
}

/* A new connection (already counted in `live`) joins this worker. */
static void adopt(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
    struct conn *c = conn_new(fd, peer);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (!c || epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(c);
        close(fd);
        atomic_fetch_sub(&live, 1);
        w->refused++;
        return;
    }
    w->accepted++;
    idle_touch(&w->idle, c, now_sec());
}

/* What the acceptor writes into a worker's pipe: small enough (< PIPE_BUF)
 * that each write is atomic, so records never interleave. */
struct handoff {
    int fd;                    /* -1: "wake up, we are stopping" */
    struct sockaddr_storage peer;
};

/* Take the connections the acceptor wrote into our pipe. */
static void take_handoffs(struct worker *w)
{
    struct handoff h[16];
    ssize_t n = read(w->handoff[0], h, sizeof h);
    for (ssize_t i = 0; i < n / (ssize_t)sizeof h[0]; i++)
        if (h[i].fd >= 0)
            adopt(w, h[i].fd, &h[i].peer);
}

/* Accept into `live` or turn the client away at the cap. Returns the fd,
 * or -1 when there is nothing (more) to accept. */
static int accept_counted(int listen_fd, int max_conns, unsigned long *refused,
                          struct sockaddr_storage *peer)
{
    if (atomic_fetch_add(&live, 1) >= max_conns) {
        atomic_fetch_sub(&live, 1);
        refuse_client(listen_fd);
        (*refused)++;
        return -2;             /* the next one, if any, on the next wakeup */
    }
    int fd = accept_client(listen_fd, peer, 1);
    if (fd < 0)
        atomic_fetch_sub(&live, 1);
    return fd;
}

static void accept_own(struct worker *w)          /* --reuseport */
{
    for (int k = 0; k < ACCEPTS_PER_WAKEUP; k++) {
        struct sockaddr_storage peer;
        int fd = accept_counted(w->listen_fd, w->o->max_conns, &w->refused, &peer);
        if (fd < 0)
            return;        /* none left, or one refused at the cap */
        adopt(w, fd, &peer);
    }
}

static int want(struct worker *w, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    return epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* One step of a connection's state machine; why to close it, or NULL. */
static const char *serve(struct worker *w, struct conn *c, uint32_t ev, double now)
{
    if (c->owed) {                                   /* OWING */
        enum conn_io r = conn_flush(c);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_OWES)
            return NULL;
        idle_touch(&w->idle, c, now);
        if (!c->peer_closed && want(w, c, EPOLLIN) != 0)
            return "epoll_ctl";
    } else if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {  /* READING */
        enum conn_io r = conn_read_echo(c, w->scratch, sizeof w->scratch);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_DONE || r == IO_OWES)
            idle_touch(&w->idle, c, now);
        if (r == IO_OWES && want(w, c, EPOLLOUT) != 0)
            return "epoll_ctl";
    }
    if (c->peer_closed && !c->owed)                  /* CLOSING */
        return "eof";
    return NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event events[MAX_EVENTS];
    while (!atomic_load(&stopping)) {
        int wait_ms = idle_wait_ms(&w->idle, now_sec(), w->o->idle_timeout, WAIT_CAP_MS);
        int n = epoll_wait(w->ep, events, MAX_EVENTS, wait_ms);
        if (n < 0 && errno != EINTR) {
            log_ratelimited(&(double){0}, "%s: worker %d: epoll_wait failed",
                            w->o->name, w->id);
            break;
        }
        double now = now_sec();
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p == &handoff_tag) {
                take_handoffs(w);
            } else if (p == &listener_tag) {
                accept_own(w);
            } else {
                const char *why = serve(w, p, events[i].events, now);
                if (why)
                    drop_client(w, p, why);
            }
        }
        struct conn *c;
        while ((c = idle_expired(&w->idle, now_sec(), w->o->idle_timeout)) != NULL) {
            w->idle_closed++;
            drop_client(w, c, "idle");
        }
    }
    while (w->idle.oldest)
        drop_client(w, w->idle.oldest, "shutdown");
    return NULL;
}

static void watch(int ep, int fd, void *tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        die("epoll_ctl ADD");
}

static void start_worker(struct worker *w, int id, struct server_opts *o, int reuse_port_fd)
{
    w->id = id;
    w->opts = *o;
    snprintf(w->name, sizeof w->name, "%s/w%d", o->name, id);
    w->opts.name = w->name;
    w->o = &w->opts;
    w->listen_fd = reuse_port_fd;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0 || pipe2(w->handoff, O_CLOEXEC | O_NONBLOCK) != 0)
        die("creating a worker's epoll set and pipe");
    watch(w->ep, w->handoff[0], &handoff_tag);
    if (reuse_port_fd >= 0)
        watch(w->ep, reuse_port_fd, &listener_tag);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        die("pthread_create");
}

/* The acceptor (default design): accept, then pass the descriptor on. */
static void accept_and_hand_off(int listen_fd, struct worker *ws, int nw,
                                const struct server_opts *o, unsigned long *refused)
{
    static int next;
    for (int k = 0; k < ACCEPTS_PER_WAKEUP; k++) {
        struct sockaddr_storage peer;
        int fd = accept_counted(listen_fd, o->max_conns, refused, &peer);
        if (fd < 0)
            return;        /* none left, or one refused at the cap */
        struct worker *w = &ws[next];
        next = (next + 1) % nw;
        /* The pipe holds hundreds of hand-offs; if it is ever full, the
         * worker is far behind, and we refuse rather than wait. */
        struct handoff h = {.fd = fd, .peer = peer};
        if (write(w->handoff[1], &h, sizeof h) != (ssize_t)sizeof h) {
            close(fd);
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
     * thread then sets `stopping` and wakes each worker through its pipe. */
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
    struct server_opts same_port = o;
    if (o.reuseport) {         /* every worker binds the port the first got */
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) != 0)
            die("getsockname");
        same_port.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    pthread_sigmask(SIG_BLOCK, &stop_set, &old);
    for (int i = 0; i < o.workers; i++) {
        int own = -1;
        if (o.reuseport) {
            own = i == 0 ? listen_fd : listen_socket(&same_port, 1);
            if (set_nonblocking(own) != 0)
                die("making a listening socket non-blocking");
        }
        start_worker(&ws[i], i, &o, own);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    print_banner(o.name, listen_fd);

    unsigned long refused = 0;
    while (!stop_requested) {
        if (o.reuseport) {     /* the workers accept; we only wait for a stop */
            sleep_ms(200);
            continue;
        }
        if (wait_fd(listen_fd, POLLIN, WAIT_CAP_MS) > 0)
            accept_and_hand_off(listen_fd, ws, o.workers, &o, &refused);
    }

    atomic_store(&stopping, 1);
    for (int i = 0; i < o.workers; i++) {   /* wake them now, not in 500 ms */
        struct handoff wake = {.fd = -1};
        ssize_t unused = write(ws[i].handoff[1], &wake, sizeof wake);
        (void)unused;      /* a full pipe wakes the worker anyway */
    }
    unsigned long accepted = 0, idle_closed = 0;
    unsigned long long bytes = 0;
    for (int i = 0; i < o.workers; i++) {
        pthread_join(ws[i].thread, NULL);
        accepted += ws[i].accepted;
        refused += ws[i].refused;
        idle_closed += ws[i].idle_closed;
        bytes += ws[i].bytes;
        take_handoffs(&ws[i]);             /* descriptors still in the pipe */
        while (ws[i].idle.oldest)
            drop_client(&ws[i], ws[i].idle.oldest, "shutdown");
        close(ws[i].handoff[0]);
        close(ws[i].handoff[1]);
        close(ws[i].ep);
        if (ws[i].listen_fd >= 0 && ws[i].listen_fd != listen_fd)
            close(ws[i].listen_fd);
    }
    close(listen_fd);
    free(ws);
    printf("%s: stopped: workers=%d connections=%lu refused=%lu idle_closed=%lu "
           "bytes=%llu\n", o.name, o.workers, accepted, refused, idle_closed, bytes);
    return 0;
}
