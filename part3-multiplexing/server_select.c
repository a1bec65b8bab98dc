/*
 * part3-multiplexing/server_select.c - one thread, many clients, select().
 *
 * Lesson 3 begins here, with the oldest way to wait on many descriptors.
 * select() takes bit sets (fd_set) of the descriptors to watch for reading
 * and for writing, sleeps until one is ready, and returns the sets with
 * only the ready bits left. Each connection is a small state machine
 * (common/step.c, conn_step()):
 *
 *   READING   waiting for bytes; echo them at once
 *   OWING     the client's receive buffer was full: the rest of the echo
 *             waits in c->owed, we watch for writability and do NOT read
 *             more (backpressure)
 *   CLOSING   the client sent EOF: finish what we owe, then close
 *
 * The wall: an fd_set is a fixed array of FD_SETSIZE (1024) bits, and
 * FD_SET(fd) with fd >= FD_SETSIZE writes past its end - memory
 * corruption, not an error. So a connection whose descriptor number is at
 * or above FD_SETSIZE is refused: logged and closed, never put in a set.
 * The server keeps serving the others. poll() and epoll have no such wall.
 */
#include "common.h"
#include "step.h"

#include <errno.h>
#include <sys/select.h>
#include <unistd.h>

struct server {
    struct conns conns;               /* the registry, the counters, the cap */
    int listen_fd;
    struct conn *by_fd[FD_SETSIZE];   /* the descriptor number is the index */
    unsigned long over_wall;
    double last_wall_log;
};

static void drop_client(struct server *s, struct conn *c)
{
    s->by_fd[c->fd] = NULL;
    conns_close(&s->conns, c);
}

/* A new connection: found by its descriptor number, or refused at the wall. */
static void add_client(struct server *s, struct conn *c)
{
    if (c->fd < FD_SETSIZE) {
        s->by_fd[c->fd] = c;
        return;
    }
    log_ratelimited(&s->last_wall_log,        /* the wall: never FD_SET() it */
                    "%s: descriptor %d is at or above FD_SETSIZE (%d): "
                    "connection refused", s->conns.o->name, c->fd, FD_SETSIZE);
    s->over_wall++;
    c->why = "over FD_SETSIZE";
    conns_close(&s->conns, c);
}

static void accept_clients(struct server *s)
{
    struct conn *c;            /* NULL: no more this turn (or one turned away) */
    for (int k = 0; k < ACCEPTS_PER_WAKEUP && (c = conns_accept(&s->conns, s->listen_fd)); k++)
        add_client(s, c);
}

/* The sets are rebuilt before every select(): it overwrites them. */
static int build_sets(struct server *s, fd_set *rd, fd_set *wr)
{
    FD_ZERO(rd);
    FD_ZERO(wr);
    FD_SET(s->listen_fd, rd);
    int max_fd = s->listen_fd;
    for (struct conn *c = s->conns.reg.oldest; c; c = c->newer) {
        FD_SET(c->fd, c->want == WANT_WRITE ? wr : rd);
        if (c->fd > max_fd)
            max_fd = c->fd;
    }
    return max_fd;
}

static void serve_ready(struct server *s, int max_fd, fd_set *rd, fd_set *wr)
{
    /* Scan every descriptor number up to the highest: select's other cost. */
    for (int fd = 0; fd <= max_fd; fd++) {
        struct conn *c = s->by_fd[fd];
        int r = FD_ISSET(fd, rd), w = FD_ISSET(fd, wr);
        if (c && (r || w) && conn_step(&s->conns, c, r, w) == WANT_CLOSE)
            drop_client(s, c);
    }
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "select"};
    server_opts_parse(&o, argc, argv);

    static struct server s;
    s.listen_fd = conns_start(&s.conns, &o);
    if (s.listen_fd >= FD_SETSIZE)
        die("the listening socket is above FD_SETSIZE");
    print_banner(o.name, s.listen_fd);

    while (!stop_requested) {
        fd_set rd, wr;
        int max_fd = build_sets(&s, &rd, &wr);
        int wait_ms = conns_wait_ms(&s.conns);
        struct timeval tv = {.tv_sec = wait_ms / 1000, .tv_usec = (wait_ms % 1000) * 1000};
        if (select(max_fd + 1, &rd, &wr, NULL, &tv) < 0) {
            if (errno != EINTR)
                die("select");
            continue;
        }
        if (FD_ISSET(s.listen_fd, &rd))
            accept_clients(&s);
        serve_ready(&s, max_fd, &rd, &wr);
        struct conn *c;
        while ((c = conns_idle(&s.conns, now_sec())) != NULL)
            drop_client(&s, c);
    }

    struct conn *c;
    while ((c = conns_oldest(&s.conns)) != NULL)
        drop_client(&s, c);
    close(s.listen_fd);
    char extra[48];
    snprintf(extra, sizeof extra, " over_fd_setsize=%lu", s.over_wall);
    print_stopped(o.name, &s.conns.n, extra);
    return 0;
}
