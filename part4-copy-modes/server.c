/*
 * part4-copy-modes/server.c - one message, four ways to send it.
 *
 * Lesson 4. The previous lessons were about how many clients a server can
 * serve; this one is about what a single send costs. A message here is a
 * struct of several separately allocated fields (8 by default, like the
 * header, body parts and trailer of a real reply; message.h), and the
 * server sends it in the --mode it was started with:
 *
 *   two-copy   memcpy every field into one buffer, then send() it:
 *              copy 1 (fields -> buffer, ours), copy 2 (buffer -> kernel).
 *   one-copy   sendmsg() with an iovec that points at the fields: the kernel
 *              gathers them straight into its socket buffer - one copy.
 *   zero-copy  sendmsg(MSG_ZEROCOPY): the kernel pins our pages and sends
 *              from them. We may not touch a buffer until the kernel says,
 *              through the socket's error queue, that it is done with it,
 *              so the fields live in a small pool of message buffers
 *              (zerocopy.c keeps that account).
 *   sendfile   the content sits in a memory file (memfd) written once;
 *              sendfile() moves it from the page cache to the socket.
 *              The file is a second descriptor per connection.
 *   send-zc    zero-copy again, through io_uring (IORING_OP_SENDMSG_ZC):
 *              the same pool and account, a notification per send read
 *              from the connection's own ring (sendzc.c).
 *
 * Each mode is one function: send_two_copy(), send_one_copy(),
 * send_zero_copy(), send_sendfile(), send_send_zc(). Everything else is
 * the same for all.
 *
 * The protocol (common/stream.h): the client sends a 24-byte request
 * header (size, count or 0 = until I close, a tag); we answer "S4OK" and
 * that many messages, or "S4ER" + a reason and close. The header parser,
 * stream_parse_request(), makes no socket call, so it can be fuzzed.
 *
 * Concurrency is not the lesson here, so it is the simplest honest one: a
 * thread per connection (common/thread_server.c; part 2 teaches it), at
 * most --max-conns of them. Each connection's socket is non-blocking and
 * every wait goes through wait_fd(), bounded by --idle-timeout and woken
 * by SIGTERM, so a client that never reads cannot hold a thread.
 */
#include "connection.h"
#include "sendio.h"
#include "thread_server.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

static enum mode mode;
static const struct server_opts *opts;

static int idle_ms(void)
{
    return opts->idle_timeout > 0 ? opts->idle_timeout * 1000 : -1;
}

/* sendmsg() the fields of m, gathered by the kernel. zc_slot >= 0: with
 * MSG_ZEROCOPY, from that buffer of the zero-copy pool. */
static const char *send_fields(struct conn *c, const struct message *m, int zc_slot)
{
    struct iovec iov[FIELDS], *v = iov;
    int cnt = m->nfields, flags = zc_slot >= 0 && c->zc.on ? MSG_ZEROCOPY : 0;
    memcpy(iov, m->field, sizeof(struct iovec) * (size_t)cnt);
    while (cnt > 0) {
        if (stop_requested)
            return "stopped";
        struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)cnt};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT | flags);
        if (w > 0) {
            c->st.bytes_out += (uint64_t)w;
            if (flags)
                zc_sent(&c->zc, zc_slot);         /* this call got the next id */
            iov_advance(&v, &cnt, (size_t)w);     /* a partial send is normal */
        } else if (w < 0 && errno == ENOBUFS && flags) {
            /* Out of option memory for notifications: this send goes out
             * as an ordinary copy, counted, and the next one tries again. */
            c->zc.n.enobufs++;
            flags = 0;
        } else if (w < 0 && errno == EAGAIN) {
            if (zc_slot >= 0)
                zc_collect(&c->zc);
            const char *why = wait_writable(c->fd, idle_ms());
            if (why)
                return why;
        } else if (!(w < 0 && errno == EINTR)) {
            return send_error_reason(errno);
        }
    }
    return NULL;
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
    return send_all(c, c->flat, c->msg.size, 0, idle_ms());   /* copy 2: the kernel's */
}

/* ---- mode 2: one copy: the kernel gathers the fields ----------------------- */

static const char *send_one_copy(struct conn *c)
{
    message_stamp(&c->msg, c->seq);
    return send_fields(c, &c->msg, -1);
}

/* ---- mode 3: zero copy, from a pool of buffers ------------------------------ */

/* A free buffer of the pool, stamped: one whose every send has completed.
 * Only when the whole pool is in flight do we wait - not once per send. */
static const char *take_buffer(struct conn *c, int *slot)
{
    if ((*slot = zc_take_free(&c->zc)) < 0) {
        const char *why = zc_wait_below(&c->zc, c->zc.nslots, idle_ms());
        if (why)
            return why;
        *slot = zc_take_free(&c->zc);
    }
    message_stamp(&c->pool[*slot], c->seq);
    return NULL;
}

