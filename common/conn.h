/*
 * conn.h - what an event-driven server keeps for each connection (part 3).
 *
 * The bookkeeping under the state machine (step.h walks the machine; each
 * server file says how it waits):
 *
 *   - conn_read_echo(): one recv() into the caller's scratch buffer and
 *     one send() of what came in. Bytes the kernel would not take at once
 *     are kept in the connection's `owed` buffer (at most one read's
 *     worth: CONN_CHUNK), and the server must not read from that client
 *     again until conn_flush() has sent them all. That rule is the
 *     backpressure: a client that does not read its echo stops being
 *     read from; nothing is dropped and nothing grows without bound.
 *   - the registry: every live connection, ordered by its last activity,
 *     oldest first. Closing them all at a stop walks it; expiring idle
 *     ones looks only at the few at its head that are due, never at all.
 *   - a ready queue (epoll -e): connections to serve again, first in,
 *     first out, so that none waits behind newer ones for ever.
 */
#ifndef CONN_H
#define CONN_H

#include "common.h"

#define CONN_CHUNK 16384       /* one read; also the most a client may be owed */

/* What a connection waits for next (step.h's conn_step() says). */
enum conn_want { WANT_READ, WANT_WRITE, WANT_CLOSE };

struct conn {
    int fd;
    enum conn_want want;       /* what it waits for now (new: WANT_READ)  */
    int peer_closed;           /* EOF read: send what is owed, then close */
    char *owed;                /* echo the kernel has not taken yet, or NULL */
    size_t owed_len, owed_off;
    const char *why;           /* why it closes, for the log line */
    double last_active;        /* now_sec() of the last byte in or out */
    struct conn *older, *newer;   /* the registry */
    struct conn_stats st;
    int slot;                  /* the server's own index (poll: pollfd slot) */
    int in_list;               /* on a ready queue (epoll -e)               */
    struct conn *ahead, *behind;  /* the ready queue */
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
 * `scratch`, the request's work (do_request_work(): --work-us, --block-us,
 * done right here, in the loop's thread), then one send() of them; the
 * unsent rest goes to `owed`. */
enum conn_io conn_read_echo(struct conn *c, char *scratch, size_t cap);
/* Its two halves, for a server that does the work elsewhere in between
 * (server_epoll_offload.c). conn_recv(): one recv() of at most `cap`
 * bytes; IO_DONE with *got bytes, IO_AGAIN, IO_EOF or IO_FAILED.
 * conn_echo(): send n bytes back, the rest to `owed` (IO_DONE, IO_OWES,
 * IO_FAILED); precondition: nothing owed. */
enum conn_io conn_recv(struct conn *c, char *buf, size_t cap, size_t *got);
enum conn_io conn_echo(struct conn *c, const char *buf, size_t n);
/* Send what is owed: IO_DONE when all of it is gone, IO_OWES, IO_FAILED. */
enum conn_io conn_flush(struct conn *c);

/* Every live connection, oldest activity first. */
struct registry {
    struct conn *oldest, *newest;
};

/* Mark activity now: c becomes the newest (a new c joins the registry). */
void registry_touch(struct registry *r, struct conn *c, double now);
void registry_remove(struct registry *r, struct conn *c);
/* The oldest connection silent for at least `timeout` seconds, or NULL. */
struct conn *registry_expired(const struct registry *r, double now, int timeout);
/* Milliseconds until the oldest connection expires (capped at `cap_ms`). */
int registry_wait_ms(const struct registry *r, double now, int timeout, int cap_ms);

/* Connections to serve again, first in, first out. */
struct conn_queue {
    struct conn *first, *last;
    int len;
};

/* At the back; c must not be queued already (c->in_list says). */
void queue_push(struct conn_queue *q, struct conn *c);
/* The front one, or NULL. */
struct conn *queue_pop(struct conn_queue *q);
/* Take c out from wherever it is (a closing connection). */
void queue_remove(struct conn_queue *q, struct conn *c);

#endif
