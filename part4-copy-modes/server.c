/*
 * part4-copy-modes/server.c - one message, four ways to send it.
 *
 * Lesson 4. The previous lessons were about how many clients a server can
 * serve; this one is about what a single send costs. A message here is a
 * struct of several separately allocated fields (8 by default, like the
 * header, body parts and trailer of a real reply), and the server sends it
 * in the --mode it was started with:
 *
 *   two-copy   memcpy every field into one buffer, then send() it:
 *              copy 1 (fields -> buffer, ours), copy 2 (buffer -> kernel).
 *   one-copy   sendmsg() with an iovec that points at the fields: the kernel
 *              gathers them straight into its socket buffer - one copy.
 *   zero-copy  sendmsg(MSG_ZEROCOPY): the kernel pins our pages and sends
 *              from them. We may not touch a buffer until the kernel says,
 *              through the socket's error queue, that it is done with it,
 *              so the fields live in a small pool of message buffers.
 *   sendfile   the content sits in a memory file (memfd) written once;
 *              sendfile() moves it from the page cache to the socket.
 *              The file is a second descriptor per connection.
 *
 * Each mode is one function: send_two_copy(), send_one_copy(),
 * send_zero_copy(), send_sendfile(). Everything else is the same for all.
 *
 * The protocol (common/stream.h): the client sends a 24-byte request
 * header (size, count or 0 = until I close, a tag); we answer "S4OK" and
 * that many messages, or "S4ER" + a reason and close. The header parser,
 * stream_parse_request(), makes no socket call, so it can be fuzzed.
 *
 * Concurrency is not the lesson here, so it is the simplest honest one:
 * a thread per connection, at most --max-conns of them (more are turned
 * away with an immediate close). Each connection's socket is non-blocking
 * and every wait goes through wait_fd(), bounded by --idle-timeout and
 * woken by SIGTERM, so a client that never reads cannot hold a thread.
 */
#include "common.h"
#include "stream.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- the message: a struct of separately allocated fields --------------- */

#define FIELDS 8

struct message {
    size_t size;
    int nfields;
    struct iovec field[FIELDS];     /* iov_base: its own malloc'd block */
};

/* Split `size` into up to FIELDS fields, each allocated on its own, and
 * fill them with the content of messages of this tag (stream.h). */
static int message_alloc(struct message *m, size_t size, uint32_t tag)
{
    m->size = size;
    m->nfields = size < FIELDS ? (int)size : FIELDS;
    size_t off = 0;
    for (int k = 0; k < m->nfields; k++) {
        size_t len = size / (size_t)m->nfields + ((size_t)k < size % (size_t)m->nfields);
        m->field[k].iov_len = len;
        m->field[k].iov_base = malloc(len);
        if (!m->field[k].iov_base) {
            m->nfields = k;
            return -1;
        }
        stream_fill(m->field[k].iov_base, len, tag, off);
        off += len;
    }
    return 0;
}

static void message_free(struct message *m)
{
    for (int k = 0; k < m->nfields; k++)
        free(m->field[k].iov_base);
    m->nfields = 0;
    m->size = 0;
}

/* Write message number `seq` into the first bytes, which may span fields
 * when the fields are tiny. This is the only part that changes per message. */
static void message_stamp(struct message *m, uint64_t seq)
{
    uint8_t stamp[STREAM_STAMP_LEN];
    stream_stamp(stamp, sizeof stamp, seq);
    size_t i = 0;
    for (int k = 0; k < m->nfields && i < sizeof stamp && i < m->size; k++) {
        uint8_t *f = m->field[k].iov_base;
        for (size_t j = 0; j < m->field[k].iov_len && i < sizeof stamp; j++)
            f[j] = stamp[i++];
    }
}

/* ---- per connection ------------------------------------------------------ */

enum mode { TWO_COPY, ONE_COPY, ZERO_COPY, SENDFILE };
static const char *const mode_names[] = {"two-copy", "one-copy", "zero-copy", "sendfile"};
static enum mode mode;

