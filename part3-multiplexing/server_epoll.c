/*
 * part3-multiplexing/server_epoll.c - one thread, many clients, epoll.
 *
 * Lesson 3, continued. poll() hands the kernel the whole list of clients
 * on every call and scans it; epoll keeps the list inside the kernel
 * (epoll_ctl adds, changes, removes one descriptor) and epoll_wait()
 * returns only the ready ones. A wakeup costs in proportion to the busy
 * clients, not to all of them.
 *
 * The per-connection state machine is the one of server_poll.c:
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
 *     a connection that used it up and still has input goes on a
 *     `ready` list that is served on the next turn of the loop (which then
 *     does not sleep). The interest set is registered once and never
 *     changed: EPOLLIN | EPOLLOUT | EPOLLET.
 */
#include "common.h"
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define WAIT_CAP_MS        500   /* the longest epoll_wait: a stop is seen quickly */
#define MAX_EVENTS         256
#define ACCEPTS_PER_WAKEUP 64
#define READ_BUDGET        16    /* -e: reads per connection per wakeup */

/* The listening socket's epoll_data; a connection's is its struct conn. */
static char listener_tag;

struct server {
    const struct server_opts *o;
    int ep, listen_fd, live;
    struct idle_list idle;
    struct conn **ready;       /* -e: connections with input left over  */
    int n_ready;
    unsigned long accepted, refused, idle_closed;
    unsigned long long bytes;
    char scratch[CONN_CHUNK];
};

static void drop_client(struct server *s, struct conn *c, const char *why)
{
    /* close() removes it from the epoll set; no epoll_ctl DEL needed as
     * long as no other descriptor refers to the same socket. */
    idle_unlink(&s->idle, c);
    s->bytes += c->st.bytes_out;
    if (c->in_list) {          /* -e: take it off the ready list */
        for (int i = 0; i < s->n_ready; i++)
            if (s->ready[i] == c)
                s->ready[i] = s->ready[--s->n_ready];
    }
    conn_close(s->o, c, why);
    s->live--;
}

static void add_client(struct server *s, int fd, const struct sockaddr_storage *peer)
{
    struct conn *c = conn_new(fd, peer);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (s->o->edge)
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    if (!c || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(c);
        close(fd);
        s->refused++;
        return;
    }
    s->live++;
    s->accepted++;
    idle_touch(&s->idle, c, now_sec());
}

static void accept_clients(struct server *s)
{
    for (int k = 0; k < ACCEPTS_PER_WAKEUP; k++) {
        if (s->live >= s->o->max_conns) {
            refuse_client(s->listen_fd);
            s->refused++;
            return;     /* level-triggered: the next one comes next turn */
        }
        struct sockaddr_storage peer;
        int fd = accept_client(s->listen_fd, &peer, 1);
        if (fd < 0)
            return;
        add_client(s, fd, &peer);
    }
}

/* Level-triggered: tell epoll what we wait for next (only when it changes). */
static int want(struct server *s, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    return epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Level-triggered: one step per wakeup. Returns why to close, or NULL. */
static const char *serve_level(struct server *s, struct conn *c, uint32_t ev, double now)
{
    if (c->owed) {                                   /* OWING */
        enum conn_io r = conn_flush(c);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_OWES)
            return NULL;
        idle_touch(&s->idle, c, now);
        if (!c->peer_closed && want(s, c, EPOLLIN) != 0)
            return "epoll_ctl";
    } else if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {  /* READING */
        enum conn_io r = conn_read_echo(c, s->scratch, sizeof s->scratch);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_DONE || r == IO_OWES)
            idle_touch(&s->idle, c, now);
        if (r == IO_OWES && want(s, c, EPOLLOUT) != 0)   /* stop reading it */
            return "epoll_ctl";
    }
    if (c->peer_closed && !c->owed)                  /* CLOSING, all sent */
        return "eof";
    return NULL;
}

/* Edge-triggered: flush, then read until EAGAIN or the budget is spent. */
static const char *serve_edge(struct server *s, struct conn *c, double now)
{
    for (int budget = READ_BUDGET; budget > 0; budget--) {
        enum conn_io r = conn_flush(c);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_OWES)
            return NULL;       /* the EPOLLOUT edge will bring us back */
        if (c->peer_closed)
            return "eof";
        r = conn_read_echo(c, s->scratch, sizeof s->scratch);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_AGAIN)
            return NULL;       /* drained: the next EPOLLIN edge will come */
        if (r != IO_EOF)
            idle_touch(&s->idle, c, now);
    }
    if (!c->in_list) {         /* budget spent: come back next turn */
        c->in_list = 1;
        s->ready[s->n_ready++] = c;
    }
    return NULL;
}

static void serve_conn(struct server *s, struct conn *c, uint32_t ev, double now)
{
    const char *why = s->o->edge ? serve_edge(s, c, now) : serve_level(s, c, ev, now);
    if (why)
        drop_client(s, c, why);
}

/* -e: give the connections that spent their budget another turn. */
static void serve_leftovers(struct server *s, double now)
{
    int n = s->n_ready;
    struct conn *batch[MAX_EVENTS];
    if (n > MAX_EVENTS)
        n = MAX_EVENTS;
    for (int i = 0; i < n; i++) {
        batch[i] = s->ready[s->n_ready - 1 - i];
        batch[i]->in_list = 0;
    }
    s->n_ready -= n;
    for (int i = 0; i < n; i++)
        serve_conn(s, batch[i], 0, now);
}

static void close_idle(struct server *s, double now)
{
    struct conn *c;
    while ((c = idle_expired(&s->idle, now, s->o->idle_timeout)) != NULL) {
        s->idle_closed++;
        drop_client(s, c, "idle");
    }
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "epoll", .accepts = OPT_EDGE};
    server_opts_parse(&o, argc, argv);
    if (o.edge)
        o.name = "epoll-et";
    install_signal_handlers();

    static struct server s;
    s.o = &o;
    s.listen_fd = listen_socket(&o, 0);
    if (set_nonblocking(s.listen_fd) != 0)
        die("making the listening socket non-blocking");
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (s.ep < 0)
        die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.listen_fd, &lev) != 0)
        die("epoll_ctl ADD listener");
    s.ready = calloc((size_t)o.max_conns, sizeof *s.ready);
    if (!s.ready)
        die("allocating the ready list");
    print_banner(o.name, s.listen_fd);

    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        int wait_ms = s.n_ready ? 0 :
            idle_wait_ms(&s.idle, now_sec(), o.idle_timeout, WAIT_CAP_MS);
        int n = epoll_wait(s.ep, events, MAX_EVENTS, wait_ms);
        if (n < 0) {
            if (errno != EINTR)
                die("epoll_wait");
            continue;
        }
        double now = now_sec();
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == &listener_tag) {
                accept_clients(&s);
                continue;
            }
            struct conn *c = events[i].data.ptr;
            if (c->in_list)
                continue;      /* already served this turn, from the list */
            serve_conn(&s, c, events[i].events, now);
        }
        /* After the events, never before: a connection closed here could
         * still be named in events[]. */
        serve_leftovers(&s, now);
        close_idle(&s, now_sec());
    }

    while (s.idle.oldest)      /* every live connection is on the idle list */
        drop_client(&s, s.idle.oldest, "shutdown");
    close(s.ep);
    close(s.listen_fd);
    printf("%s: stopped: connections=%lu refused=%lu idle_closed=%lu bytes=%llu\n",
           o.name, s.accepted, s.refused, s.idle_closed, s.bytes);
    return 0;
}
