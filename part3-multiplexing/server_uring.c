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
 * Per connection one operation is in flight: RECV into its buffer, SEND
 * what came (after a short send, SEND the rest), RECV again; 0 or an
 * error closes it. Backpressure is free: no RECV before the SEND is done.
 * The price: a buffer is committed to every pending RECV, idle or not
 * (readiness servers need none for an idle client). To end a connection
 * we shutdown() it; its pending operation completes, we close it there.
 */
#include "common.h"
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SQ_ENTRIES      4096
#define CQ_ENTRIES      65536   /* room for a result from every connection */
#define BUF_BYTES       16384   /* one RECV: what each connection commits */
#define TICK_MS         200     /* a periodic timer: the idle sweep */
#define ACCEPT_RETRY_MS 10      /* the pause after a failed ACCEPT */

/* The user_data of the operations that are not a connection's. */
enum { TAG_ACCEPT = 1, TAG_TICK, TAG_ACCEPT_RETRY };

/* Delays of TIMEOUT operations (a CQE after the delay, res -ETIME). The
 * kernel reads one when it takes the SQE, at the next io_uring_enter(). */
static struct __kernel_timespec tick = {.tv_nsec = TICK_MS * 1000000L},
    accept_retry = {.tv_nsec = ACCEPT_RETRY_MS * 1000000L}, drain_limit = {.tv_sec = 1};

/* One client. The kernel fills buf while a RECV is pending, and sends
 * buf[sent..len) while a SEND is. */
struct uconn {
    int fd;
    int op;                    /* the one in flight: IORING_OP_RECV or _SEND */
    int closing;               /* shut down: close at its next completion */
    const char *why;           /* why it is closing, for the log line */
    size_t len, sent;          /* bytes received into buf; of those, sent */
    double last_active;        /* now_sec() of its last completion */
    struct uconn *older, *newer;   /* the server's list, by last activity */
    struct conn_stats st;
    char buf[BUF_BYTES];
};

struct server {
    const struct server_opts *o;
    struct ring r;
    int listen_fd, live, stopping;
    struct uconn *oldest, *newest;  /* every live connection */
    struct sockaddr_storage peer;   /* filled by the pending ACCEPT */
    socklen_t peer_len;
    unsigned long accepted, refused, idle_closed, accept_errors;
    unsigned long long bytes;
};

/* Each submit fills an SQE; the next io_uring_enter() hands it over. */
static void submit_accept(struct server *s)
{
    s->peer_len = sizeof s->peer;
    struct io_uring_sqe *sqe = ring_sqe(&s->r, IORING_OP_ACCEPT, s->listen_fd,
                                        &s->peer, 0, TAG_ACCEPT);
    sqe->addr2 = (uint64_t)(uintptr_t)&s->peer_len;
    sqe->accept_flags = SOCK_CLOEXEC;
}

static void submit_recv(struct server *s, struct uconn *c)
{
    c->op = IORING_OP_RECV;
    ring_sqe(&s->r, IORING_OP_RECV, c->fd, c->buf, sizeof c->buf, (uintptr_t)c);
}

/* The live connections, oldest activity first: the idle sweep stops at
 * the first one that is not due. */
static void unlink_conn(struct server *s, struct uconn *c)
{
    *(c->older ? &c->older->newer : &s->oldest) = c->newer;
    *(c->newer ? &c->newer->older : &s->newest) = c->older;
    c->older = c->newer = NULL;
}

static void append_conn(struct server *s, struct uconn *c)
{
    c->last_active = now_sec();
    c->older = s->newest;
    *(s->newest ? &s->newest->newer : &s->oldest) = c;
    s->newest = c;
}

/* Ask a connection to end: its pending operation completes, then it closes. */
static void shut(struct uconn *c, const char *why)
{
    if (!c->closing) {
        c->closing = 1;
        c->why = why;
        shutdown(c->fd, SHUT_RDWR);
    }
}

static void drop(struct server *s, struct uconn *c, const char *why)
{
    unlink_conn(s, c);
    s->bytes += c->st.bytes_out;
    log_conn(s->o, c->fd, &c->st, c->why ? c->why : why);
    close(c->fd);
    free(c);
    s->live--;
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

/* At most 16 per failed ACCEPT: 1,600 a second at the 10 ms retry. */
static void shed_waiting(struct server *s)
{
    struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
    for (int k = 0; k < 16 && poll(&p, 1, 0) > 0; k++, s->refused++)
        refuse_one(s->listen_fd);
}

/* A failed ACCEPT is never resubmitted at once: what failed it (EMFILE,
 * ENOBUFS, ENOMEM, ...) would fail the next one too, and the loop would
 * spin. The next ACCEPT waits for a 10 ms timer. Accept takes a descriptor
 * number BEFORE it looks for a client, so at EMFILE it fails at once even
 * with nobody waiting; then the clients who do wait are turned away (they
 * see a close, not a hang) until a descriptor is free again. */
static void accept_failed(struct server *s, int err)
{
    static double last_log;
    if (err == EMFILE || err == ENFILE)
        shed_waiting(s);
    else {
        s->accept_errors++;
        log_ratelimited(&last_log, "accept: %s: retrying every %d ms", strerror(err),
                        ACCEPT_RETRY_MS);
    }
    ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, &accept_retry, 1, TAG_ACCEPT_RETRY);
}

