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
 * the operation; the handler submits what follows, and advance() decides
 * what a connection does next.
 *
 * By default a connection has one operation in flight: RECV into its own
 * buffer, SEND what came, RECV again; a buffer is committed to every pending
 * RECV, idle or not. The modes (uring_modes.h) are io_uring as used today:
 * with --multishot one RECV per connection keeps completing into buffers
 * shared by all (uring_bufs.c), cancelled while the connection owes
 * MAX_OWED of them. A connection's life around this loop (live list, idle
 * sweep, shutdown and close, the starved list, turning clients away) is in
 * uring_conn.c.
 */
#include "common.h"
#include "uring.h"
#include "uring_modes.h"
#include "uring_bufs.h"
#include "uring_conn.h"

#include <errno.h>
#include <unistd.h>

#define SQ_ENTRIES      4096
#define CQ_ENTRIES      65536   /* room for a result from every connection */
#define BUF_BYTES       16384   /* default mode: what each connection commits */
#define MAX_OWED        4       /* --multishot: buffers owed before reading stops */
#define TICK_MS         200     /* a periodic timer: the idle sweep */
#define ACCEPT_RETRY_MS 10      /* the pause after a failed ACCEPT */

/* The user_data of operations that are not a connection's (and TAG_IGNORE,
 * uring_conn.h's). A connection's carry the address of its struct uconn
 * (uring_conn.h), with OP_SEND set in the low bit for a SEND. */
enum { TAG_ACCEPT = TAG_IGNORE + 1, TAG_TICK, TAG_ACCEPT_RETRY, OP_SEND = 1 };

static struct __kernel_timespec tick = {.tv_nsec = TICK_MS * 1000000L},
    accept_retry = {.tv_nsec = ACCEPT_RETRY_MS * 1000000L}, drain_limit = {.tv_sec = 1};

struct server {
    struct uring_mode m;
    struct ring r;
    struct bufs bufs;
    struct uconns conns;            /* the live ones, and their counts */
    int listen_fd;
    struct sockaddr_storage peer;   /* filled by a single-shot ACCEPT */
    socklen_t peer_len;
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

static void submit_recv(struct server *s, struct uconn *c)
{
    c->receiving = 1;
    if (s->m.multishot)        /* no buffer yet: the kernel picks one when bytes come */
        bufs_recv_multishot(uconn_sqe(&s->conns, c, IORING_OP_RECV, NULL, 0, (uintptr_t)c),
                            MAX_OWED * s->m.buf_size);
    else
        uconn_sqe(&s->conns, c, IORING_OP_RECV, c->buf, BUF_BYTES, (uintptr_t)c);
}

/* The bytes owed next: the rest of buf, or of the oldest owed buffer. */
static void submit_send(struct server *s, struct uconn *c)
{
    unsigned len = (unsigned)c->len;
    char *p = s->m.multishot ? bufs_first(&s->bufs, &c->owed, &len) : c->buf;
    c->sending = 1;
    uconn_sqe(&s->conns, c, IORING_OP_SEND, p + c->sent, len - (unsigned)c->sent,
             (uintptr_t)c | OP_SEND)->msg_flags = MSG_NOSIGNAL;
}

/* After every completion of c: close it once nothing is in flight, send
 * what it owes, read again while it owes little, or stop reading. */
static void advance(struct server *s, struct uconn *c)
{
    unsigned owed = s->m.multishot ? c->owed.n : c->len > c->sent;
    if (c->why || (c->eof && owed == 0)) {
        if (!c->receiving && !c->sending && !c->shutting)
            uconn_drop(&s->conns, c);
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
        uconn_touch(&s->conns, c);
        do_request_work((size_t)res);   /* --work-us, --block-us: the whole ring waits */
    } else if (res == -ENOBUFS && !c->why) {   /* the ring is empty: wait for buffers */
        s->conns.enobufs++;
        starved_add(&s->conns, c);
    } else if (res == 0)
        c->eof = 1;
    else if (res != -ECANCELED)
        uconn_shut(&s->conns, c, res == -ECONNRESET ? "reset" : "error");
    advance(s, c);
}

static void on_send(struct server *s, struct uconn *c, int res)
{
    c->sending = 0;
    if (res <= 0)
        uconn_shut(&s->conns, c, res == -ECONNRESET || res == -EPIPE ? "reset" : "error");
    else {
        c->st.bytes_out += (uint64_t)res;
        c->sent += (size_t)res;
        uconn_touch(&s->conns, c);
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

/* A new client (or one turned away at --max-conns), and the next ACCEPT.
 * A failed ACCEPT is never resubmitted at once: what failed it (EMFILE,
 * ENOBUFS, ENOMEM, ...) would fail the next one too, and the loop would
 * spin. The next ACCEPT waits for a 10 ms timer. */
static void on_accept(struct server *s, const struct io_uring_cqe *cqe)
{
    int res = cqe->res, more = cqe->flags & IORING_CQE_F_MORE;
    if (res >= 0) {
        struct uconn *c = uconns_adopt(&s->conns, res, s->m.multishot ? 0 : BUF_BYTES,
                                       s->m.multishot ? NULL : &s->peer);
        if (c)
            submit_recv(s, c);
    }
    if (more || s->conns.stopping)
        return;                /* still armed (multishot), or no more wanted */
    if (res >= 0)
        submit_accept(s);      /* always one ACCEPT pending */
    else {
        accept_failed(&s->conns, s->listen_fd, -res, ACCEPT_RETRY_MS);
        ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, &accept_retry, 1, TAG_ACCEPT_RETRY);
    }
}

static void on_tick(struct server *s)
{
    uconns_end_idle(&s->conns);
    if (!s->conns.stopping)
        ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, &tick, 1, TAG_TICK);
}

/* Buffers came back: read again from as many starved connections. */
static void feed_starved(struct server *s)
{
    struct uconn *c;
    for (unsigned n = s->bufs.free; n > 0 && (c = starved_take(&s->conns)); n--)
        advance(s, c);
}

/* Take what the kernel has posted, dispatching each CQE on its user_data.
 * At most one CQ's worth, so that a stop request is seen in between. */
static void reap(struct server *s)
{
    struct io_uring_cqe cqe;
    for (int n = 0; n < CQ_ENTRIES && ring_next(&s->r, &cqe); n++) {
        struct uconn *c = (struct uconn *)(uintptr_t)(cqe.user_data & ~(uint64_t)(OP_SEND | OP_SHUT));
        switch (cqe.user_data) {
        case TAG_ACCEPT:       on_accept(s, &cqe); break;
        case TAG_TICK:         on_tick(s); break;
        case TAG_ACCEPT_RETRY: if (!s->conns.stopping) submit_accept(s); break;
        case TAG_IGNORE:       break;
        default:
            if (cqe.user_data & OP_SHUT)
                c->shutting = 0, advance(s, c);
            else if (cqe.user_data & OP_SEND)
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
    shutdown(s->listen_fd, SHUT_RDWR);   /* the port is free once we exit */
    uconns_stop(&s->conns);
    ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, &drain_limit, 1, TAG_TICK);
    double deadline = now_sec() + 1.0;
    while (s->conns.live > 0 && now_sec() < deadline && ring_enter(&s->r, 1) == 0)
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

    s.conns = (struct uconns){.r = &s.r, .bufs = s.m.multishot ? &s.bufs : NULL, .o = &o,
                              .fixed_files = s.m.fixed_files};
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
    uconns_print_stopped(&s.conns, o.name);
    return 0;
}
