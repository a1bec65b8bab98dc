/*
 * part3-multiplexing/server_uring.c - completion-based I/O with io_uring.
 *
 * Lesson 3, the end. select, poll and epoll are READINESS interfaces: the
 * kernel says "you may read now", then we make the read() call. io_uring
 * is a COMPLETION interface: we hand the kernel the whole operation
 * ("receive into this buffer") in a ring shared with it, and later collect
 * the result from another (uring.c maps them, with raw system calls). The
 * loop in main() is the pattern: submit and wait (one io_uring_enter()),
 * then reap() dispatches each completion on its user_data, the tag we gave
 * the operation, and the handler submits what follows.
 *
 * By default (the first step) a connection has one operation in flight:
 * RECV into its own buffer, SEND what came, RECV again; 0 or an error
 * closes it. The price: a buffer is committed to every pending RECV, idle
 * or not. The modes, one flag each, are io_uring as it is used today:
 *   --multishot      one ACCEPT for all clients, one RECV per connection
 *                    that completes again and again (while IORING_CQE_F_MORE
 *                    says so), into buffers shared by all (uring_bufs.c):
 *                    an idle connection holds none. A connection stops
 *                    being read (its RECV cancelled) while it owes its
 *                    client MAX_OWED buffers, and one that found the ring
 *                    empty (ENOBUFS) waits in a list until buffers return;
 *   --defer-taskrun  completions are posted only when we wait for them;
 *   --fixed-files    connections live in the ring's own file table.
 * advance() decides, after every completion, what a connection does next.
 * To end one we shut it down; once nothing of it is in flight, it closes.
 */
#include "common.h"
#include "uring.h"
#include "uring_modes.h"
#include "uring_bufs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SQ_ENTRIES      4096
#define CQ_ENTRIES      65536   /* room for a result from every connection */
#define BUF_BYTES       16384   /* default mode: what each connection commits */
#define MAX_OWED        4       /* --multishot: buffers owed before reading stops */
#define TICK_MS         200     /* a periodic timer: the idle sweep */
#define ACCEPT_RETRY_MS 10      /* the pause after a failed ACCEPT */

/* The user_data of operations that are not a connection's. A connection's
 * carry its address, with OP_SEND set in the low bit for a SEND. */
enum { TAG_ACCEPT = 1, TAG_TICK, TAG_ACCEPT_RETRY, TAG_IGNORE, OP_SEND = 1 };

static struct __kernel_timespec tick = {.tv_nsec = TICK_MS * 1000000L},
    accept_retry = {.tv_nsec = ACCEPT_RETRY_MS * 1000000L}, drain_limit = {.tv_sec = 1};

struct uconn {
    int fd;                    /* a descriptor, or a slot (--fixed-files) */
    char receiving, sending;   /* a RECV, a SEND in flight */
    char cancelling, eof, starved;
    const char *why;           /* set when closing, for the log line */
    size_t len, sent;          /* default: bytes in buf; of the owed, sent */
    struct bufq owed;          /* --multishot: buffers received, not yet sent */
    double last_active;        /* now_sec() of its last completion */
    struct uconn *older, *newer, *next_starved;
    struct conn_stats st;
    char buf[];                /* default mode: BUF_BYTES */
};

struct server {
    const struct server_opts *o;
    struct uring_mode m;
    struct ring r;
    struct bufs bufs;
    int listen_fd, live, stopping;
    struct uconn *oldest, *newest;  /* every live connection */
    struct uconn *starved, *starved_tail;   /* found the buffer ring empty */
    struct sockaddr_storage peer;   /* filled by a single-shot ACCEPT */
    socklen_t peer_len;
    unsigned long accepted, refused, idle_closed, accept_errors, enobufs;
    unsigned long long bytes;
};

static void submit_accept(struct server *s)
{
    s->peer_len = sizeof s->peer;
    struct io_uring_sqe *sqe = ring_sqe(&s->r, IORING_OP_ACCEPT, s->listen_fd,
                                        s->m.multishot ? NULL : &s->peer, 0, TAG_ACCEPT);
    if (s->m.multishot)        /* one SQE, a CQE per client */
        sqe->ioprio = IORING_ACCEPT_MULTISHOT;
    else
        sqe->addr2 = (uint64_t)(uintptr_t)&s->peer_len;
    if (s->m.fixed_files)      /* a free slot of the table, not a descriptor */
        sqe->file_index = IORING_FILE_INDEX_ALLOC;
    else
        sqe->accept_flags = SOCK_CLOEXEC;
}