/* Zero-copy: a pool of message buffers. Each one remembers the range of
 * send ids (the kernel numbers every successful MSG_ZEROCOPY send call
 * 0, 1, 2, ... per socket) that still reference it. */
#define POOL_MAX    8
#define POOL_BYTES  (4u << 20)        /* per connection, at least 2 buffers */

struct zc_slot {
    struct message msg;
    uint32_t first_id, ids, done;    /* ids [first_id, first_id + ids) */
};

struct zc_counters {
    uint64_t sends, completions, copied, enobufs, gaps, unfinished, refused;
};

struct conn {
    int fd;
    const struct server_opts *o;
    struct conn_stats st;
    uint64_t seq, messages, requests;
    uint32_t tag, size;               /* the content currently prepared   */
    int ready;
    struct message msg;               /* two-copy, one-copy               */
    uint8_t *flat;                    /* two-copy: the one buffer         */
    int memfd, memfd_filled;          /* sendfile                         */
    struct zc_slot pool[POOL_MAX];    /* zero-copy                        */
    int nslots, zc_on;
    uint32_t next_id, expect_id;
    struct zc_counters zc;
};

static int idle_ms(const struct conn *c)
{
    return c->o->idle_timeout > 0 ? c->o->idle_timeout * 1000 : -1;
}

/* Wait until the socket can take more (or has completions to read).
 * NULL when it can, else why the connection ends. */
static const char *wait_writable(struct conn *c)
{
    int r = wait_fd(c->fd, POLLOUT, idle_ms(c));
    return r > 0 ? NULL : r == 0 ? "not reading (idle timeout)" : "stopped";
}

static const char *send_error_reason(int err)
{
    return err == EPIPE || err == ECONNRESET ? "closed by client" : strerror(err);
}

/* Send n bytes from one buffer on the non-blocking socket; `more` corks
 * them (MSG_MORE) into the segment of whatever is sent next. */
static const char *send_all(struct conn *c, const void *buf, size_t n, int more)
{
    const uint8_t *p = buf;
    while (n > 0) {
        if (stop_requested)
            return "stopped";
        ssize_t w = send_nosignal(c->fd, p, n, MSG_DONTWAIT | (more ? MSG_MORE : 0));
        if (w > 0) {
            p += w, n -= (size_t)w;
            c->st.bytes_out += (uint64_t)w;
        } else if (w < 0 && errno == EAGAIN) {
            const char *why = wait_writable(c);
            if (why)
                return why;
        } else {
            return send_error_reason(errno);
        }
    }
    return NULL;
}

/* After sendmsg() took `done` bytes, move the iovec past them. */
static void iov_advance(struct iovec **iov, int *cnt, size_t done)
{
    while (*cnt > 0 && done >= (*iov)->iov_len) {
        done -= (*iov)->iov_len;
        (*iov)++, (*cnt)--;
    }
    if (*cnt > 0) {
        (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + done;
        (*iov)->iov_len -= done;
    }
}

/* ---- mode 1: two copies ---------------------------------------------------- */

static const char *send_two_copy(struct conn *c)
{
    message_stamp(&c->msg, c->seq);
    uint8_t *p = c->flat;
    for (int k = 0; k < c->msg.nfields; k++) {             /* copy 1: ours */
        memcpy(p, c->msg.field[k].iov_base, c->msg.field[k].iov_len);
        p += c->msg.field[k].iov_len;
    }
    return send_all(c, c->flat, c->msg.size, 0);           /* copy 2: the kernel's */
}

/* ---- mode 2: one copy: the kernel gathers the fields ----------------------- */

static const char *send_one_copy(struct conn *c)
{
    message_stamp(&c->msg, c->seq);
    struct iovec iov[FIELDS], *v = iov;
    int cnt = c->msg.nfields;
    memcpy(iov, c->msg.field, sizeof(struct iovec) * (size_t)cnt);
    while (cnt > 0) {
        if (stop_requested)
            return "stopped";
        struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)cnt};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            c->st.bytes_out += (uint64_t)w;
            iov_advance(&v, &cnt, (size_t)w);     /* a partial send is normal */
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            const char *why = errno == EAGAIN ? wait_writable(c) : NULL;
            if (why)
                return why;
        } else {
            return send_error_reason(errno);
        }
    }
    return NULL;
}

