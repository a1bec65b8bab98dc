/*
 * part3-multiplexing/server_select.c - one thread, many clients, select().
 *
 * Lesson 3 begins here, with the oldest way to wait on many descriptors.
 * select() takes bit sets (fd_set) of the descriptors to watch for reading
 * and for writing, sleeps until one is ready, and returns the sets with
 * only the ready bits left. Each connection is a small state machine:
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
#include "conn.h"

#include <errno.h>
#include <sys/select.h>
#include <unistd.h>

#define WAIT_CAP_MS        500
#define ACCEPTS_PER_WAKEUP 64

struct server {
    const struct server_opts *o;
    int listen_fd, live, max_fd;
    struct conn *by_fd[FD_SETSIZE];   /* the descriptor number is the index */
    struct idle_list idle;
    unsigned long accepted, refused, over_wall, idle_closed;
    unsigned long long bytes;
    double last_wall_log;
    char scratch[CONN_CHUNK];
};

static void drop_client(struct server *s, struct conn *c, const char *why)
{
    idle_unlink(&s->idle, c);
    s->by_fd[c->fd] = NULL;
    s->bytes += c->st.bytes_out;
    conn_close(s->o, c, why);
    s->live--;
}

static void add_client(struct server *s, int fd, const struct sockaddr_storage *peer)
{
    if (fd >= FD_SETSIZE) {            /* the wall: never FD_SET() it */
        log_ratelimited(&s->last_wall_log,
                        "%s: descriptor %d is at or above FD_SETSIZE (%d): "
                        "connection refused", s->o->name, fd, FD_SETSIZE);
        close(fd);
        s->over_wall++;
        return;
    }
    struct conn *c = conn_new(fd, peer);
    if (!c) {
        close(fd);
        s->refused++;
        return;
    }
    s->by_fd[fd] = c;
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

/* The sets are rebuilt before every select(): it overwrites them. */
static int build_sets(struct server *s, fd_set *rd, fd_set *wr)
{
    FD_ZERO(rd);
    FD_ZERO(wr);
    FD_SET(s->listen_fd, rd);
    int max_fd = s->listen_fd;
    for (struct conn *c = s->idle.oldest; c; c = c->newer) {
        FD_SET(c->fd, c->owed ? wr : rd);
        if (c->fd > max_fd)
            max_fd = c->fd;
    }
    return max_fd;
}

static const char *serve(struct server *s, struct conn *c, int readable,
                         int writable, double now)
{
    if (c->owed) {                                   /* OWING */
        if (!writable)
            return NULL;
        enum conn_io r = conn_flush(c);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_OWES)
            return NULL;
        idle_touch(&s->idle, c, now);
    } else if (readable) {                           /* READING */
        enum conn_io r = conn_read_echo(c, s->scratch, sizeof s->scratch);
        if (r == IO_FAILED)
            return c->why;
        if (r == IO_DONE || r == IO_OWES)
            idle_touch(&s->idle, c, now);
    }
    if (c->peer_closed && !c->owed)                  /* CLOSING, all sent */
        return "eof";
    return NULL;
}

static void serve_ready(struct server *s, int max_fd, fd_set *rd, fd_set *wr)
{
    double now = now_sec();
    /* Scan every descriptor number up to the highest: select's other cost. */
    for (int fd = 0; fd <= max_fd; fd++) {
        struct conn *c = s->by_fd[fd];
        if (!c)
            continue;
        int r = FD_ISSET(fd, rd), w = FD_ISSET(fd, wr);
        if (!r && !w)
            continue;
        const char *why = serve(s, c, r, w, now);
        if (why)
            drop_client(s, c, why);
    }
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
    struct server_opts o = {.name = "select"};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();

    static struct server s;
    s.o = &o;
    s.listen_fd = listen_socket(&o, 0);
    if (s.listen_fd >= FD_SETSIZE)
        die("the listening socket is above FD_SETSIZE");
    if (set_nonblocking(s.listen_fd) != 0)
        die("making the listening socket non-blocking");
    print_banner(o.name, s.listen_fd);

    while (!stop_requested) {
        fd_set rd, wr;
        int max_fd = build_sets(&s, &rd, &wr);
        int wait_ms = idle_wait_ms(&s.idle, now_sec(), o.idle_timeout, WAIT_CAP_MS);
        struct timeval tv = {.tv_sec = wait_ms / 1000, .tv_usec = (wait_ms % 1000) * 1000};
        int n = select(max_fd + 1, &rd, &wr, NULL, &tv);
        if (n < 0) {
            if (errno != EINTR)
                die("select");
            continue;
        }
        if (FD_ISSET(s.listen_fd, &rd))
            accept_clients(&s);
        serve_ready(&s, max_fd, &rd, &wr);
        close_idle(&s, now_sec());
    }

    while (s.idle.oldest)
        drop_client(&s, s.idle.oldest, "shutdown");
    close(s.listen_fd);
    printf("%s: stopped: connections=%lu refused=%lu over_fd_setsize=%lu "
           "idle_closed=%lu bytes=%llu\n", o.name, s.accepted, s.refused,
           s.over_wall, s.idle_closed, s.bytes);
    return 0;
}