static struct io_uring_sqe *conn_sqe(struct server *s, struct uconn *c, int op,
                                     const void *addr, unsigned len, uint64_t tag)
{
    struct io_uring_sqe *sqe = ring_sqe(&s->r, op, c->fd, addr, len, tag);
    if (s->m.fixed_files)
        sqe->flags |= IOSQE_FIXED_FILE;   /* c->fd is a slot in the table */
    return sqe;
}

static void submit_recv(struct server *s, struct uconn *c)
{
    c->receiving = 1;
    if (!s->m.multishot) {
        conn_sqe(s, c, IORING_OP_RECV, c->buf, BUF_BYTES, (uintptr_t)c);
        return;
    }
    bufs_recv_multishot(conn_sqe(s, c, IORING_OP_RECV, NULL, 0, (uintptr_t)c),
                        MAX_OWED * s->m.buf_size);
}

/* The bytes owed next: the rest of buf, or of the oldest owed buffer. */
static void submit_send(struct server *s, struct uconn *c)
{
    unsigned len = (unsigned)c->len;
    char *p = s->m.multishot ? bufs_first(&s->bufs, &c->owed, &len) : c->buf;
    c->sending = 1;
    conn_sqe(s, c, IORING_OP_SEND, p + c->sent, len - (unsigned)c->sent,
             (uintptr_t)c | OP_SEND)->msg_flags = MSG_NOSIGNAL;
}

/* The live connections, oldest activity first: the idle sweep stops at
 * the first one that is not due. */
static void unlink_conn(struct server *s, struct uconn *c)
{
    *(c->older ? &c->older->newer : &s->oldest) = c->newer;
    *(c->newer ? &c->newer->older : &s->newest) = c->older;
    c->older = c->newer = NULL;
}

static void touch(struct server *s, struct uconn *c)
{
    if (c->older || c->newer || s->oldest == c)
        unlink_conn(s, c);
    c->last_active = now_sec();
    c->older = s->newest;
    *(s->newest ? &s->newest->newer : &s->oldest) = c;
    s->newest = c;
}

static void close_fd(struct server *s, int fd)
{
    if (!s->m.fixed_files) {
        close(fd);
        return;
    }
    struct io_uring_sqe *sqe = ring_sqe(&s->r, IORING_OP_CLOSE, 0, NULL, 0, TAG_IGNORE);
    sqe->file_index = (unsigned)fd + 1;   /* 0 would mean "a descriptor" */
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

/* Ask a connection to end: what it has in flight completes, then it closes. */
static void shut(struct server *s, struct uconn *c, const char *why)
{
    if (c->why)
        return;
    c->why = why;
    if (!c->receiving && !c->sending)
        return;
    if (s->m.fixed_files)
        conn_sqe(s, c, IORING_OP_SHUTDOWN, NULL, SHUT_RDWR, TAG_IGNORE);
    else
        shutdown(c->fd, SHUT_RDWR);
}

/* Out of the list of connections waiting for buffers (first in, first out). */
static void unpark(struct server *s, struct uconn *c)
{
    struct uconn **p = &s->starved, *prev = NULL;
    for (; *p != c; p = &(*p)->next_starved)
        prev = *p;
    *p = c->next_starved;
    c->next_starved = NULL;
    c->starved = 0;
    if (s->starved_tail == c)
        s->starved_tail = prev;
}

static void drop(struct server *s, struct uconn *c)
{
    if (c->starved)
        unpark(s, c);
    while (s->m.multishot && c->owed.n > 0)
        bufs_pop(&s->bufs, &c->owed);     /* every buffer goes back, always */
    unlink_conn(s, c);
    s->bytes += c->st.bytes_out;
    log_conn(s->o, c->fd, &c->st, c->why ? c->why : "eof");
    close_fd(s, c->fd);
    free(c);
    s->live--;
}

/* After every completion of c: close it once nothing is in flight, send
 * what it owes, read again while it owes little, or stop reading. */
static void advance(struct server *s, struct uconn *c)
{
    unsigned owed = s->m.multishot ? c->owed.n : c->len > c->sent;
    if (c->why || (c->eof && owed == 0)) {
        if (!c->receiving && !c->sending)
            drop(s, c);
        return;
    }
    if (owed > 0 && !c->sending)
        submit_send(s, c);
    unsigned limit = s->m.multishot ? MAX_OWED : 1;
    if (!c->receiving && !c->eof && !c->starved && owed < limit)
        submit_recv(s, c);
    else if (c->receiving && owed >= limit && !c->cancelling) {
        c->cancelling = 1;     /* backpressure: it ends with -ECANCELED */
        ring_sqe(&s->r, IORING_OP_ASYNC_CANCEL, -1, (void *)(uintptr_t)c, 0, TAG_IGNORE)
            ->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }
}

static void on_recv(struct server *s, struct uconn *c, const struct io_uring_cqe *cqe)
{
    int res = cqe->res;
    if (!(cqe->flags & IORING_CQE_F_MORE))
        c->receiving = c->cancelling = 0;   /* that RECV is over */
    if (cqe->flags & IORING_CQE_F_BUFFER)   /* queued, or back if unused */
        bufs_from_cqe(&s->bufs, &c->owed, cqe, !c->why);
    else if (res > 0)
        c->len = (size_t)res;
    if (res > 0) {
        c->st.reads++;
        c->st.bytes_in += (uint64_t)res;
        touch(s, c);
        do_request_work((size_t)res);   /* --work-us, --block-us: the whole ring waits */
    } else if (res == -ENOBUFS && !c->why) {   /* the ring is empty: wait for buffers */
        s->enobufs++;
        c->starved = 1;
        *(s->starved ? &s->starved_tail->next_starved : &s->starved) = c;
        s->starved_tail = c;
    } else if (res == 0)
        c->eof = 1;
    else if (res != -ECANCELED)
        shut(s, c, res == -ECONNRESET ? "reset" : "error");
    advance(s, c);
}

static void on_send(struct server *s, struct uconn *c, int res)
{
    c->sending = 0;
    if (res <= 0)
        shut(s, c, res == -ECONNRESET || res == -EPIPE ? "reset" : "error");
    else {
        c->st.bytes_out += (uint64_t)res;
        c->sent += (size_t)res;
        touch(s, c);
        unsigned len = (unsigned)c->len;
        if (s->m.multishot)
            bufs_first(&s->bufs, &c->owed, &len);
        if (c->sent == len) {  /* echoed: the next buffer, or RECV again */
            c->sent = c->len = 0;
            if (s->m.multishot)
                bufs_pop(&s->bufs, &c->owed);
        }
    }
    advance(s, c);
}

/* refuse_client() accepts a waiting client on a spare descriptor and
 * closes it; it needs a non-blocking listening socket for that moment. */
static void refuse_one(int listen_fd)
{
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl >= 0 && fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) == 0) {
        refuse_client(listen_fd);
        fcntl(listen_fd, F_SETFL, fl);
    }
}