/* ---- mode 3: zero copy, with completions ------------------------------------ */

/* Credit the completed id range [lo, hi] to the pool buffers it covers.
 * Ids are 32-bit and wrap; differences are taken in that arithmetic. */
static void zc_complete(struct conn *c, uint32_t lo, uint32_t hi, int copied)
{
    uint32_t n = hi - lo + 1;
    c->zc.completions += n;
    c->zc.copied += copied ? n : 0;
    if (lo != c->expect_id)
        c->zc.gaps++;                 /* out of order, or an id never seen */
    c->expect_id = hi + 1;
    for (int s = 0; s < c->nslots; s++) {
        struct zc_slot *z = &c->pool[s];
        if (z->done == z->ids)
            continue;
        int64_t a = (int32_t)(lo - z->first_id), b = (int32_t)(hi - z->first_id);
        if (a < 0)
            a = 0;
        if (b > (int64_t)z->ids - 1)
            b = (int64_t)z->ids - 1;
        if (b >= a)
            z->done += (uint32_t)(b - a + 1);
    }
}

/* Read every notification waiting on the error queue (never blocks). */
static void zc_read_completions(struct conn *c)
{
    for (;;) {
        char control[128];
        struct msghdr mh = {.msg_control = control, .msg_controllen = sizeof control};
        if (recvmsg(c->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;                   /* EAGAIN: nothing (more) to read */
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            int ip = (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
                     (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR);
            if (!ip)
                continue;
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(cm), sizeof ee);
            if (ee.ee_origin == SO_EE_ORIGIN_ZEROCOPY && ee.ee_errno == 0)
                zc_complete(c, ee.ee_info, ee.ee_data,
                            ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED);
        }
    }
}

static int zc_pending(const struct conn *c)
{
    int n = 0;
    for (int s = 0; s < c->nslots; s++)
        n += c->pool[s].done != c->pool[s].ids;
    return n;
}

/* Wait (bounded) until fewer than `limit` buffers are in flight. poll()
 * reports POLLERR while the error queue holds notifications. */
static const char *zc_wait_pending_below(struct conn *c, int limit, int timeout_ms)
{
    double deadline = now_sec() + timeout_ms / 1000.0;
    zc_read_completions(c);
    while (zc_pending(c) >= limit) {
        if (timeout_ms >= 0 && now_sec() > deadline)
            return "not reading (idle timeout)";
        int r = wait_fd(c->fd, 0, timeout_ms);
        if (r < 0)
            return "stopped";
        uint64_t before = c->zc.completions;
        zc_read_completions(c);
        if (r > 0 && c->zc.completions == before)
            sleep_ms(5);    /* POLLHUP of a closed peer is not a completion: no spin */
    }
    return NULL;
}

static struct zc_slot *zc_free_slot(struct conn *c)
{
    for (int s = 0; s < c->nslots; s++)
        if (c->pool[s].done == c->pool[s].ids)
            return &c->pool[s];
    return NULL;
}

static const char *send_zero_copy(struct conn *c)
{
    /* A free buffer: one whose every send has completed. Only when the
     * whole pool is in flight do we wait - not once per send. */
    struct zc_slot *z = zc_free_slot(c);
    if (!z) {
        const char *why = zc_wait_pending_below(c, c->nslots, idle_ms(c));
        if (why)
            return why;
        z = zc_free_slot(c);
    }
    message_stamp(&z->msg, c->seq);
    z->ids = z->done = 0;
    struct iovec iov[FIELDS], *v = iov;
    int cnt = z->msg.nfields, flags = c->zc_on ? MSG_ZEROCOPY : 0;
    memcpy(iov, z->msg.field, sizeof(struct iovec) * (size_t)cnt);
    while (cnt > 0) {
        if (stop_requested)
            return "stopped";
        struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)cnt};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT | flags);
        if (w > 0) {
            c->st.bytes_out += (uint64_t)w;
            if (flags) {              /* this call got the next id */
                if (z->ids++ == 0)
                    z->first_id = c->next_id;
                c->next_id++;
                c->zc.sends++;
            }
            iov_advance(&v, &cnt, (size_t)w);
        } else if (w < 0 && errno == ENOBUFS && flags) {
            /* Out of option memory for notifications: this send goes out
             * as an ordinary copy, counted, and the next one tries again. */
            c->zc.enobufs++;
            flags = 0;
        } else if (w < 0 && errno == EAGAIN) {
            zc_read_completions(c);
            const char *why = wait_writable(c);
            if (why)
                return why;
        } else if (!(w < 0 && errno == EINTR)) {
            return send_error_reason(errno);
        }
    }
    return NULL;
}

