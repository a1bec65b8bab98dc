/*
 * part3-multiplexing/server_uring.c - completion-based I/O with io_uring.
 *
 * Lesson 3, the end. select, poll and epoll are READINESS interfaces: the
 * kernel says "you may read now", then we make the read() call ourselves.
 * io_uring is a COMPLETION interface: we hand the kernel the whole
 * operation ("receive into this buffer", "send these bytes") and later
 * collect its result. No system call per operation: requests and results
 * travel through two rings of memory shared with the kernel,
 *
 *   the submission queue (SQ): we write entries (SQEs) at its tail,
 *   the completion queue (CQ): the kernel writes results (CQEs) at its tail.
 *
 * The loop in main() is the whole pattern: one io_uring_enter() submits
 * every SQE we filled and sleeps until results come; reap() then
 * dispatches each CQE on its user_data, the tag we gave its operation (a
 * connection, the accept, a timer), and the handler submits what follows.
 * uring.c holds the plumbing under it, in raw system calls (no liburing):
 * mapping the rings and ordering the stores to them.
 *
 * Per connection exactly one operation is in flight:
 *   RECV into its buffer -> SEND what came -> (short send: SEND the rest)
 *   -> RECV ... ; a result of 0 or an error closes it.
 * The price of completions: a buffer is committed to every pending RECV,
 * idle or not (readiness servers need none while a client is idle).
 * Backpressure comes free: we never RECV again before the SEND finished.
 * Idle or stopping connections are shut down (shutdown()); their pending
 * operation then completes, and we close them there.
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
#define TICK_MS         200     /* a periodic timer: idle sweep, shedding */
#define ACCEPT_RETRY_MS 10      /* the pause after an ACCEPT failed */

/* The user_data of the operations that are not a connection's. */
enum { TAG_ACCEPT = 1, TAG_TICK, TAG_ACCEPT_RETRY };

/* One client; its address is the user_data of its operations. The kernel
 * fills buf while a RECV is pending, and sends buf[sent..len) for a SEND. */
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
    enum { ACCEPT_PENDING, ACCEPT_PAUSED, ACCEPT_RETRY_WAIT } accept;
    struct uconn *oldest, *newest;  /* every live connection */
    struct sockaddr_storage peer;   /* filled by the pending ACCEPT */
    socklen_t peer_len;
    unsigned long accepted, refused, idle_closed, accept_errors;
    unsigned long long bytes;
};

/* ---- submissions ----------------------------------------------------------- */

static void submit_accept(struct server *s)
{
    s->accept = ACCEPT_PENDING;
    s->peer_len = sizeof s->peer;
    struct io_uring_sqe *sqe = ring_sqe(&s->r, IORING_OP_ACCEPT, s->listen_fd,
                                        &s->peer, 0, TAG_ACCEPT);
    sqe->addr2 = (uint64_t)(uintptr_t)&s->peer_len;
    sqe->accept_flags = SOCK_CLOEXEC;
}

/* A timer: its CQE (res -ETIME) comes after *delay. The kernel reads the
 * delay when it takes the SQE, at the next ring_enter(): hence static. */
static struct __kernel_timespec tick = {.tv_nsec = TICK_MS * 1000000L},
    accept_retry = {.tv_nsec = ACCEPT_RETRY_MS * 1000000L}, drain_limit = {.tv_sec = 1};

static void submit_timer(struct server *s, struct __kernel_timespec *delay, uint64_t tag)
{
    ring_sqe(&s->r, IORING_OP_TIMEOUT, -1, delay, 1, tag);
}

static void submit_recv(struct server *s, struct uconn *c)
{
    c->op = IORING_OP_RECV;
    ring_sqe(&s->r, IORING_OP_RECV, c->fd, c->buf, sizeof c->buf, (uintptr_t)c);
}

static void submit_send(struct server *s, struct uconn *c)
{
    c->op = IORING_OP_SEND;
    ring_sqe(&s->r, IORING_OP_SEND, c->fd, c->buf + c->sent,
             (unsigned)(c->len - c->sent), (uintptr_t)c)->msg_flags = MSG_NOSIGNAL;
}

/* ---- the list of live connections, oldest activity first ------------------ */

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
    if (c->closing)
        return;
    c->closing = 1;
    c->why = why;
    shutdown(c->fd, SHUT_RDWR);
}

static void drop(struct server *s, struct uconn *c, const char *why)
{
    unlink_conn(s, c);
    s->bytes += c->st.bytes_out;
    log_conn(s->o, c->fd, &c->st, c->why ? c->why : why);
    close(c->fd);
    free(c);
    s->live--;
    if (s->accept == ACCEPT_PAUSED && !s->stopping)
        submit_accept(s);      /* a descriptor is free again */
}

/* ---- out of descriptors ------------------------------------------------------- */