/* A failed ACCEPT is never resubmitted at once: what failed it (EMFILE,
 * ENOBUFS, ENOMEM, ...) would fail the next one too, and the loop would
 * spin. The next ACCEPT waits for a 10 ms timer. Accept takes a descriptor
 * (or a slot) BEFORE it looks for a client, so at EMFILE (ENFILE: the
 * table is full) it fails at once even with nobody waiting; then up to 16
 * waiting clients are turned away (they see a close, not a hang). */
static void accept_failed(struct server *s, int err)
{
    static double last_log;
    struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
    if (err == EMFILE || err == ENFILE)
        for (int k = 0; k < 16 && poll(&p, 1, 0) > 0; k++, s->refused++)
            refuse_one(s->listen_fd);
    else {
        s->accept_errors++;
        log_ratelimited(&last_log, "accept: %s: retrying every %d ms", strerror(err),
                        ACCEPT_RETRY_MS);
    }
    ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, &accept_retry, 1, TAG_ACCEPT_RETRY);
}

static void on_accept(struct server *s, const struct io_uring_cqe *cqe)
{
    struct uconn *c = NULL;
    int res = cqe->res, more = cqe->flags & IORING_CQE_F_MORE;
    if (res < 0) {
        if (!more && !s->stopping)   /* the ACCEPT is over: a new one, later */
            accept_failed(s, -res);
        return;
    }
    size_t size = sizeof *c + (s->m.multishot ? 0 : BUF_BYTES);
    if (s->stopping || s->live >= s->o->max_conns || !(c = calloc(1, size))) {
        close_fd(s, res);      /* at the cap: accepted and closed at once */
        s->refused++;
    } else {
        c->fd = res;
        conn_stats_start(&c->st, s->m.multishot ? NULL : &s->peer);
        if (s->m.multishot && !s->m.fixed_files)   /* one address for all */
            getpeername(res, (struct sockaddr *)&c->st.peer, &(socklen_t){sizeof c->st.peer});
        touch(s, c);
        s->live++;
        s->accepted++;
        submit_recv(s, c);
    }
    if (!more && !s->stopping)
        submit_accept(s);      /* always one ACCEPT pending */
}