/* ---- mode 4: sendfile from a memory file ---------------------------------- */

static const char *send_sendfile(struct conn *c)
{
    /* The file holds the content, written once; only the sequence number
     * differs per message, so it goes first as a tiny corked send. Never
     * rewrite a file while sendfile() data may still be in flight: the
     * socket references the file's pages, not a copy of them. */
    uint8_t stamp[STREAM_STAMP_LEN];
    size_t head = c->size < sizeof stamp ? c->size : sizeof stamp;
    stream_stamp(stamp, head, c->seq);
    const char *why = send_all(c, stamp, head, 1);
    off_t off = (off_t)head;
    while (!why && off < (off_t)c->size) {
        if (stop_requested)
            return "stopped";
        ssize_t w = sendfile(c->fd, c->memfd, &off, c->size - (size_t)off);
        if (w > 0)
            c->st.bytes_out += (uint64_t)w;     /* sendfile moved `off` */
        else if (w < 0 && errno == EAGAIN)
            why = wait_writable(c);
        else if (w < 0 && errno != EINTR)
            why = send_error_reason(errno);
        else if (w == 0)
            why = "memfd shorter than the message";
    }
    return why;
}

/* ---- content: prepared once per (tag, size), not per message ------------- */

static void release_content(struct conn *c)
{
    message_free(&c->msg);
    free(c->flat);
    c->flat = NULL;
    for (int s = 0; s < c->nslots; s++)
        message_free(&c->pool[s].msg);
    c->nslots = 0;
    c->ready = 0;
}

/* The connection's first memory file was taken when it was accepted (see
 * start_connection). Content is written into a file once: new content goes
 * into a new file, because the socket may still hold the old file's pages,
 * and the old descriptor is closed only once the new one exists. */
static const char *make_memfd(struct conn *c)
{
    if (c->memfd_filled) {
        int fresh = memfd_create("part4-message", MFD_CLOEXEC);
        if (fresh < 0)
            return strerror(errno);
        close(c->memfd);     /* in-flight pages stay valid: the socket holds them */
        c->memfd = fresh;
    }
    c->memfd_filled = 1;
    if (ftruncate(c->memfd, (off_t)c->size) != 0)
        return strerror(errno);
    off_t off = 0;
    for (int k = 0; k < c->msg.nfields; k++) {     /* the fields, one after another */
        const struct iovec *f = &c->msg.field[k];
        ssize_t w = pwrite(c->memfd, f->iov_base, f->iov_len, off);
        if (w != (ssize_t)f->iov_len)
            return w < 0 ? strerror(errno) : "short write to the memory file";
        off += (off_t)f->iov_len;
    }
    message_free(&c->msg);                          /* the file is the content now */
    return NULL;
}

