/*
 * uring_conn.h - the life of server_uring's connections around its lesson.
 *
 * server_uring.c decides what a connection does after each completion.
 * What is the same for any server lives here, kept out of its way:
 *
 *   - the live connections, oldest activity first, so that the idle sweep
 *     stops at the first one that is not due;
 *   - ending one: shut it down, and once nothing of it is in flight (no
 *     RECV, no SEND), give back its buffers, log it, close it, free it;
 *   - the starved list: connections whose multishot RECV found the buffer
 *     ring empty (ENOBUFS), waiting, first in first out, for buffers;
 *   - turning clients away: at --max-conns, and when an ACCEPT fails for
 *     want of descriptors (EMFILE).
 *
 * With --fixed-files a connection has no descriptor, only a slot in the
 * ring's file table: it is shut down and closed by io_uring operations.
 */
#ifndef URING_CONN_H
#define URING_CONN_H

#include "common.h"
#include "uring.h"
#include "uring_bufs.h"

/* The user_data of an operation whose completion nobody needs (a CLOSE,
 * a cancel). server_uring.c numbers its own tags after it. A connection's
 * operations carry its address, with OP_SHUT set for the SHUTDOWN of a
 * direct descriptor: that one is waited for, because a slot is reused as
 * soon as it is closed, and a SHUTDOWN still queued then would end the
 * next client to get the slot. */
enum { TAG_IGNORE = 1, OP_SHUT = 2 };

struct uconn {
    int fd;                    /* a descriptor, or a slot (--fixed-files) */
    char receiving, sending;   /* a RECV, a SEND in flight */
    char shutting;             /* a SHUTDOWN in flight (--fixed-files) */
    char cancelling, eof, starved;
    const char *why;           /* set when ending, for the log line */
    size_t len, sent;          /* default: bytes in buf; of the owed, sent */
    struct bufq owed;          /* --multishot: buffers received, not yet sent */
    double last_active;        /* now_sec() of its last completion */
    struct uconn *older, *newer, *next_starved;
    struct conn_stats st;
    char buf[];                /* default mode: the receive buffer */
};

struct uconns {
    struct ring *r;
    struct bufs *bufs;         /* --multishot's buffer ring, else NULL */
    const struct server_opts *o;
    int fixed_files;           /* c->fd is a slot of the ring's file table */
    int live, stopping;        /* stopping: every one ends, none is taken */
    struct uconn *oldest, *newest;          /* every live connection */
    struct uconn *starved, *starved_tail;   /* found the buffer ring empty */
    unsigned long accepted, refused, idle_closed, accept_errors, enobufs;
    unsigned long long bytes;  /* echoed by the connections closed so far */
};

/* A client the ACCEPT gave us (fd: a descriptor or a slot), with buf_bytes
 * of receive buffer; peer is the ACCEPT's, or NULL to ask the socket. NULL
 * when stopping, at --max-conns or out of memory: then it is closed at
 * once (the client sees EOF, not a hang) and counted as refused. */
struct uconn *uconns_adopt(struct uconns *cs, int fd, size_t buf_bytes,
                           const struct sockaddr_storage *peer);

/* ring_sqe() for an operation on c: with --fixed-files, c->fd names a
 * slot of the ring's file table (IOSQE_FIXED_FILE). */
struct io_uring_sqe *uconn_sqe(struct uconns *cs, struct uconn *c, int op,
                               const void *addr, unsigned len, uint64_t tag);

/* Activity now: c becomes the newest. */
void uconn_touch(struct uconns *cs, struct uconn *c);

/* Ask c to end (why: for the log line; the first reason stays): what it
 * has in flight completes early, then uconn_drop() can close it. */
void uconn_shut(struct uconns *cs, struct uconn *c, const char *why);

/* c has nothing in flight: its buffers back into the ring, out of every
 * list, logged (-v), closed, freed. */
void uconn_drop(struct uconns *cs, struct uconn *c);

/* End every connection silent for --idle-timeout. */
void uconns_end_idle(struct uconns *cs);

/* Stop: take no new client and end every connection. */
void uconns_stop(struct uconns *cs);

/* c's RECV found the buffer ring empty: it waits, behind the others. */
void starved_add(struct uconns *cs, struct uconn *c);
/* The connection that has waited longest for buffers, out of the list;
 * NULL when none waits. */
struct uconn *starved_take(struct uconns *cs);

/* Accept one waiting client on the spare descriptor and close it at once;
 * at start-up (nobody waits) this reserves the spare. */
void refuse_one(int listen_fd);

/* An ACCEPT failed with err: at EMFILE or ENFILE turn away the clients
 * waiting (at most 16), else count it and log (at most once a second)
 * that the caller retries every retry_ms. */
void accept_failed(struct uconns *cs, int listen_fd, int err, int retry_ms);

/* The stop line: "NAME: stopped: connections=... unfinished=N", and with
 * --multishot the buffer ring's count (every buffer back: free == total). */
void uconns_print_stopped(const struct uconns *cs, const char *name);

#endif
