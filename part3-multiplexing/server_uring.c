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
 *   the completion queue (CQ): the kernel writes results (CQEs) at its tail,
 *
 * and one io_uring_enter() both submits what we queued and waits for
 * results. We use the raw system calls (no liburing) so that every step
 * is in front of you: map the rings, order the stores with release and
 * acquire barriers, submit, wait, reap.
 *
 * Per connection exactly one operation is in flight:
 *   RECV into its buffer -> SEND what came -> (short send: SEND the rest)
 *   -> RECV ... ; a result of 0 or an error closes it.
 * The price of completions: a buffer must be committed to every pending
 * RECV, idle or not (readiness servers need none while a client is idle).
 * Backpressure comes free: we never RECV again before the SEND finished.
 * Idle or stopping connections are shut down (shutdown()); their pending
 * operation then completes, and we close them there.
 *
 * When io_uring is unavailable (old kernel, kernel.io_uring_disabled,
 * a seccomp filter), the server says so and exits 1.
 */
#include "common.h"
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SQ_ENTRIES   4096
#define CQ_ENTRIES   65536       /* room for a result from every connection */
#define TICK_MS      200         /* a periodic timeout: idle sweep, stop check */

enum { TAG_ACCEPT = 1, TAG_TICK = 2 };   /* user_data that is not a conn */

struct ring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, sq_entries;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    unsigned queued;             /* SQEs written since the last enter */
};

struct server {
    const struct server_opts *o;
    struct ring r;
    int listen_fd, live, stopping;
    int accept_paused;         /* out of descriptors: no ACCEPT pending */
    struct registry idle;
    struct sockaddr_storage peer;   /* filled by the pending ACCEPT */
    socklen_t peer_len;
    unsigned long accepted, refused, idle_closed;
    unsigned long long bytes;
};

/* ---- the ring: set-up and the two queues ------------------------------------ */

static int sys_io_uring_setup(unsigned entries, struct io_uring_params *p)
{
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_io_uring_enter(int fd, unsigned submit, unsigned wait, unsigned flags)
{
    return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

static void unavailable(const char *name, int err)
{
    char why[64] = "";
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    int v;
    if (f && fscanf(f, "%d", &v) == 1 && v != 0)
        snprintf(why, sizeof why, " (kernel.io_uring_disabled=%d)", v);
    if (f)
        fclose(f);
    fprintf(stderr, "%s: io_uring is not available here: io_uring_setup: %s%s\n",
            name, strerror(err), why);
    exit(1);
}

static void *map(int fd, size_t len, off_t what)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, what);
    if (p == MAP_FAILED)
        die("mmap of the io_uring rings");
    return p;
}

static void ring_setup(struct ring *r, const char *name)
{
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES};
    r->fd = sys_io_uring_setup(SQ_ENTRIES, &p);
    if (r->fd < 0)
        unavailable(name, errno);
    if (!(p.features & IORING_FEAT_NODROP))
        fprintf(stderr, "%s: warning: old kernel, completions may be dropped "
                        "if the queue overflows\n", name);
    /* The SQ ring (indices), the CQ ring (with the CQEs inline), and the
     * array of SQEs are three regions of the ring's file. */
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = map(r->fd, sq_len, IORING_OFF_SQ_RING);
    char *cq = map(r->fd, cq_len, IORING_OFF_CQ_RING);
    r->sq_head = (unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->sq_entries = p.sq_entries;
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    r->sqes = map(r->fd, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
}

/* Hand what we queued to the kernel; with `wait`, sleep for a result. */
static int ring_enter(struct ring *r, int wait)
{
    int n = sys_io_uring_enter(r->fd, r->queued, wait ? 1 : 0,
                               wait ? IORING_ENTER_GETEVENTS : 0);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN || errno == EBUSY ? 0 : -1;
    r->queued -= (unsigned)n < r->queued ? (unsigned)n : r->queued;
    return 0;
}

/* A free SQE at the tail, zeroed. We alone write the tail; the kernel
 * moves the head as it consumes entries, so read the head with acquire. */
static struct io_uring_sqe *sqe_get(struct ring *r)
{
    unsigned tail = *r->sq_tail;
    while (tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) >= r->sq_entries) {
        if (ring_enter(r, 0) != 0)
            die("io_uring_enter");      /* the ring itself is broken */
    }
    unsigned idx = tail & *r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    r->sq_array[idx] = idx;
    return sqe;
}

