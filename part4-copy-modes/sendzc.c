/* sendzc.c - zero-copy sends through a ring, per connection (see sendzc.h). */
#include "sendzc.h"
#include "common.h"
#include "sendio.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* Room in the completion queue for every notification still due: the
 * sender waits before it promises more (the queue never overflows). */
#define SQ_ENTRIES 4
#define CQ_ENTRIES 128
#define MAX_DUE (CQ_ENTRIES - 8)
#define CANCEL_TAG UINT64_MAX

static const char *unavailable = "send-zc is not available here";

void sendzc_check(const char *name)
{
    struct ring r;
    if (ring_try_setup(&r, SQ_ENTRIES, CQ_ENTRIES) != 0) {
        fprintf(stderr, "%s: %s: io_uring_setup: %s (io_uring needs Linux 5.1 and "
                "kernel.io_uring_disabled=0)\n", name, unavailable, strerror(errno));
        exit(1);
    }
    /* The kernel checks an entry's opcode and flags when it prepares it,
     * and looks its descriptor up only after that. So on a descriptor
     * that is not open, EBADF means "this send exists, with these flags";
     * EINVAL means the opcode (Linux 6.1) or the usage report (6.2) is
     * unknown to this kernel. */
    char byte = 0;
    struct iovec v = {.iov_base = &byte, .iov_len = 1};
    struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1};
    struct io_uring_sqe *sqe = ring_sqe(&r, IORING_OP_SENDMSG_ZC, -1, &mh, 1, 1);
    sqe->ioprio = IORING_SEND_ZC_REPORT_USAGE;
    int res = -ETIME;
    struct io_uring_cqe cqe;
    for (int i = 0; i < 20 && res == -ETIME; i++) {
        if (ring_enter(&r, i == 0) != 0)
            break;
        while (res == -ETIME && ring_next(&r, &cqe))
            if (!(cqe.flags & IORING_CQE_F_NOTIF))
                res = cqe.res;
        if (res == -ETIME)
            sleep_ms(5);
    }
    ring_close(&r);
    if (res != -EBADF) {
        fprintf(stderr, "%s: %s: IORING_OP_SENDMSG_ZC with IORING_SEND_ZC_REPORT_USAGE "
                "needs Linux 6.2 (the probe got: %s)\n", name, unavailable, strerror(-res));
        exit(1);
    }
}

/* One completion. Results end the send in flight; notifications complete
 * an id. A notification that overtakes its own result waits for it. */
static void on_completion(struct sendzc *s, const struct io_uring_cqe *c)
{
    if (c->user_data == CANCEL_TAG)
        return;
    uint32_t id = (uint32_t)c->user_data;
    if (c->flags & IORING_CQE_F_NOTIF) {
        int copied = ((uint32_t)c->res & IORING_NOTIF_USAGE_ZC_COPIED) != 0;
        if (s->pending && id == s->id)
            s->early = 1 + copied;
        else
            zc_complete(s->zc, id, id, copied);
        return;
    }
    if (!s->pending || id != s->id)
        return;                          /* not ours: nothing else is submitted */
    s->pending = 0;
    s->res = c->res;
    if (c->flags & IORING_CQE_F_MORE) {  /* a notification will follow: an id */
        zc_sent(s->zc, s->slot);
        if (s->early)
            zc_complete(s->zc, id, id, s->early - 1);
    }
    s->early = 0;
}

static void collect(void *arg)
{
    struct sendzc *s = arg;
    struct io_uring_cqe cqe;
    while (ring_next(&s->r, &cqe))
        on_completion(s, &cqe);
}

int sendzc_open(struct sendzc *s, int fd, struct zc_pool *z)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->zc = z;
    if (ring_try_setup(&s->r, SQ_ENTRIES, CQ_ENTRIES) != 0)
        return -1;
    s->open = 1;
    /* The ring's descriptor is readable while completions wait in it. */
    zc_attach(z, fd, &(struct zc_source){.label = "send-zc", .collect = collect,
                                         .arg = s, .wait_fd = s->r.fd, .events = POLLIN});
    return 0;
}

void sendzc_close(struct sendzc *s)
{
    if (s->open)
        ring_close(&s->r);
    s->open = 0;
}

/* Wait on the ring until `done` holds, up to the deadline (< 0: none).
 * 1: it holds; 0: timed out; -1: stopping. */
static int wait_ring(struct sendzc *s, int (*done)(const struct sendzc *), double deadline)
{
    for (;;) {
        collect(s);
        if (done(s))
            return 1;
        int ms = -1;
        if (deadline >= 0 && (ms = (int)((deadline - now_sec()) * 1000)) <= 0)
            return 0;
        int r = wait_fd(s->r.fd, POLLIN, ms);
        if (r <= 0)
            return r;
    }
}

static int result_in(const struct sendzc *s) { return !s->pending; }
static int room_for_more(const struct sendzc *s)
{
    return s->zc->n.sends - s->zc->n.completions < MAX_DUE;
}

/* A send that must end before its result: cancel it, and wait (briefly,
 * bounded even while stopping) for the result that says it is over. */
static void cancel_send(struct sendzc *s)
{
    struct io_uring_sqe *sqe = ring_sqe(&s->r, IORING_OP_ASYNC_CANCEL, -1, NULL, 0,
                                        CANCEL_TAG);
    sqe->addr = s->id;
    ring_enter(&s->r, 0);
    for (int i = 0; i < 40 && s->pending; i++) {
        struct pollfd p = {.fd = s->r.fd, .events = POLLIN};
        if (poll(&p, 1, 25) != 0)
            collect(s);
    }
    /* Still not over: closing the ring cancels it; the buffers stay
     * pinned by the kernel until then, so freeing them is still safe. */
    s->pending = 0;
}

const char *sendzc_send(struct sendzc *s, const struct iovec *iov, int cnt, int slot,
                        int timeout_ms, size_t *sent)
{
    double deadline = timeout_ms >= 0 ? now_sec() + timeout_ms / 1000.0 : -1;
    *sent = 0;
    int r = wait_ring(s, room_for_more, deadline);
    if (r <= 0)
        return r == 0 ? "not reading (idle timeout)" : "stopped";

    memcpy(s->iov, iov, sizeof *iov * (size_t)cnt);
    s->mh = (struct msghdr){.msg_iov = s->iov, .msg_iovlen = (size_t)cnt};
    s->id = s->zc->next_id;              /* the id it takes if it promises a notification */
    s->slot = slot;
    s->pending = 1;
    struct io_uring_sqe *sqe = ring_sqe(&s->r, IORING_OP_SENDMSG_ZC, s->fd, &s->mh, 1, s->id);
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->ioprio = IORING_SEND_ZC_REPORT_USAGE;
    if (ring_enter(&s->r, 0) != 0) {
        int err = errno;
        cancel_send(s);
        return strerror(err);
    }
    /* A full socket buffer does not come back as EAGAIN: the kernel waits
     * for room itself, so this wait is where a client that never reads
     * is caught by the idle timeout. */
    if ((r = wait_ring(s, result_in, deadline)) <= 0) {
        cancel_send(s);
        return r == 0 ? "not reading (idle timeout)" : "stopped";
    }
    if (s->res >= 0) {
        *sent = (size_t)s->res;
        return s->res > 0 ? NULL : "the send took nothing";
    }
    if (s->res == -EAGAIN || s->res == -EINTR) {
        int w = wait_fd(s->fd, POLLOUT, timeout_ms);
        return w > 0 ? NULL : w == 0 ? "not reading (idle timeout)" : "stopped";
    }
    return send_error_reason(-s->res);
}