static void on_accept(struct server *s, int res)
{
    struct uconn *c = NULL;
    if (res < 0) {
        accept_failed(s, -res);
        return;
    }
    if (s->stopping || s->live >= s->o->max_conns || !(c = calloc(1, sizeof *c))) {
        close(res);            /* at the cap: accepted and closed at once */
        s->refused++;
    } else {
        set_nodelay(res);      /* what accept_client does for the others */
        c->fd = res;
        conn_stats_start(&c->st, &s->peer);
        append_conn(s, c);
        s->live++;
        s->accepted++;
        submit_recv(s, c);
    }
    if (!s->stopping)
        submit_accept(s);      /* always one ACCEPT pending */
}

/* A RECV or SEND of connection c completed with result res. */
static void on_conn(struct server *s, struct uconn *c, int res)
{
    if (res <= 0 || c->closing) {
        drop(s, c, res == 0 ? "eof" : res == -ECONNRESET || res == -EPIPE ? "reset" : "error");
        return;
    }
    unlink_conn(s, c);
    append_conn(s, c);         /* active now: the newest */
    if (c->op == IORING_OP_RECV) {
        c->st.reads++;
        c->st.bytes_in += (uint64_t)res;
        c->len = (size_t)res;
        c->sent = 0;
        do_request_work(c->len);   /* --work-us, --block-us: the whole ring waits */
    } else {
        c->st.bytes_out += (uint64_t)res;
        c->sent += (size_t)res;
    }
    if (c->sent == c->len) {
        submit_recv(s, c);
        return;
    }
    c->op = IORING_OP_SEND;    /* what came in, or the rest of a short send */
    ring_sqe(&s->r, IORING_OP_SEND, c->fd, c->buf + c->sent, (unsigned)(c->len - c->sent),
             (uintptr_t)c)->msg_flags = MSG_NOSIGNAL;
}

static void on_tick(struct server *s)
{
    double now = now_sec();
    int timeout = s->o->idle_timeout;
    for (struct uconn *c = s->oldest; c && timeout > 0 && now - c->last_active >= timeout;
         c = c->newer) {
        s->idle_closed += !c->closing;
        shut(c, "idle");
    }
    if (!s->stopping)
        ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, &tick, 1, TAG_TICK);
}

/* Take what the kernel has posted, dispatching each CQE on its user_data.
 * At most one CQ's worth, so that a stop request is seen in between. */
static void reap(struct server *s)
{
    struct io_uring_cqe cqe;
    for (int n = 0; n < CQ_ENTRIES && ring_next(&s->r, &cqe); n++) {
        switch (cqe.user_data) {
        case TAG_ACCEPT:       on_accept(s, cqe.res); break;
        case TAG_TICK:         on_tick(s); break;
        case TAG_ACCEPT_RETRY: if (!s->stopping) submit_accept(s); break;
        default:               on_conn(s, (struct uconn *)(uintptr_t)cqe.user_data, cqe.res);
        }
    }
}

/* Stop: end every connection and collect their last results, for at most
 * a second (a timer wakes the wait by then). */
static void drain(struct server *s)
{
    s->stopping = 1;
    for (struct uconn *c = s->oldest; c; c = c->newer)
        shut(c, "shutdown");
    ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, &drain_limit, 1, TAG_TICK);
    double deadline = now_sec() + 1.0;
    while (s->live > 0 && now_sec() < deadline && ring_enter(&s->r, 1) == 0)
        reap(s);
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "uring"};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();

    static struct server s;
    s.o = &o;
    ring_setup(&s.r, o.name, SQ_ENTRIES, CQ_ENTRIES);   /* or say why not, exit 1 */
    s.listen_fd = listen_socket(&o, 0);  /* blocking: an ACCEPT waits in the kernel */
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
           "bytes=%llu unfinished=%d\n", o.name, s.accepted, s.refused, s.idle_closed,
           s.accept_errors, s.bytes, s.live);
    return 0;
}