/* Publish the SQE: the release store orders its contents before the new
 * tail, so the kernel never sees a half-written entry. */
static void sqe_push(struct ring *r)
{
    __atomic_store_n(r->sq_tail, *r->sq_tail + 1, __ATOMIC_RELEASE);
    r->queued++;
}

static void submit_op(struct ring *r, int op, int fd, void *buf, unsigned len, uint64_t tag)
{
    struct io_uring_sqe *sqe = sqe_get(r);
    sqe->opcode = (uint8_t)op;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buf;
    sqe->len = len;
    if (op == IORING_OP_SEND)
        sqe->msg_flags = MSG_NOSIGNAL;
    sqe->user_data = tag;
    sqe_push(r);
}

/* ---- the server --------------------------------------------------------------- */

static void submit_accept(struct server *s)
{
    struct io_uring_sqe *sqe = sqe_get(&s->r);
    s->peer_len = sizeof s->peer;
    sqe->opcode = IORING_OP_ACCEPT;
    sqe->fd = s->listen_fd;
    sqe->addr = (uint64_t)(uintptr_t)&s->peer;
    sqe->addr2 = (uint64_t)(uintptr_t)&s->peer_len;
    sqe->accept_flags = SOCK_CLOEXEC;
    sqe->user_data = TAG_ACCEPT;
    sqe_push(&s->r);
}

static void submit_tick(struct server *s)
{
    static struct __kernel_timespec ts = {.tv_nsec = TICK_MS * 1000000L};
    struct io_uring_sqe *sqe = sqe_get(&s->r);
    sqe->opcode = IORING_OP_TIMEOUT;
    sqe->addr = (uint64_t)(uintptr_t)&ts;
    sqe->len = 1;
    sqe->user_data = TAG_TICK;
    sqe_push(&s->r);
}

static void submit_recv(struct server *s, struct conn *c)
{
    c->owed_len = c->owed_off = 0;
    submit_op(&s->r, IORING_OP_RECV, c->fd, c->owed, CONN_CHUNK, (uint64_t)(uintptr_t)c);
}

static void submit_send(struct server *s, struct conn *c)
{
    submit_op(&s->r, IORING_OP_SEND, c->fd, c->owed + c->owed_off,
              (unsigned)(c->owed_len - c->owed_off), (uint64_t)(uintptr_t)c);
}

/* Ask a connection to end: its pending operation completes, then it closes. */
static void shut(struct server *s, struct conn *c, const char *why)
{
    if (c->in_list)
        return;                /* already asked */
    c->in_list = 1;
    c->why = why;
    registry_remove(&s->idle, c);
    shutdown(c->fd, SHUT_RDWR);
}

static void submit_accept(struct server *s);

static void drop(struct server *s, struct conn *c, const char *why)
{
    if (!c->in_list)
        registry_remove(&s->idle, c);
    s->bytes += c->st.bytes_out;
    conn_close(s->o, c, c->why ? c->why : why);
    s->live--;
    if (s->accept_paused && !s->stopping) {   /* a descriptor is free again */
        s->accept_paused = 0;
        submit_accept(s);
    }
}

/* The out-of-descriptors path: turn one waiting client away with
 * accept_client's spare-descriptor trick, which needs a non-blocking socket.
 *
 * Beware: accept (and IORING_OP_ACCEPT) takes a descriptor number BEFORE it
 * looks for a connection, so at EMFILE an ACCEPT fails at once even with
 * nobody waiting. Resubmitting it there would spin; instead we pause
 * accepting until a connection closes, and meanwhile, on every tick, turn
 * away the clients that are waiting (they see a close, not a hang). */
static void shed_client(struct server *s)
{
    struct sockaddr_storage peer;
    if (set_nonblocking(s->listen_fd) != 0)
        return;
    int fd = accept_client(s->listen_fd, &peer, 1);
    if (fd >= 0)
        close(fd);             /* a descriptor came free meanwhile: still refuse */
    int fl = fcntl(s->listen_fd, F_GETFL);
    if (fl >= 0)
        fcntl(s->listen_fd, F_SETFL, fl & ~O_NONBLOCK);
}

static void shed_waiting(struct server *s)
{
    for (int k = 0; k < 64; k++) {
        struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return;
        s->refused++;
        shed_client(s);
    }
}

