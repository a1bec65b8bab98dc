/*
 * part3-multiplexing/server_poll.c - one thread, many clients, poll().
 *
 * Lesson 3. Instead of a thread or a process blocked on each client, one
 * loop asks the kernel "which of these descriptors can I use now?" and
 * serves only those. Every socket is non-blocking, so no call can stall
 * the loop; every connection is a small state machine that remembers
 * where it was (common/step.c, conn_step()):
 *
 *   READING   waiting for bytes (POLLIN); echo them at once
 *   OWING     the client's receive buffer was full, part of the echo is
 *             kept in c->owed: wait for POLLOUT, and do NOT read more
 *             (backpressure: a client that does not read is not read)
 *   CLOSING   the client sent EOF: finish what we owe, then close
 *
 * poll() takes an array of {fd, events} and fills in revents. The array
 * holds a slot per client (a closed slot is filled by the last one), and
 * the kernel scans all of it on every call: the cost of a wakeup grows
 * with the number of clients, busy or not. epoll (server_epoll.c) removes
 * that cost. `diff server_poll.c server_epoll.c` shows what changes.
 */
#include "common.h"
#include "step.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#define FIRST_SLOTS 64         /* the array grows with the clients, not the cap */

struct server {
    struct conns conns;        /* the registry, the counters, the cap       */
    int listen_fd;
    struct pollfd *pfd;        /* pfd[0] is the listening socket             */
    struct conn **conn;        /* conn[i] is the connection behind pfd[i]   */
    int n, cap;                /* slots used (including the listener), size */
};

/* What a connection waits for, in poll's words. */
static short events_for(enum conn_want want)
{
    return want == WANT_WRITE ? POLLOUT : POLLIN;
}

/* Double the arrays when they are full: they grow with the clients served
 * at once (at most --max-conns + 1 slots), never with the descriptor limit. */
static int make_room(struct server *s)
{
    if (s->n < s->cap)
        return 0;
    size_t cap = 2 * (size_t)s->cap;
    struct pollfd *pfd = realloc(s->pfd, cap * sizeof *pfd);
    if (pfd)
        s->pfd = pfd;
    struct conn **conn = realloc(s->conn, cap * sizeof *conn);
    if (conn)
        s->conn = conn;
    if (!pfd || !conn)
        return -1;
    s->cap = (int)cap;
    return 0;
}

/* Slot i's connection is done: move the last slot into its place. */
static void drop_client(struct server *s, int i)
{
    conns_close(&s->conns, s->conn[i]);
    s->n--;
    if (i != s->n) {
        s->pfd[i] = s->pfd[s->n];
        s->conn[i] = s->conn[s->n];
        s->conn[i]->slot = i;
    }
}

static void accept_clients(struct server *s)
{
    struct conn *c;
    for (int k = 0; k < ACCEPTS_PER_WAKEUP; k++) {
        if (make_room(s) != 0 || !(c = conns_accept(&s->conns, s->listen_fd)))
            return;    /* nothing more this turn (at the cap: one turned away) */
        c->slot = s->n++;
        s->pfd[c->slot] = (struct pollfd){.fd = c->fd, .events = POLLIN};
        s->conn[c->slot] = c;
    }
}

static void serve_ready(struct server *s, int ready)
{
    /* Walk backwards: drop_client() moves the last slot into a freed one,
     * and the last slot has then already been visited. */
    for (int i = s->n - 1; i >= 1 && ready > 0; i--) {
        short rev = s->pfd[i].revents;
        if (!rev)
            continue;
        ready--;
        enum conn_want next = conn_step(&s->conns, s->conn[i],
                                        rev & (POLLIN | POLLHUP | POLLERR),
                                        rev & (POLLOUT | POLLHUP | POLLERR));
        if (next == WANT_CLOSE)
            drop_client(s, i);
        else
            s->pfd[i].events = events_for(next);
    }
}

static void close_idle(struct server *s)
{
    struct conn *c;
    while ((c = conns_idle(&s->conns, now_sec())) != NULL)
        drop_client(s, c->slot);
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "poll"};
    server_opts_parse(&o, argc, argv);

    static struct server s;
    s.listen_fd = conns_start(&s.conns, &o);
    s.cap = FIRST_SLOTS;
    s.pfd = calloc((size_t)s.cap, sizeof *s.pfd);
    s.conn = calloc((size_t)s.cap, sizeof *s.conn);
    if (!s.pfd || !s.conn)
        die("allocating the poll array");
    s.pfd[0] = (struct pollfd){.fd = s.listen_fd, .events = POLLIN};
    s.n = 1;
    print_banner(o.name, s.listen_fd);

    while (!stop_requested) {
        int ready = poll(s.pfd, (nfds_t)s.n, conns_wait_ms(&s.conns));
        if (ready < 0) {
            if (errno != EINTR)
                die("poll");    /* EFAULT/EINVAL: a bug, not a client */
            continue;
        }
        if (s.pfd[0].revents & POLLIN) {
            ready--;
            accept_clients(&s);
        }
        serve_ready(&s, ready);
        close_idle(&s);
    }

    struct conn *c;
    while ((c = conns_oldest(&s.conns)) != NULL)
        drop_client(&s, c->slot);
    close(s.listen_fd);
    print_stopped(o.name, &s.conns.n, "");
    free(s.pfd);
    free(s.conn);
    return 0;
}
