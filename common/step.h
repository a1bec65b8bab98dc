/*
 * step.h - one step of a connection, and the connections one event loop
 * serves: what select, poll, epoll and epoll with workers share (part 3).
 *
 * The readiness servers differ in how they learn that a descriptor is
 * ready and in how they say what to wait for next. What they do with a
 * ready connection is the same, so it is written once, here:
 *
 *   conn_step()     one step of the state machine (docs/part3.md):
 *                   READING echoes what came in; OWING flushes and reads
 *                   nothing (backpressure); CLOSING, after EOF, flushes
 *                   and closes. It returns what the connection waits for
 *                   next: WANT_READ, WANT_WRITE or WANT_CLOSE. Each server
 *                   turns that answer into its own call: which fd_set,
 *                   pfd.events, or an epoll_ctl MOD.
 *   conns_accept()  one new client into the registry, or turned away at
 *                   --max-conns (accepted and closed: it sees EOF at once
 *                   instead of hanging in the listen queue).
 *   conns_idle()    the next connection silent for --idle-timeout.
 *
 * Edge-triggered epoll (server_epoll -e) takes its own steps: reading
 * until EAGAIN, within a budget, is its lesson.
 */
#ifndef STEP_H
#define STEP_H

#include "conn.h"

#include <stdatomic.h>

#define WAIT_CAP_MS        500   /* the longest wait: a stop is seen quickly */
#define ACCEPTS_PER_WAKEUP 64    /* new clients do not starve the old ones   */

/* What a server counts, for its stop line. */
struct conn_counts {
    unsigned long accepted, refused, idle_closed;
    unsigned long long bytes;    /* echoed by the connections closed so far */
};

struct conns {
    const struct server_opts *o;
    struct registry reg;         /* every live connection, oldest activity first */
    atomic_int *live;            /* counted against --max-conns               */
    atomic_int own_live;         /* ...here, unless several loops share one   */
    struct conn_counts n;
    char scratch[CONN_CHUNK];    /* one read, echoed at once: nothing stays   */
};

/* `shared_live`: one count for several loops (epoll workers), or NULL. */
void conns_init(struct conns *cs, const struct server_opts *o, atomic_int *shared_live);
/* A one-loop server's start: the signal handlers, conns_init(), and the
 * listening socket it returns, non-blocking. */
int conns_start(struct conns *cs, const struct server_opts *o);

/* One step of a connection its server found ready: if it owes echo and
 * is `writable`, flush; if it owes nothing and is `readable` (an error or
 * hang-up counts as readable: the read reports it), read once and echo.
 * Returns what it waits for next, also kept in c->want; at WANT_CLOSE,
 * c->why says why and the server closes it (conns_close()). */
enum conn_want conn_step(struct conns *cs, struct conn *c, int readable, int writable);

/* Accept one client from a non-blocking listening socket and count it in
 * *live; at `max_conns` turn it away instead (counted in *refused).
 * Returns the descriptor, or -1 when there is nothing more this turn. */
int accept_counted(int listen_fd, atomic_int *live, int max_conns,
                   unsigned long *refused, struct sockaddr_storage *peer);
/* A client accepted and counted joins the registry. NULL: out of memory
 * (it is closed, uncounted and counted as refused). */
struct conn *conns_adopt(struct conns *cs, int fd, const struct sockaddr_storage *peer);
/* accept_counted() then conns_adopt(): the new connection, or NULL when
 * there is nothing more to accept this turn. */
struct conn *conns_accept(struct conns *cs, int listen_fd);

/* Out of the registry, logged (-v) with c->why, closed and uncounted.
 * The server first takes it out of its own mechanism. */
void conns_close(struct conns *cs, struct conn *c);
/* The next connection silent for --idle-timeout (counted; c->why is
 * "idle"), or NULL. The caller closes it. */
struct conn *conns_idle(struct conns *cs, double now);
/* At a stop: the oldest connection (c->why is "shutdown"), or NULL when
 * none is left. The caller closes it. */
struct conn *conns_oldest(struct conns *cs);
/* How long the loop may sleep: until the oldest is due, at most WAIT_CAP_MS. */
int conns_wait_ms(const struct conns *cs);

void counts_add(struct conn_counts *into, const struct conn_counts *n);
/* "NAME: stopped: connections=A refused=R idle_closed=I bytes=B" and
 * `extra` (" key=value ...", or ""), flushed. */
void print_stopped(const char *name, const struct conn_counts *n, const char *extra);

#endif
