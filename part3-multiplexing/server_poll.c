/*
 * part3-multiplexing/server_poll.c - one thread, many clients, poll().
 *
 * Lesson 3. Instead of a thread or a process blocked on each client, one
 * loop asks the kernel "which of these descriptors can I use now?" and
 * serves only those. Every socket is non-blocking, so no call can stall
 * the loop; every connection is a small state machine that remembers
 * where it was:
 *
 *   READING   waiting for bytes (POLLIN); echo them at once
 *   OWING     the client's receive buffer was full, part of the echo is
 *             kept in c->owed: wait for POLLOUT, and do NOT read more
 *             (backpressure: a client that does not read is not read)
 *   CLOSING   the client sent EOF: finish what we owe, then close
 *
 * poll() takes an array of {fd, events} and fills in revents. The array
 * is rebuilt as clients come and go (a slot per client; a closed slot is
 * filled by the last one), and the kernel scans all of it on every call:
 * the cost of a wakeup grows with the number of clients, busy or not.
 * epoll (server_epoll.c) removes that cost.
 */
#include "common.h"
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#define WAIT_CAP_MS     500    /* the longest poll(): a stop is seen quickly */
#define ACCEPTS_PER_WAKEUP 64  /* new clients do not starve the old ones     */

struct server {
    const struct server_opts *o;
    struct pollfd *pfd;        /* pfd[0] is the listening socket             */
    struct conn **conn;        /* conn[i] is the connection behind pfd[i]   */
    int n, cap;                /* slots used (including the listener), size */
    struct idle_list idle;
    unsigned long accepted, refused, idle_closed;
    unsigned long long bytes;
    char scratch[CONN_CHUNK];
};

static short wanted_events(const struct conn *c)
{
    return c->owed ? POLLOUT : POLLIN;
}

static void add_client(struct server *s, int fd, const struct sockaddr_storage *peer)
{
    struct conn *c = conn_new(fd, peer);
    if (!c) {
        close(fd);
        s->refused++;
        return;
    }
    c->slot = s->n++;
    s->pfd[c->slot] = (struct pollfd){.fd = fd, .events = POLLIN};
    s->conn[c->slot] = c;
    idle_touch(&s->idle, c, now_sec());
    s->accepted++;
}

/* Slot i's connection is done: move the last slot into its place. */
static void drop_client(struct server *s, int i, const char *why)
{
    struct conn *c = s->conn[i];
    idle_unlink(&s->idle, c);
    s->bytes += c->st.bytes_out;
    conn_close(s->o, c, why);
    s->n--;
    if (i != s->n) {
        s->pfd[i] = s->pfd[s->n];
        s->conn[i] = s->conn[s->n];
        s->conn[i]->slot = i;
    }
}

static void accept_clients(struct server *s, int listen_fd)
{
    for (int k = 0; k < ACCEPTS_PER_WAKEUP; k++) {
        if (s->n - 1 >= s->o->max_conns) {
            refuse_client(listen_fd);      /* at the cap: accept and close */
            s->refused++;
            return;     /* level-triggered: the next one comes next turn */
        }
        struct sockaddr_storage peer;
        int fd = accept_client(listen_fd, &peer, 1);
        if (fd < 0)
            return;     /* EAGAIN: the queue is empty (or a client was shed) */
        add_client(s, fd, &peer);
    }
}

/* One ready connection: one step of its state machine. Returns the reason
 * to close it, or NULL to keep it. */
static const char *serve(struct server *s, struct conn *c, short revents, double now)
{
    if (c->owed) {                              /* OWING: finish the echo */
        enum conn_io r = conn_flush(c);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_DONE)
            idle_touch(&s->idle, c, now);
        if (r == IO_OWES)
            return NULL;                        /* still owing: no reading */
    } else if (revents & (POLLIN | POLLHUP | POLLERR)) {   /* READING */
        switch (conn_read_echo(c, s->scratch, sizeof s->scratch)) {
        case IO_FAILED: return c->why;
        case IO_AGAIN:  return NULL;
        case IO_EOF:    break;
        case IO_DONE:
        case IO_OWES:   idle_touch(&s->idle, c, now); break;
        }
    }
    if (c->peer_closed && !c->owed)             /* CLOSING, all sent */
        return "eof";
    return NULL;
}

static void close_idle(struct server *s, double now)
{
    struct conn *c;
    while ((c = idle_expired(&s->idle, now, s->o->idle_timeout)) != NULL) {
        s->idle_closed++;
        drop_client(s, c->slot, "idle");
    }
}

static void serve_ready(struct server *s, int ready)
{
    double now = now_sec();
    /* Walk backwards: drop_client() moves the last slot into a freed one,
     * and the last slot has then already been visited. */
    for (int i = s->n - 1; i >= 1 && ready > 0; i--) {
        short rev = s->pfd[i].revents;
        if (!rev)
            continue;
        ready--;
        const char *why = serve(s, s->conn[i], rev, now);
        if (why)
            drop_client(s, i, why);
        else
            s->pfd[i].events = wanted_events(s->conn[i]);
    }
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "poll"};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();
    int listen_fd = listen_socket(&o, 0);
    if (set_nonblocking(listen_fd) != 0)
        die("making the listening socket non-blocking");

    static struct server s;
    s.o = &o;
    s.cap = o.max_conns + 1;
    s.pfd = calloc((size_t)s.cap, sizeof *s.pfd);
    s.conn = calloc((size_t)s.cap, sizeof *s.conn);
    if (!s.pfd || !s.conn)
        die("allocating the poll array");
    s.pfd[0] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    s.n = 1;
    print_banner(o.name, listen_fd);

    while (!stop_requested) {
        int wait_ms = idle_wait_ms(&s.idle, now_sec(), o.idle_timeout, WAIT_CAP_MS);
        int ready = poll(s.pfd, (nfds_t)s.n, wait_ms);
        if (ready < 0) {
            if (errno != EINTR)
                die("poll");    /* EFAULT/EINVAL: a bug, not a client */
            continue;
        }
        if (s.pfd[0].revents & POLLIN) {
            ready--;
            accept_clients(&s, listen_fd);
        }
        serve_ready(&s, ready);
        close_idle(&s, now_sec());
    }

    while (s.n > 1)
        drop_client(&s, s.n - 1, "shutdown");
    close(listen_fd);
    printf("%s: stopped: connections=%lu refused=%lu idle_closed=%lu bytes=%llu\n",
           o.name, s.accepted, s.refused, s.idle_closed, s.bytes);
    return 0;
}