static const char *prepare_content(struct conn *c, const struct stream_request *rq)
{
    if (c->ready && c->tag == rq->tag && c->size == rq->size)
        return NULL;
    if (mode == ZERO_COPY) {        /* buffers still in flight are not ours to free */
        const char *why = zc_wait_pending_below(c, 1, 2000);
        if (why)
            return why;
    }
    release_content(c);
    c->tag = rq->tag, c->size = rq->size;
    const char *no_memory = "out of memory for the message", *why = NULL;
    if (mode == ZERO_COPY) {
        int n = (int)(POOL_BYTES / rq->size);
        c->nslots = n < 2 ? 2 : n > POOL_MAX ? POOL_MAX : n;
        for (int s = 0; s < c->nslots; s++)
            if (message_alloc(&c->pool[s].msg, rq->size, rq->tag))
                why = no_memory;
    } else if (message_alloc(&c->msg, rq->size, rq->tag) ||
               (mode == TWO_COPY && !(c->flat = malloc(rq->size)))) {
        why = no_memory;
    } else if (mode == SENDFILE) {
        why = make_memfd(c);
    }
    if (why) {
        release_content(c);
        return why;
    }
    c->ready = 1;
    return NULL;
}

/* ---- the conversation ------------------------------------------------------ */

/* Tell the client why, then close gently: stop sending, and read (a little,
 * briefly) what it still sends, so that our close does not turn into a
 * reset that destroys the error text before the client reads it. */
