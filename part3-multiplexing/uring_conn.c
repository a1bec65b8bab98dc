/*
 * uring_conn.c - server_uring's connections from accept to close
 * (uring_conn.h).
 */
#include "uring_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A descriptor, or (--fixed-files) a slot, which only io_uring can close. */
static void close_fd(struct uconns *cs, int fd)
{
    if (!cs->fixed_files) {
        close(fd);
        return;
    }
    struct io_uring_sqe *sqe = ring_sqe(cs->r, IORING_OP_CLOSE, 0, NULL, 0, TAG_IGNORE);
    sqe->file_index = (unsigned)fd + 1;   /* 0 would mean "a descriptor" */
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

struct io_uring_sqe *uconn_sqe(struct uconns *cs, struct uconn *c, int op,
                               const void *addr, unsigned len, uint64_t tag)
{
    struct io_uring_sqe *sqe = ring_sqe(cs->r, op, c->fd, addr, len, tag);
    if (cs->fixed_files)
        sqe->flags |= IOSQE_FIXED_FILE;   /* c->fd is a slot in the table */
    return sqe;
}

struct uconn *uconns_adopt(struct uconns *cs, int fd, size_t buf_bytes,
                           const struct sockaddr_storage *peer)
{
    struct uconn *c = NULL;
    if (cs->stopping || cs->live >= cs->o->max_conns ||
        !(c = calloc(1, sizeof *c + buf_bytes))) {
        close_fd(cs, fd);
        cs->refused++;
        return NULL;
    }
    c->fd = fd;
    conn_stats_start(&c->st, peer);
    if (!peer && !cs->fixed_files)   /* a multishot ACCEPT has one address for all */
        getpeername(fd, (struct sockaddr *)&c->st.peer, &(socklen_t){sizeof c->st.peer});
    uconn_touch(cs, c);
    cs->live++;
    cs->accepted++;
    return c;
}

static void unlink_conn(struct uconns *cs, struct uconn *c)
{
    *(c->older ? &c->older->newer : &cs->oldest) = c->newer;
    *(c->newer ? &c->newer->older : &cs->newest) = c->older;
    c->older = c->newer = NULL;
}

void uconn_touch(struct uconns *cs, struct uconn *c)
{
    if (c->older || c->newer || cs->oldest == c)
        unlink_conn(cs, c);
    c->last_active = now_sec();
    c->older = cs->newest;
    *(cs->newest ? &cs->newest->newer : &cs->oldest) = c;
    cs->newest = c;
}

/* A pending RECV or SEND on a shut-down socket completes at once (0 or an
 * error), so the connection ends without waiting for its client. */
void uconn_shut(struct uconns *cs, struct uconn *c, const char *why)
{
    if (c->why)
        return;
    c->why = why;
    if (!c->receiving && !c->sending)
        return;
    if (cs->fixed_files) {
        c->shutting = 1;
        uconn_sqe(cs, c, IORING_OP_SHUTDOWN, NULL, SHUT_RDWR, (uintptr_t)c | OP_SHUT);
    } else
        shutdown(c->fd, SHUT_RDWR);
}

/* Out of the starved list, wherever c is in it. */
static void unpark(struct uconns *cs, struct uconn *c)
{
    struct uconn **p = &cs->starved, *prev = NULL;
    for (; *p != c; p = &(*p)->next_starved)
        prev = *p;
    *p = c->next_starved;
    c->next_starved = NULL;
    c->starved = 0;
    if (cs->starved_tail == c)
        cs->starved_tail = prev;
}

void uconn_drop(struct uconns *cs, struct uconn *c)
{
    if (c->starved)
        unpark(cs, c);
    while (cs->bufs && c->owed.n > 0)
        bufs_pop(cs->bufs, &c->owed);     /* every buffer goes back, always */
    unlink_conn(cs, c);
    cs->bytes += c->st.bytes_out;
    log_conn(cs->o, c->fd, &c->st, c->why ? c->why : "eof");
    close_fd(cs, c->fd);
    free(c);
    cs->live--;
}

/* Shut c down, and drop it now if nothing of it is in flight (else its
 * last completion will). */
static void end(struct uconns *cs, struct uconn *c, const char *why)
{
    uconn_shut(cs, c, why);
    if (!c->receiving && !c->sending && !c->shutting)
        uconn_drop(cs, c);
}

void uconns_end_idle(struct uconns *cs)
{
    double now = now_sec();
    int timeout = cs->o->idle_timeout;
    for (struct uconn *c = cs->oldest, *next; c && timeout > 0 &&
                                               now - c->last_active >= timeout; c = next) {
        next = c->newer;
        cs->idle_closed += !c->why;
        end(cs, c, "idle");
    }
}

void uconns_stop(struct uconns *cs)
{
    cs->stopping = 1;
    for (struct uconn *c = cs->oldest, *next; c; c = next) {
        next = c->newer;
        end(cs, c, "shutdown");
    }
}

void starved_add(struct uconns *cs, struct uconn *c)
{
    c->starved = 1;
    *(cs->starved ? &cs->starved_tail->next_starved : &cs->starved) = c;
    cs->starved_tail = c;
}

struct uconn *starved_take(struct uconns *cs)
{
    struct uconn *c = cs->starved;
    if (c)
        unpark(cs, c);
    return c;
}

/* refuse_client() accepts a waiting client on a spare descriptor and
 * closes it; it needs a non-blocking listening socket for that moment
 * (server_uring's is blocking: an ACCEPT waits in the kernel). */
void refuse_one(int listen_fd)
{
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl >= 0 && fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) == 0) {
        refuse_client(listen_fd);
        fcntl(listen_fd, F_SETFL, fl);
    }
}

/* Accept takes a descriptor (or a slot) BEFORE it looks for a client, so
 * at EMFILE (ENFILE: the table is full) it fails at once even with nobody
 * waiting; the clients who do wait are turned away (they see a close, not
 * a hang) until descriptors are free again. */
void accept_failed(struct uconns *cs, int listen_fd, int err, int retry_ms)
{
    static double last_log;
    struct pollfd p = {.fd = listen_fd, .events = POLLIN};
    if (err == EMFILE || err == ENFILE)
        for (int k = 0; k < 16 && poll(&p, 1, 0) > 0; k++, cs->refused++)
            refuse_one(listen_fd);
    else {
        cs->accept_errors++;
        log_ratelimited(&last_log, "accept: %s: retrying every %d ms", strerror(err),
                        retry_ms);
    }
}

void uconns_print_stopped(const struct uconns *cs, const char *name)
{
    printf("%s: stopped: connections=%lu refused=%lu idle_closed=%lu accept_errors=%lu "
           "bytes=%llu unfinished=%d", name, cs->accepted, cs->refused, cs->idle_closed,
           cs->accept_errors, cs->bytes, cs->live);
    if (cs->bufs)              /* every buffer back in the ring: free == total */
        printf(" bufs_free=%u bufs_total=%u enobufs=%lu", cs->bufs->free, cs->bufs->count,
               cs->enobufs);
    printf("\n");
}
