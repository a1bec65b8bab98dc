/* step.c - the step and the registry the readiness servers share (step.h). */
#include "step.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

void conns_init(struct conns *cs, const struct server_opts *o, atomic_int *shared_live)
{
    cs->o = o;
    cs->live = shared_live ? shared_live : &cs->own_live;
}

int conns_start(struct conns *cs, const struct server_opts *o)
{
    install_signal_handlers();
    conns_init(cs, o, NULL);
    int fd = listen_socket(o, 0);
    if (set_nonblocking(fd) != 0)
        die("making the listening socket non-blocking");
    return fd;
}

enum conn_want conn_step(struct conns *cs, struct conn *c, int readable, int writable)
{
    uint64_t moved = c->st.bytes_in + c->st.bytes_out;
    enum conn_io r = IO_AGAIN;
    if (c->owed && writable)                                  /* OWING */
        r = conn_flush(c);
    else if (!c->owed && readable)                            /* READING */
        r = conn_read_echo(c, cs->scratch, sizeof cs->scratch);
    if (r == IO_FAILED)
        return c->want = WANT_CLOSE;
    if (c->st.bytes_in + c->st.bytes_out != moved)   /* activity: not idle */
        registry_touch(&cs->reg, c, now_sec());
    if (c->peer_closed && !c->owed) {                         /* CLOSING, all sent */
        c->why = "eof";
        return c->want = WANT_CLOSE;
    }
    return c->want = c->owed ? WANT_WRITE : WANT_READ;
}

int accept_counted(int listen_fd, atomic_int *live, int max_conns,
                   unsigned long *refused, struct sockaddr_storage *peer)
{
    if (atomic_fetch_add(live, 1) >= max_conns) {
        atomic_fetch_sub(live, 1);
        refuse_client(listen_fd);
        (*refused)++;
        return -1;      /* level-triggered: the next one comes next turn */
    }
    int fd = accept_client(listen_fd, peer, 1);
    if (fd < 0)
        atomic_fetch_sub(live, 1);   /* EAGAIN: the queue is empty */
    return fd;
}

struct conn *conns_adopt(struct conns *cs, int fd, const struct sockaddr_storage *peer)
{
    struct conn *c = conn_new(fd, peer);
    if (!c) {
        close(fd);
        atomic_fetch_sub(cs->live, 1);
        cs->n.refused++;
        return NULL;
    }
    cs->n.accepted++;
    registry_touch(&cs->reg, c, now_sec());
    return c;
}

struct conn *conns_accept(struct conns *cs, int listen_fd)
{
    struct sockaddr_storage peer;
    int fd = accept_counted(listen_fd, cs->live, cs->o->max_conns, &cs->n.refused, &peer);
    return fd < 0 ? NULL : conns_adopt(cs, fd, &peer);
}

void conns_close(struct conns *cs, struct conn *c)
{
    registry_remove(&cs->reg, c);
    cs->n.bytes += c->st.bytes_out;
    conn_close(cs->o, c, c->why ? c->why : "error");
    atomic_fetch_sub(cs->live, 1);
}

struct conn *conns_idle(struct conns *cs, double now)
{
    struct conn *c = registry_expired(&cs->reg, now, cs->o->idle_timeout);
    if (c) {
        c->why = "idle";
        cs->n.idle_closed++;
    }
    return c;
}

struct conn *conns_oldest(struct conns *cs)
{
    struct conn *c = cs->reg.oldest;
    if (c)
        c->why = "shutdown";
    return c;
}

int conns_wait_ms(const struct conns *cs)
{
    return registry_wait_ms(&cs->reg, now_sec(), cs->o->idle_timeout, WAIT_CAP_MS);
}

void counts_add(struct conn_counts *into, const struct conn_counts *n)
{
    into->accepted += n->accepted;
    into->refused += n->refused;
    into->idle_closed += n->idle_closed;
    into->bytes += n->bytes;
}

void print_stopped(const char *name, const struct conn_counts *n, const char *extra)
{
    printf("%s: stopped: connections=%lu refused=%lu idle_closed=%lu bytes=%llu%s\n",
           name, n->accepted, n->refused, n->idle_closed, n->bytes, extra);
    fflush(stdout);
}