static void on_tick(struct server *s)
{
    double now = now_sec();
    int timeout = s->o->idle_timeout;
    for (struct uconn *c = s->oldest, *next; c && timeout > 0 &&
                                              now - c->last_active >= timeout; c = next) {
        next = c->newer;
        s->idle_closed += !c->why;
        shut(s, c, "idle");
        advance(s, c);
    }
    if (!s->stopping)
        ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, &tick, 1, TAG_TICK);
}

/* Buffers came back: read again from as many starved connections. */
static void feed_starved(struct server *s)
{
    for (unsigned n = s->bufs.free; n > 0 && s->starved; n--) {
        struct uconn *c = s->starved;
        unpark(s, c);
        advance(s, c);
    }
}

/* Take what the kernel has posted, dispatching each CQE on its user_data.
 * At most one CQ's worth, so that a stop request is seen in between. */
static void reap(struct server *s)
{
    struct io_uring_cqe cqe;
    for (int n = 0; n < CQ_ENTRIES && ring_next(&s->r, &cqe); n++) {
        struct uconn *c = (struct uconn *)(uintptr_t)(cqe.user_data & ~(uint64_t)OP_SEND);
        switch (cqe.user_data) {
        case TAG_ACCEPT:       on_accept(s, &cqe); break;
        case TAG_TICK:         on_tick(s); break;
        case TAG_ACCEPT_RETRY: if (!s->stopping) submit_accept(s); break;
        case TAG_IGNORE:       break;
        default:
            if (cqe.user_data & OP_SEND)
                on_send(s, c, cqe.res);
            else
                on_recv(s, c, &cqe);
        }
    }
    feed_starved(s);
}

/* Stop: end every connection and collect their last results, for at most
 * a second (a timer wakes the wait by then). */
static void drain(struct server *s)
{
    s->stopping = 1;
    shutdown(s->listen_fd, SHUT_RDWR);   /* the port is free once we exit */
    for (struct uconn *c = s->oldest, *next; c; c = next) {
        next = c->newer;
        shut(s, c, "shutdown");
        advance(s, c);
    }
    ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, &drain_limit, 1, TAG_TICK);
    double deadline = now_sec() + 1.0;
    while (s->live > 0 && now_sec() < deadline && ring_enter(&s->r, 1) == 0)
        reap(s);
    ring_enter(&s->r, 0);      /* the last CLOSEs of --fixed-files */
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "uring", .help_extra = URING_MODE_HELP};
    static struct server s;
    uring_mode_parse(&s.m, o.name, &argc, argv);
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();

    s.o = &o;
    ring_setup_flags(&s.r, o.name, SQ_ENTRIES, CQ_ENTRIES, uring_mode_check(&s.m, o.name));
    if (s.m.fixed_files && ring_register_files(&s.r, (unsigned)o.max_conns + 16) != 0)
        uring_mode_refused(o.name, "--fixed-files: IORING_REGISTER_FILES2");
    if (s.m.multishot && bufs_setup(&s.bufs, s.r.fd, s.m.bufs, s.m.buf_size) != 0)
        uring_mode_refused(o.name, "--multishot: IORING_REGISTER_PBUF_RING");
    s.listen_fd = listen_socket(&o, 0);  /* blocking: an ACCEPT waits in the kernel */
    set_nodelay(s.listen_fd);  /* accepted sockets inherit TCP_NODELAY */
    refuse_one(s.listen_fd);   /* nobody waits yet: this reserves the spare fd */
    print_banner(o.name, s.listen_fd);

    submit_accept(&s);
    ring_sqe(&s.r, IORING_OP_TIMEOUT, -1, &tick, 1, TAG_TICK);
    while (!stop_requested) {
        if (ring_enter(&s.r, 1) != 0)    /* submit everything, wait for a CQE */
            die("io_uring_enter");
        reap(&s);
    }
    drain(&s);
    ring_close(&s.r);          /* cancels what is still pending */
    close(s.listen_fd);
    printf("%s: stopped: connections=%lu refused=%lu idle_closed=%lu accept_errors=%lu "
           "bytes=%llu unfinished=%d", o.name, s.accepted, s.refused, s.idle_closed,
           s.accept_errors, s.bytes, s.live);
    if (s.m.multishot)         /* every buffer back in the ring: free == total */
        printf(" bufs_free=%u bufs_total=%u enobufs=%lu", s.bufs.free, s.bufs.count,
               s.enobufs);
    printf("\n");
    return 0;
}
