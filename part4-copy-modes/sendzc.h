/*
 * sendzc.h - the send-zc mode of lesson 4: zero-copy sends through an
 * io_uring (common/uring.c), accounted like MSG_ZEROCOPY's (zerocopy.h).
 *
 * IORING_OP_SENDMSG_ZC is sendmsg(MSG_ZEROCOPY) as a ring operation: the
 * kernel sends from our pages, and says when it is done with them. Each
 * submission brings two completions with its user_data:
 *   1. the send's result (bytes, or -errno), flagged IORING_CQE_F_MORE
 *      when a notification is still to come;
 *   2. later, that notification, flagged IORING_CQE_F_NOTIF; with
 *      IORING_SEND_ZC_REPORT_USAGE its res has IORING_NOTIF_USAGE_ZC_COPIED
 *      set when the kernel copied the data after all.
 * Only after (2) may the buffer change. A result flagged F_MORE takes the
 * pool's next id (zc_sent), and its notification completes that id
 * (zc_complete): sends, completions and copies are counted exactly as for
 * MSG_ZEROCOPY, and zc_take_free() and zc_wait_below() work unchanged.
 *
 * One small ring per connection, made when the connection is accepted and
 * used only by its thread. A ring is meant to have one submitter: shared
 * between threads it would need a lock around every submission and a way
 * to route each notification to the thread whose buffer it frees. Its own
 * ring keeps every completion with the one thread that owns the buffers,
 * for one more descriptor per connection (like sendfile's memory file).
 */
#ifndef SENDZC_H
#define SENDZC_H

#include "message.h"
#include "uring.h"
#include "zerocopy.h"

#include <stddef.h>
#include <sys/socket.h>

struct sendzc {
    struct ring r;
    int fd, open;
    struct zc_pool *zc;
    /* The send in flight: the kernel may read mh and iov until its result. */
    struct msghdr mh;
    struct iovec iov[FIELDS];
    int pending, slot, res, early;
    uint32_t id;
};

/* At start-up: can this kernel do it? If not, say why (which feature,
 * which kernel) on stderr and exit 1. */
void sendzc_check(const char *name);

/* A ring for the connection on fd, its notifications counted in *z (which
 * this resets). 0, or -1 with errno set (EMFILE: out of descriptors). */
int sendzc_open(struct sendzc *s, int fd, struct zc_pool *z);

/* One SENDMSG_ZC of cnt iovec entries from buffer `slot` of the pool, and
 * wait for its result (up to timeout_ms, < 0: no limit). NULL when it
 * sent *sent bytes (a part of them is normal; 0 when the socket was full
 * and is writable again), else why the connection ends; then nothing is
 * in flight but notifications. */
const char *sendzc_send(struct sendzc *s, const struct iovec *iov, int cnt, int slot,
                        int timeout_ms, size_t *sent);

/* Close the ring (if open): the kernel cancels what is still pending. */
void sendzc_close(struct sendzc *s);

#endif