static const char *send_zero_copy(struct conn *c)
{
    int s;
    const char *why = take_buffer(c, &s);
    return why ? why : send_fields(c, &c->pool[s], s);
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
    const char *why = send_all(c, stamp, head, 1, idle_ms());
    off_t off = (off_t)head;
    while (!why && off < (off_t)c->size) {
        if (stop_requested)
            return "stopped";
        ssize_t w = sendfile(c->fd, c->memfd, &off, c->size - (size_t)off);
        if (w > 0)
            c->st.bytes_out += (uint64_t)w;     /* sendfile moved `off` */
        else if (w < 0 && errno == EAGAIN)
            why = wait_writable(c->fd, idle_ms());
        else if (w < 0 && errno != EINTR)
            why = send_error_reason(errno);
        else if (w == 0)
            why = "memfd shorter than the message";
    }
    return why;
}

/* ---- mode 5: zero copy through io_uring ------------------------------------ */

static const char *send_send_zc(struct conn *c)
{
    /* send_fields() again, one IORING_OP_SENDMSG_ZC per sendmsg(); the
     * ring counts each result with IORING_CQE_F_MORE as a send and each
     * IORING_CQE_F_NOTIF as its completion, in the same pool account. */
    int s;
    const char *why = take_buffer(c, &s);
    if (why)
        return why;
    struct iovec iov[FIELDS], *v = iov;
    int cnt = c->pool[s].nfields;
    memcpy(iov, c->pool[s].field, sizeof(struct iovec) * (size_t)cnt);
    while (cnt > 0) {
        size_t w;
        if (stop_requested)
            return "stopped";
        if ((why = sendzc_send(&c->ring, v, cnt, s, idle_ms(), &w)) != NULL)
            return why;
        c->st.bytes_out += w;
        iov_advance(&v, &cnt, w);       /* a partial send is normal here too */
    }
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
    if (!send_all(c, hdr, sizeof hdr, 1, idle_ms()))
        send_all(c, reason, len, 0, idle_ms());
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
            if (c->mode == ZERO_COPY)
                zc_collect(&c->zc);
            int r = wait_fd(c->fd, POLLIN, idle_ms());
            if (r <= 0)
                return r == 0 ? "idle" : "stopped";
        } else if (errno != EINTR) {
            return errno == ECONNRESET ? "reset" : strerror(errno);
        }
    }
}

static const char *send_message(struct conn *c)
{
    switch (c->mode) {
    case TWO_COPY:  return send_two_copy(c);
    case ONE_COPY:  return send_one_copy(c);
    case ZERO_COPY: return send_zero_copy(c);
    case SENDFILE:  return send_sendfile(c);
    case SEND_ZC:   return send_send_zc(c);
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
        if ((why = send_all(c, ok, sizeof ok, 1, idle_ms())) != NULL)   /* corked with message 0 */
            return why;
        for (uint64_t i = 0; rq.count == 0 || i < rq.count; i++) {
            if ((why = send_message(c)) != NULL)
                return why;
            c->seq++;
            c->messages++;
        }
    }
}

/* ---- a connection's life ---------------------------------------------------- */

static void *admit_client(int fd, const struct sockaddr_storage *peer)
{
    return conn_new(fd, peer, mode, opts->name);
}

static void discard_client(void *c)
{
    conn_free(c);
}

static void serve_connection(void *arg)
{
    struct conn *c = arg;
    if (c->mode == ZERO_COPY)
        zc_open(&c->zc, c->fd, opts->name);     /* send-zc's ring: conn_new() */
    const char *why = serve_requests(c);
    if (c->mode == ZERO_COPY || c->mode == SEND_ZC) {
        zc_finish(&c->zc);
        if (opts->verbose)
            zc_log(&c->zc, opts->name);
    }
    log_conn(opts, c->fd, &c->st, why);
    totals_add(c);
    conn_free(c);
}

int main(int argc, char **argv)
{
    /* static: threads still running when main() returns may read it. */
    static struct server_opts o = {
        .name = "copy-modes",
        .accepts = OPT_MODE,
        .mode = "one-copy",
        .help_extra = "  --mode is two-copy, one-copy, zero-copy, sendfile or send-zc\n"
                      "  one thread per connection, at most --max-conns\n",
    };
    server_opts_parse(&o, argc, argv);
    opts = &o;
    mode = mode_parse(o.mode);
    if (mode == SEND_ZC)
        sendzc_check(o.name);     /* the kernel's support, before any client */
    install_signal_handlers();
    int listen_fd = listen_socket(&o, 0);
    print_banner(o.name, listen_fd);

    struct thread_server t = {.o = &o, .nonblocking = 1, .admit = admit_client,
                              .serve = serve_connection, .discard = discard_client};
    int left = thread_server_run(&t, listen_fd, 1800);   /* within the 2-s promise */
    close(listen_fd);

    totals_print(o.name, mode, &t, left);
    return 0;
}