static void on_accept(struct server *s, int res)
{
    if (res >= 0) {
        struct conn *c = NULL;
        if (s->live >= s->o->max_conns || s->stopping ||
            !(c = conn_new(res, &s->peer)) || !(c->owed = malloc(CONN_CHUNK))) {
            free(c);
            close(res);        /* at the cap: accepted and closed at once */
            s->refused++;
        } else {
            set_nodelay(res);  /* what accept_client does for the others */
            s->live++;
            s->accepted++;
            registry_touch(&s->idle, c, now_sec());
            submit_recv(s, c);
        }
    } else if (res == -EMFILE || res == -ENFILE) {
        s->accept_paused = 1;
        shed_waiting(s);
        return;
    }
    if (!s->stopping)
        submit_accept(s);      /* one ACCEPT pending, unless paused */
}

/* A RECV or SEND of connection c completed with result res. */
static void on_conn(struct server *s, struct conn *c, int res)
{
    if (res <= 0) {
        const char *why = res == 0 ? "eof" : (res == -ECONNRESET || res == -EPIPE)
                                             ? "reset" : "error";
        drop(s, c, why);
        return;
    }
    if (!c->in_list)
        registry_touch(&s->idle, c, now_sec());
    if (c->owed_len == 0) {            /* a RECV came back with res bytes */
        c->st.reads++;
        c->st.bytes_in += (uint64_t)res;
        c->owed_len = (size_t)res;
        c->owed_off = 0;
        submit_send(s, c);
        return;
    }
    c->st.bytes_out += (uint64_t)res;  /* a SEND took res bytes */
    c->owed_off += (size_t)res;
    if (c->owed_off < c->owed_len)
        submit_send(s, c);             /* a short send: send the rest */
    else if (c->in_list)
        drop(s, c, c->why);            /* asked to end, now that all is sent */
    else
        submit_recv(s, c);
}

/* Take every result the kernel has posted. The acquire load of the tail
 * makes the CQEs before it visible; the release store of the head gives
 * their slots back. */
static void reap(struct server *s)
{
    struct ring *r = &s->r;
    unsigned head = *r->cq_head;
    unsigned tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
        struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
        uint64_t tag = cqe->user_data;
        int res = cqe->res;
        __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
        if (tag == TAG_ACCEPT)
            on_accept(s, res);
        else if (tag == TAG_TICK) {
            if (s->accept_paused)
                shed_waiting(s);
            if (!s->stopping)
                submit_tick(s);
        } else
            on_conn(s, (struct conn *)(uintptr_t)tag, res);
    }
}

static void close_idle(struct server *s)
{
    struct conn *c;
    double now = now_sec();
    while ((c = registry_expired(&s->idle, now, s->o->idle_timeout)) != NULL) {
        s->idle_closed++;
        shut(s, c, "idle");
    }
}

/* Stop: end every connection, and collect their last results (bounded). */
static void drain(struct server *s)
{
    s->stopping = 1;
    while (s->idle.oldest)
        shut(s, s->idle.oldest, "shutdown");
    double deadline = now_sec() + 1.0;
    while (s->live > 0 && now_sec() < deadline) {
        if (ring_enter(&s->r, 1) != 0)
            break;
        reap(s);
    }
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "uring"};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();

    static struct server s;
    s.o = &o;
    ring_setup(&s.r, o.name);
    /* Blocking: a pending ACCEPT then waits inside the kernel. */
    s.listen_fd = listen_socket(&o, 0);
    /* accept_client keeps a spare descriptor for the EMFILE path; one call
     * now (nothing is waiting yet) reserves it while descriptors are free. */
    shed_client(&s);
    s.refused = 0;
    print_banner(o.name, s.listen_fd);

    submit_accept(&s);
    submit_tick(&s);
    while (!stop_requested) {
        if (ring_enter(&s.r, 1) != 0)
            die("io_uring_enter");
        reap(&s);
        close_idle(&s);
    }
    drain(&s);
    close(s.r.fd);             /* cancels what is still pending */
    close(s.listen_fd);
    printf("%s: stopped: connections=%lu refused=%lu idle_closed=%lu bytes=%llu "
           "unfinished=%d\n", o.name, s.accepted, s.refused, s.idle_closed, s.bytes, s.live);
    return 0;
}