/* refuse_client() accepts a waiting client with a spare descriptor and
 * closes it; it needs a non-blocking listening socket for that moment. */
static void refuse_one(int listen_fd)
{
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return;
    refuse_client(listen_fd);
    fcntl(listen_fd, F_SETFL, fl);
}

static void shed_waiting(struct server *s)
{
    struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
    for (int k = 0; k < 64 && poll(&p, 1, 0) > 0; k++) {
        s->refused++;
        refuse_one(s->listen_fd);
    }
}

/* ---- completions ---------------------------------------------------------------- */

/* A failed ACCEPT is never resubmitted at once: whatever failed it (no
 * descriptor, ENOBUFS, ENOMEM) would fail the next one, and we would spin.
 * Accept (IORING_OP_ACCEPT too) takes a descriptor number BEFORE it looks
 * for a client, so at EMFILE it fails at once even with nobody waiting:
 * then accepting pauses until a connection closes, and meanwhile each tick
 * turns away the clients waiting (they see a close, not a hang). Any other
 * error: a timer, and the ACCEPT again after it, at most 100 per second. */
static void accept_failed(struct server *s, int err)
{
    static double last_log;
    if (err == EMFILE || err == ENFILE) {
        s->accept = ACCEPT_PAUSED;
        shed_waiting(s);
        return;
    }
    s->accept_errors++;
    log_ratelimited(&last_log, "accept: %s: retrying every %d ms", strerror(err),
                    ACCEPT_RETRY_MS);
    s->accept = ACCEPT_RETRY_WAIT;
    submit_timer(s, &accept_retry, TAG_ACCEPT_RETRY);
}

static void on_accept(struct server *s, int res)
{
    if (res < 0) {
        if (!s->stopping)
            accept_failed(s, -res);
        return;
    }
    struct uconn *c = NULL;
    if (s->live >= s->o->max_conns || s->stopping || !(c = calloc(1, sizeof *c))) {
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
    } else {
        c->st.bytes_out += (uint64_t)res;
        c->sent += (size_t)res;
    }
    if (c->sent < c->len)
        submit_send(s, c);     /* what came in, or the rest of a short send */
    else
        submit_recv(s, c);
}

static void on_tick(struct server *s)
{
    double now = now_sec();
    int timeout = s->o->idle_timeout;
    for (struct uconn *c = s->oldest; timeout > 0 && c && now - c->last_active >= timeout;
         c = c->newer)
        if (!c->closing) {
            s->idle_closed++;
            shut(c, "idle");
        }
    if (s->accept == ACCEPT_PAUSED)
        shed_waiting(s);
    if (!s->stopping)
        submit_timer(s, &tick, TAG_TICK);
}

/* Take what the kernel has posted, each CQE dispatched on its user_data.
 * At most one CQ's worth, so that a stop request is seen in between. */
static void reap(struct server *s)
{
    struct io_uring_cqe cqe;
    for (int n = 0; n < CQ_ENTRIES && ring_next(&s->r, &cqe); n++) {
        if (cqe.user_data == TAG_ACCEPT)
            on_accept(s, cqe.res);
        else if (cqe.user_data == TAG_TICK)
            on_tick(s);
        else if (cqe.user_data == TAG_ACCEPT_RETRY) {
            if (!s->stopping)
                submit_accept(s);
        } else
            on_conn(s, (struct uconn *)(uintptr_t)cqe.user_data, cqe.res);
    }
}

/* Stop: end every connection and collect their last results, for at most
 * a second (a one-off timer wakes the wait by then). */
static void drain(struct server *s)
{
    s->stopping = 1;
    for (struct uconn *c = s->oldest; c; c = c->newer)
        shut(c, "shutdown");
    submit_timer(s, &drain_limit, TAG_TICK);
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
    ring_setup(&s.r, o.name, SQ_ENTRIES, CQ_ENTRIES);
    s.listen_fd = listen_socket(&o, 0);   /* blocking: an ACCEPT waits in the kernel */
    refuse_one(s.listen_fd);   /* nobody waits yet: this reserves its spare descriptor */
    print_banner(o.name, s.listen_fd);

    submit_accept(&s);
    submit_timer(&s, &tick, TAG_TICK);
    while (!stop_requested) {
        if (ring_enter(&s.r, 1) != 0)     /* submit all, wait for a completion */
            die("io_uring_enter");
        reap(&s);
    }
    drain(&s);
    int unfinished = s.live;
    ring_close(&s.r);          /* cancels what is still pending */
    while (s.oldest)
        drop(&s, s.oldest, "shutdown");
    close(s.listen_fd);
    printf("%s: stopped: connections=%lu refused=%lu idle_closed=%lu accept_errors=%lu "
           "bytes=%llu unfinished=%d\n", o.name, s.accepted, s.refused, s.idle_closed,
           s.accept_errors, s.bytes, unfinished);
    return 0;
}
