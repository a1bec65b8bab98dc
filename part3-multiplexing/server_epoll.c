/*
 * part3-multiplexing/server_epoll.c - one thread, many clients, epoll.
 *
 * Lesson 3, continued. poll() hands the kernel the whole list of clients
 * on every call and scans it; epoll keeps the list inside the kernel
 * (epoll_ctl adds, changes, removes one descriptor) and epoll_wait()
 * returns only the ready ones. A wakeup costs in proportion to the busy
 * clients, not to all of them. `diff server_poll.c server_epoll.c` shows
 * what changes: the array of pollfds is gone, and so is its upkeep.
 *
 * The per-connection state machine is the one of server_poll.c
 * (common/step.c, conn_step()):
 * READING -> (short send) OWING -> READING ...; EOF -> CLOSING.
 *
 * Two ways to be told:
 *   level-triggered (default): epoll_wait reports a descriptor as long as
 *     it is ready. We read once per wakeup; what is left is reported again.
 *     We ask for EPOLLOUT only while we owe bytes (epoll_ctl MOD), or a
 *     writable socket would wake us forever.
 *   edge-triggered (-e): it reports a descriptor when it BECOMES ready,
 *     once. We must read until EAGAIN, or bytes already there are never
 *     reported again. But reading one fast client "until EAGAIN" could
 *     starve every other client, so each wakeup gets a budget of reads;
 *     a connection that used it up and still has input joins the back of
 *     a `ready` queue, served after the next batch of events (the loop
 *     then does not sleep). First in, first out: with more such
 *     connections than one turn serves, the oldest still come first. The
 *     interest set is registered once and never changed:
 *     EPOLLIN | EPOLLOUT | EPOLLET.
 *
 * One process holds at most its descriptor limit of clients. --procs P
 * goes beyond it: P processes, each this same loop on its own listening
 * socket of one port (SO_REUSEPORT: the kernel spreads the connections),
 * each under its own limit, raised to the hard one. Their parent, which
 * only forks them, forwards the stop, reaps them (killing any that does
 * not stop within 3 s) and sums their counts, is run_processes() in
 * procs.c; a child also stops if its parent is killed outright.
 */
#include "common.h"
#include "procs.h"
#include "spread.h"
#include "step.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS     256     /* events per epoll_wait; leftovers per turn */
#define READ_BUDGET    16      /* -e: reads per connection per wakeup       */

/* The listening socket's epoll_data; a connection's is its struct conn. */
static char listener_tag;

struct server {
    struct conns conns;        /* the registry, the counters, the cap       */
    int listen_fd;
    int ep;                    /* the epoll instance: the list is in there  */
    struct conn_queue ready;   /* -e: input left over, oldest first         */
};

/* What a connection waits for, in epoll's words. */
static uint32_t events_for(const struct server *s, enum conn_want want)
{
    if (s->conns.o->edge)      /* registered once, never changed */
        return EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    return want == WANT_WRITE ? EPOLLOUT : EPOLLIN;
}

/* Tell the kernel's interest list: EPOLL_CTL_ADD a new one, or MOD. */
static int watch(struct server *s, int op, struct conn *c)
{
    struct epoll_event ev = {.events = events_for(s, c->want), .data.ptr = c};
    return epoll_ctl(s->ep, op, c->fd, &ev);
}

/* close() takes it out of the epoll set: no EPOLL_CTL_DEL is needed as
 * long as no other descriptor refers to the same socket. */
static void drop_client(struct server *s, struct conn *c)
{
    queue_remove(&s->ready, c);
    conns_close(&s->conns, c);
}

static void accept_clients(struct server *s)
{
    struct conn *c;            /* NULL: no more this turn (or one turned away) */
    for (int k = 0; k < ACCEPTS_PER_WAKEUP && (c = conns_accept(&s->conns, s->listen_fd)); k++) {
        if (watch(s, EPOLL_CTL_ADD, c) != 0) {
            c->why = "epoll_ctl";
            drop_client(s, c);
        }
    }
}

/* Level-triggered: one step per wakeup, and a MOD only when it changes. */
static void serve_level(struct server *s, struct conn *c, uint32_t ev)
{
    enum conn_want was = c->want;
    enum conn_want next = conn_step(&s->conns, c, ev & (EPOLLIN | EPOLLHUP | EPOLLERR),
                                    ev & (EPOLLOUT | EPOLLHUP | EPOLLERR));
    if (next != WANT_CLOSE && next != was && watch(s, EPOLL_CTL_MOD, c) != 0) {
        c->why = "epoll_ctl";
        next = WANT_CLOSE;
    }
    if (next == WANT_CLOSE)
        drop_client(s, c);
}