static void refuse_request(struct conn *c, const char *reason)
{
    uint8_t hdr[STREAM_REPLY_LEN];
    uint32_t len;
    stream_encode_reply(hdr, reason, &len);
    if (!send_all(c, hdr, sizeof hdr, 1))
        send_all(c, reason, len, 0);
    shutdown(c->fd, SHUT_WR);
    char sink[4096];
    for (int i = 0; i < 16 && wait_fd(c->fd, POLLIN, 250) > 0; i++)
        if (recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
            break;
}

/* Read one request header. NULL when *rq is filled, else why we stop. */
static const char *read_request(struct conn *c, struct stream_request *rq)
{
    uint8_t buf[STREAM_REQ_LEN];
    size_t have = 0;
    for (;;) {
        /* Never read past this header: what follows is the next request. */
        ssize_t n = recv(c->fd, buf + have, sizeof buf - have, MSG_DONTWAIT);
        if (n > 0) {
            have += (size_t)n;
            c->st.bytes_in += (uint64_t)n;
            c->st.reads++;
            const char *err;
            int r = stream_parse_request(buf, have, rq, &err);
            if (r > 0)
                return NULL;
            if (r < 0) {
                refuse_request(c, err);
                return "bad request";
            }
        } else if (n == 0) {
            if (have == 0)
                return "eof";
            char why[80];
            snprintf(why, sizeof why, "truncated header (%zu of %d bytes)",
                     have, STREAM_REQ_LEN);
            refuse_request(c, why);
            return "truncated request";
        } else if (errno == EAGAIN) {
            /* poll() reports POLLERR while zero-copy notifications wait on
             * the error queue: collect them first, or this wait returns at
             * once, again and again, until the client's next request. */
            if (mode == ZERO_COPY)
                zc_read_completions(c);
            int r = wait_fd(c->fd, POLLIN, idle_ms(c));
            if (r <= 0)
                return r == 0 ? "idle" : "stopped";
        } else if (errno != EINTR) {
            return errno == ECONNRESET ? "reset" : strerror(errno);
        }
    }
}

static const char *send_message(struct conn *c)
{
    switch (mode) {
    case TWO_COPY:  return send_two_copy(c);
    case ONE_COPY:  return send_one_copy(c);
    case ZERO_COPY: return send_zero_copy(c);
    case SENDFILE:  return send_sendfile(c);
    }
    return "no such mode";
}

static const char *serve_requests(struct conn *c)
{
    for (;;) {
        struct stream_request rq;
        const char *why = read_request(c, &rq);
        if (why)
            return why;
        c->requests++;
        if ((why = prepare_content(c, &rq)) != NULL) {
            refuse_request(c, why);
            return why;
        }
        uint8_t ok[STREAM_REPLY_LEN];
        uint32_t len;
        stream_encode_reply(ok, NULL, &len);
        if ((why = send_all(c, ok, sizeof ok, 1)) != NULL)   /* corked with message 0 */
            return why;
        for (uint64_t i = 0; rq.count == 0 || i < rq.count; i++) {
            if ((why = send_message(c)) != NULL)
                return why;
            c->seq++;
            c->messages++;
        }
    }
}

/* Zero-copy is asked for per socket; an old kernel or a socket type that
 * cannot do it refuses, and this connection then copies, visibly. */
static void zc_enable(struct conn *c)
{
    int one = 1;
    c->zc_on = setsockopt(c->fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) == 0;
    if (!c->zc_on) {
        static double last;
        c->zc.refused++;
        log_ratelimited(&last, "%s: SO_ZEROCOPY refused (%s): this connection "
                        "sends with ordinary copies\n", c->o->name, strerror(errno));
    }
}

/* At the end, collect the completions still due (bounded), so the counts
 * are whole: every send id completed, or counted as unfinished. */
static void zc_finish(struct conn *c)
{
    /* A peer that does not read leaves its data, and so the completions,
     * queued for good: when the server is stopping, wait only briefly, so
     * that SIGTERM still ends it within two seconds. */
    for (int i = 0; i < (stop_requested ? 4 : 20) && zc_pending(c) > 0; i++) {
        zc_read_completions(c);
        if (zc_pending(c) > 0)
            sleep_ms(50);
    }
    c->zc.unfinished = c->zc.sends - c->zc.completions;
}

/* ---- threads and totals ---------------------------------------------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;
static int active;
/* refused: clients turned away, at --max-conns or (sendfile) for want of a
 * descriptor for their memory file. */
static unsigned long connections, refused, accept_errors, thread_errors;
static unsigned long long total_messages, total_bytes, total_requests;
static struct zc_counters zc_total;

static void add_totals(const struct conn *c)
{
    pthread_mutex_lock(&lock);
    connections++;
    total_messages += c->messages;
    total_bytes += c->st.bytes_out;
    total_requests += c->requests;
    zc_total.sends += c->zc.sends;
    zc_total.completions += c->zc.completions;
    zc_total.copied += c->zc.copied;
    zc_total.enobufs += c->zc.enobufs;
    zc_total.gaps += c->zc.gaps;
    zc_total.unfinished += c->zc.unfinished;
    zc_total.refused += c->zc.refused;
    if (--active == 0)
        pthread_cond_signal(&all_done);
    pthread_mutex_unlock(&lock);
}

static void *serve_connection(void *arg)
{
    struct conn *c = arg;
    int one = 1;
    /* Latency mode sends one small message per request: no Nagle delay. */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (mode == ZERO_COPY)
        zc_enable(c);
    const char *why = serve_requests(c);
    if (mode == ZERO_COPY) {
        zc_finish(c);
        if (c->o->verbose)
            fprintf(stderr, "%s: zero-copy fd=%d sends=%llu completions=%llu "
                    "copied=%llu enobufs=%llu gaps=%llu unfinished=%llu\n", c->o->name,
                    c->fd, (unsigned long long)c->zc.sends,
                    (unsigned long long)c->zc.completions, (unsigned long long)c->zc.copied,
                    (unsigned long long)c->zc.enobufs, (unsigned long long)c->zc.gaps,
                    (unsigned long long)c->zc.unfinished);
    }
    log_conn(c->o, c->fd, &c->st, why);
    close(c->fd);
    release_content(c);
    if (c->memfd >= 0)
        close(c->memfd);
    add_totals(c);
    free(c);
    return NULL;
}

static void start_connection(int fd, const struct sockaddr_storage *peer,
                             const struct server_opts *o)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        thread_errors++;
        return;
    }
    c->fd = fd, c->o = o, c->memfd = -1;
    /* sendfile needs a second descriptor per connection. Take it now, so
     * that a server out of descriptors turns this client away at once, as
     * the accept loop does, instead of failing its first request halfway. */
    if (mode == SENDFILE && (c->memfd = memfd_create("part4-message", MFD_CLOEXEC)) < 0) {
        static double last;
        log_ratelimited(&last, "%s: no descriptor for a memory file (%s): turning "
                        "clients away\n", o->name, strerror(errno));
        close(fd);
        free(c);
        refused++;
        return;
    }
    conn_stats_start(&c->st, peer);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    pthread_mutex_lock(&lock);
    active++;
    int err = pthread_create(&t, &attr, serve_connection, c);
    if (err)
        active--;
    pthread_mutex_unlock(&lock);
    pthread_attr_destroy(&attr);
    if (err) {                /* out of threads: this client only */
        close(fd);
        free(c);
        thread_errors++;
    }
}

