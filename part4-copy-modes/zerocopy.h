/*
 * zerocopy.h - the bookkeeping that MSG_ZEROCOPY asks for (lesson 4).
 *
 * After sendmsg(MSG_ZEROCOPY) the kernel sends straight from our pages,
 * so a buffer may not be written again until the kernel says, on the
 * socket's error queue, that every send from it has completed. The kernel
 * numbers the successful MSG_ZEROCOPY calls on a socket 0, 1, 2, ... and
 * reports completed ranges of those numbers ("ids"). A zc_pool keeps, for
 * each buffer of a small pool (the buffers themselves are the caller's),
 * the range of ids that still use it.
 *
 * The same account serves io_uring's zero-copy send (sendzc.c): there a
 * send that promises a notification takes the next id, and each
 * notification completes one id. Only where completions are read and
 * waited for differs: a zc_source says.
 */
#ifndef ZEROCOPY_H
#define ZEROCOPY_H

#include <stdint.h>

#define ZC_POOL_MAX 8

struct zc_counters {
    uint64_t sends, completions, copied, enobufs, gaps, unfinished, refused;
};

/* Where completions come from: zc_open() reads the socket's error queue;
 * a ring sets its own with zc_attach(). */
struct zc_source {
    const char *label;           /* "zero-copy", "send-zc": for zc_log()     */
    void (*collect)(void *arg);  /* read what is waiting; never blocks       */
    void *arg;
    int wait_fd;                 /* poll()ed for `events` when more is due   */
    short events;
};

struct zc_pool {
    int fd;
    int on;                      /* SO_ZEROCOPY accepted on this socket  */
    int nslots;                  /* buffers in use, at most ZC_POOL_MAX  */
    struct {
        uint32_t first_id, ids, done;   /* ids [first_id, first_id + ids) */
    } slot[ZC_POOL_MAX];
    uint32_t next_id, expect_id;
    struct zc_counters n;
    struct zc_source src;
};

/* Ask for zero-copy on this socket. An old kernel or a socket type that
 * cannot do it refuses: then on = 0, the refusal is counted and logged,
 * and this connection sends with ordinary copies, visibly. */
void zc_open(struct zc_pool *z, int fd, const char *name);

/* Count completions that come from elsewhere (a ring): on = 1, no refusal. */
void zc_attach(struct zc_pool *z, int fd, const struct zc_source *src);

/* nslots buffers, none in flight (new content). */
void zc_reset(struct zc_pool *z, int nslots);

/* A buffer whose every send has completed, now reserved for the next
 * message (its count of ids restarts); -1 when the whole pool is in flight. */
int zc_take_free(struct zc_pool *z);

/* One sendmsg(MSG_ZEROCOPY) from buffer `slot` succeeded: it took the next id. */
void zc_sent(struct zc_pool *z, int slot);

/* Ids lo..hi (a range, 32-bit, may wrap) have completed; `copied`: the
 * kernel says it copied their data after all. zc_collect() calls it for
 * the error queue; a ring's collect calls it once per notification. */
void zc_complete(struct zc_pool *z, uint32_t lo, uint32_t hi, int copied);

/* Read every completion waiting at the source (never blocks). */
void zc_collect(struct zc_pool *z);

/* Wait (bounded by timeout_ms, < 0: none) until fewer than `limit` buffers
 * are in flight. NULL when they are, else why the connection ends. */
const char *zc_wait_below(struct zc_pool *z, int limit, int timeout_ms);

/* At the end of a connection: collect what is still due (briefly), so the
 * counts are whole: every id completed, or counted as unfinished. */
void zc_finish(struct zc_pool *z);

/* -v: this connection's counts, one line on stderr. */
void zc_log(const struct zc_pool *z, const char *name);

void zc_add(struct zc_counters *into, const struct zc_counters *from);
/* The zc_* fields of the server's stopped line (no newline). */
void zc_print_totals(const struct zc_counters *t);

#endif