/* Edge-triggered: flush, then read until EAGAIN or the budget is spent.
 * Returns why to close it, or NULL. */
static const char *serve_edge(struct server *s, struct conn *c)
{
    for (int budget = READ_BUDGET; budget > 0; budget--) {
        enum conn_io r = conn_flush(c);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_OWES)
            return NULL;       /* the EPOLLOUT edge will bring us back */
        if (c->peer_closed)
            return "eof";
        r = conn_read_echo(c, s->conns.scratch, sizeof s->conns.scratch);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_AGAIN)
            return NULL;       /* drained: the next EPOLLIN edge will come */
        if (r != IO_EOF)
            registry_touch(&s->conns.reg, c, now_sec());
    }
    queue_push(&s->ready, c);  /* budget spent: to the back of the queue */
    return NULL;
}

static void drop_if(struct server *s, struct conn *c, const char *why)
{
    if (why) {
        c->why = why;
        drop_client(s, c);
    }
}

static void serve_ready(struct server *s, struct epoll_event *events, int n)
{
    for (int i = 0; i < n; i++) {
        struct conn *c = events[i].data.ptr;
        if (events[i].data.ptr == &listener_tag)
            accept_clients(s);
        else if (!s->conns.o->edge)
            serve_level(s, c, events[i].events);
        else if (!c->in_list)  /* queued: it is served in its turn below */
            drop_if(s, c, serve_edge(s, c));
    }
}

/* -e: another turn for those that spent their budget, oldest first. At
 * most MAX_EVENTS, so new events are not kept waiting; the ones still
 * busy go to the back, behind the ones not served yet. */
static void serve_leftovers(struct server *s)
{
    for (int k = s->ready.len < MAX_EVENTS ? s->ready.len : MAX_EVENTS; k > 0; k--) {
        struct conn *c = queue_pop(&s->ready);
        drop_if(s, c, serve_edge(s, c));
    }
}

static void close_idle(struct server *s)
{
    struct conn *c;
    while ((c = conns_idle(&s->conns, now_sec())) != NULL)
        drop_client(s, c);
}

/* Serve on listen_fd (non-blocking) until a stop; returns the counts. */
static struct conn_counts serve_until_stopped(const struct server_opts *o, int listen_fd)
{
    static struct server s;
    conns_init(&s.conns, o, NULL);
    s.listen_fd = listen_fd;
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (s.ep < 0)
        die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.listen_fd, &lev) != 0)
        die("epoll_ctl ADD listener");

    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        int wait_ms = s.ready.len ? 0 : conns_wait_ms(&s.conns);
        int n = epoll_wait(s.ep, events, MAX_EVENTS, wait_ms);
        if (n < 0) {
            if (errno != EINTR)
                die("epoll_wait");
            continue;
        }
        serve_ready(&s, events, n);
        /* After the events, never before: a connection closed here could
         * still be named in events[]. */
        serve_leftovers(&s);
        close_idle(&s);
    }

    struct conn *c;
    while ((c = conns_oldest(&s.conns)) != NULL)
        drop_client(&s, c);
    close(s.ep);
    close(s.listen_fd);
    return s.conns.n;
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "epoll", .accepts = OPT_EDGE, .help_extra =
        "  --procs P          P processes on one port (SO_REUSEPORT), each with its\n"
        "                     own descriptor limit, raised to the hard limit\n"};
    const char *procs_arg = NULL;
    if (take_flag(&argc, argv, "--procs", &procs_arg))
        raise_descriptor_limit();        /* first: --max-conns defaults to it */
    server_opts_parse(&o, argc, argv);
    int procs = procs_arg ? atoi(procs_arg) : 1;
    if (procs < 1 || procs > 1024) {
        fprintf(stderr, "%s: --procs takes 1 to 1024, not %s\n", o.name, procs_arg);
        return 2;
    }
    if (o.edge)
        o.name = "epoll-et";
    install_signal_handlers();
    if (procs > 1)                       /* this loop in P processes: procs.c */
        return run_processes(&o, procs, serve_until_stopped);

    int listen_fd = listen_socket(&o, 0);
    if (set_nonblocking(listen_fd) != 0)
        die("making the listening socket non-blocking");
    print_banner(o.name, listen_fd);
    struct conn_counts n = serve_until_stopped(&o, listen_fd);
    print_stopped(o.name, &n, "");
    return 0;
}