static int active_count(void)
{
    pthread_mutex_lock(&lock);
    int n = active;
    pthread_mutex_unlock(&lock);
    return n;
}

/* Every connection thread sees stop_requested within wait_fd()'s slice;
 * wait for them all, but not past the 2-second promise. */
static void wait_for_connections(void)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 800000000L;
    deadline.tv_sec += 1 + deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&lock);
    while (active > 0)
        if (pthread_cond_timedwait(&all_done, &lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&lock);
}

static enum mode parse_mode(const char *name)
{
    for (int m = 0; m < 4; m++)
        if (strcmp(name, mode_names[m]) == 0)
            return (enum mode)m;
    fprintf(stderr, "copy-modes: unknown --mode '%s' (two-copy, one-copy, zero-copy, "
            "sendfile)\n", name);
    exit(2);
}

int main(int argc, char **argv)
{
    struct server_opts o = {
        .name = "copy-modes",
        .accepts = OPT_MODE,
        .mode = "one-copy",
        .help_extra = "  --mode is two-copy, one-copy, zero-copy or sendfile\n"
                      "  one thread per connection, at most --max-conns\n",
    };
    server_opts_parse(&o, argc, argv);
    mode = parse_mode(o.mode);
    install_signal_handlers();
    int listen_fd = listen_socket(&o, 0);
    print_banner(o.name, listen_fd);

    while (!stop_requested) {
        if (wait_fd(listen_fd, POLLIN, 1000) <= 0)
            continue;
        if (active_count() >= o.max_conns) {
            refuse_client(listen_fd);       /* the client sees EOF at once */
            refused++;
            continue;
        }
        struct sockaddr_storage peer;
        int fd = accept_client(listen_fd, &peer, 1);
        if (fd < 0) {
            if (errno != EAGAIN) {
                accept_errors++;
                sleep_ms(10);
            }
            continue;
        }
        start_connection(fd, &peer, &o);
    }

    close(listen_fd);
    wait_for_connections();
    pthread_mutex_lock(&lock);
    /* CPU per KiB sent: this process's user+system time (what /proc/PID/stat
     * says) over everything it sent, start-up included (it is tiny). */
    double cpu = process_cpu_seconds();
    double kib = (double)total_bytes / 1024;
    printf("%s: stopped: mode=%s connections=%lu requests=%llu messages=%llu bytes=%llu "
           "refused=%lu accept_errors=%lu thread_errors=%lu unfinished_threads=%d "
           "cpu_s=%.3f cpu_per_kib_ns=%.1f",
           o.name, mode_names[mode], connections, total_requests, total_messages,
           total_bytes, refused, accept_errors, thread_errors, active,
           cpu, kib > 0 ? cpu * 1e9 / kib : 0);
    if (mode == ZERO_COPY) {
        double pct = zc_total.completions
                   ? 100.0 * (double)zc_total.copied / (double)zc_total.completions : 0;
        printf(" zc_sends=%llu zc_completions=%llu zc_copied=%llu zc_copied_pct=%.1f "
               "zc_enobufs=%llu zc_gaps=%llu zc_unfinished=%llu zc_refused=%llu",
               (unsigned long long)zc_total.sends, (unsigned long long)zc_total.completions,
               (unsigned long long)zc_total.copied, pct,
               (unsigned long long)zc_total.enobufs, (unsigned long long)zc_total.gaps,
               (unsigned long long)zc_total.unfinished,
               (unsigned long long)zc_total.refused);
    }
    printf("\n");
    pthread_mutex_unlock(&lock);
    return 0;
}
