/*
 * conn.h - what an event-driven server keeps for each connection (part 3).
 *
 * The state machine that decides what to wait for next stays in each
 * server file: that is the lesson. This is the bookkeeping under it:
 *
 *   - conn_read_echo(): one recv() into the caller's scratch buffer and
 *     one send() of what came in. Bytes the kernel would not take at once
 *     are kept in the connection's `owed` buffer (at most one read's
 *     worth: CONN_CHUNK), and the server must not read from that client
 *     again until conn_flush() has sent them all. That rule is the
 *     backpressure: a client that does not read its echo stops being
 *     read from; nothing is dropped and nothing grows without bound.
 *   - the idle list: connections ordered by their last activity, oldest
 *     first, so expiring idle ones looks only at the few that are due,
 *     never at all of them.
 */
#ifndef CONN_H
#define CONN_H

#include "common.h"

#define CONN_CHUNK 16384       /* one read; also the most a client may be owed */

struct conn {
    int fd;
    int peer_closed;           /* EOF read: send what is owed, then close */
    char *owed;                /* echo the kernel has not taken yet, or NULL */
    size_t owed_len, owed_off;
    const char *why;           /* why it failed, for the log line */
    double last_active;        /* now_sec() of the last byte in or out */
    struct conn *older, *newer;   /* the idle list */
    struct conn_stats st;
    int slot;                  /* the server's own index (poll: pollfd slot) */
    int in_list;               /* the server's own flag (epoll -e: ready list) */
};

/* Results of one step of I/O. */
enum conn_io {
    IO_DONE,       /* read and echoed in full (or: everything owed is sent) */
    IO_OWES,       /* some echo is still owed: wait until writable          */
    IO_AGAIN,      /* nothing to read right now                             */
    IO_EOF,        /* the client finished sending                           */
    IO_FAILED,     /* reset or error: close it (c->why says which)          */
};

struct conn *conn_new(int fd, const struct sockaddr_storage *peer);
/* Log (with -v), close the descriptor, free everything. */
void conn_close(const struct server_opts *o, struct conn *c, const char *why);

/* Precondition: nothing owed. One recv() of at most `cap` bytes into
 * `scratch`, then one send() of them; the unsent rest goes to `owed`. */
enum conn_io conn_read_echo(struct conn *c, char *scratch, size_t cap);
/* Send what is owed: IO_DONE when all of it is gone, IO_OWES, IO_FAILED. */
enum conn_io conn_flush(struct conn *c);

struct idle_list {
    struct conn *oldest, *newest;
};

/* Mark activity now: c becomes the newest. */
void idle_touch(struct idle_list *l, struct conn *c, double now);
void idle_unlink(struct idle_list *l, struct conn *c);
/* The oldest connection silent for at least `timeout` seconds, or NULL. */
struct conn *idle_expired(const struct idle_list *l, double now, int timeout);
/* Milliseconds until the oldest connection expires (capped at `cap_ms`). */
int idle_wait_ms(const struct idle_list *l, double now, int timeout, int cap_ms);

#endif
