/*
 * part1-iterative/server.c - the iterative echo server.
 *
 * Lesson 1. One client at a time: accept a connection, echo everything it
 * sends until it is done, close it, and only then accept the next one.
 *
 * While one client is served, the others are not refused: the kernel
 * completes their TCP handshake and keeps them in the listening socket's
 * queue (up to --backlog of them). Their connect() has succeeded and what
 * they send sits in their receive buffer on our side, but nobody reads it
 * until accept() picks them. That queue is what the timing table measures.
 *
 * Every call here blocks, and none may block for ever: with one client at
 * a time, a client that goes silent would hold everyone else. So each
 * socket gets a timeout (SO_RCVTIMEO, SO_SNDTIMEO): no accept(), recv() or
 * send() lasts more than a second. When one gives up (EAGAIN), the loop
 * looks at the clock: has this client moved no byte for --idle-timeout
 * seconds, or too few to count as a client at all (a trickle)? Has a stop
 * been asked for? Then it goes back and blocks again.
 */
#include "common.h"

#include <errno.h>
#include <sys/time.h>
#include <unistd.h>

#define ECHO_CHUNK 16384
#define SLICE_S    1      /* the longest any one call blocks */

static unsigned long served, accept_errors;
static unsigned long long bytes_echoed;

/* Make accept(), recv() and send() on fd return EAGAIN after SLICE_S. */
static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = SLICE_S};
    /* Failing leaves a call that may block longer, not a wrong result. */
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* What a session has moved, and when. */
struct pace {
    double last_byte;              /* now_sec() when a byte last moved       */
    double window_start;           /* the minimum rate is checked per window */
    uint64_t window_bytes;
};

static void moved(struct pace *p, size_t n)
{
    p->last_byte = now_sec();
    p->window_bytes += n;
}

/*
 * Why the session must end now, or NULL. Checked each time a call returns.
 * `quiet` names a client that moved nothing for --idle-timeout seconds:
 * "idle" while we wait for it to send, "stalled" while it will not read.
 * The minimum rate: a client that sends a byte every second never lets a
 * timeout fire, and holds the server as surely as a silent one. So over
 * each --idle-timeout window it must move ECHO_MIN_RATE bytes a second.
 */
static const char *session_over(struct pace *p, const struct server_opts *o,
                                const char *quiet)
{
    if (stop_requested)
        return "shutdown";
    double now = now_sec(), window = o->idle_timeout;
    if (window <= 0)
        return NULL;                                /* --idle-timeout 0: never */
    if (now - p->last_byte >= window)
        return quiet;
    if (now - p->window_start >= window) {
        if (p->window_bytes < ECHO_MIN_RATE * window)
            return "slow";
        p->window_start = now;
        p->window_bytes = 0;
    }
    return NULL;
}

static const char *error_reason(int err)
{
    return err == ECONNRESET || err == EPIPE ? "reset" : "error";
}

/* Send all n bytes: send() may take fewer than asked (a short write), and
 * the rest must not be lost. MSG_NOSIGNAL (and SIGPIPE ignored): a client
 * that has gone makes send() fail with EPIPE instead of killing us. */
static const char *send_all(int fd, const char *buf, size_t n, struct pace *p,
                            const struct server_opts *o, struct conn_stats *c)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);       /* blocks, at most SLICE_S */
        if (w > 0) {
            buf += w, n -= (size_t)w;
            c->bytes_out += (uint64_t)w;
            moved(p, (size_t)w);
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            return error_reason(errno);
        }
        const char *why = session_over(p, o, "stalled");
        if (why)
            return why;
    }
    return NULL;
}

/* Read, send it all back, until the client closes its side (recv() returns
 * 0: everything it sent has been echoed by then). Returns why it ended. */
static const char *echo(int fd, const struct server_opts *o, struct conn_stats *c)
{
    char buf[ECHO_CHUNK];
    struct pace p = {.last_byte = now_sec(), .window_start = now_sec()};
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);         /* blocks, at most SLICE_S */
        if (n == 0)
            return "eof";
        if (n > 0) {
            c->reads++;
            c->bytes_in += (uint64_t)n;
            moved(&p, (size_t)n);
            do_request_work((size_t)n);      /* --work-us, --block-us: everyone waits */
            const char *why = send_all(fd, buf, (size_t)n, &p, o, c);
            if (why)
                return why;
        } else if (errno != EAGAIN && errno != EINTR) {
            return error_reason(errno);
        }
        const char *why = session_over(&p, o, "idle");
        if (why)
            return why;
    }
}

static void serve_one_client(int fd, const struct sockaddr_storage *peer,
                             const struct server_opts *o)
{
    struct conn_stats c;
    conn_stats_start(&c, peer);
    set_timeouts(fd);
    set_nodelay(fd);                             /* see common/net.c: no 40 ms stalls */
    const char *why = echo(fd, o, &c);           /* until the client is done */
    log_conn(o, fd, &c, why);
    close(fd);
    served++;
    bytes_echoed += c.bytes_out;
}

int main(int argc, char **argv)
{
    struct server_opts o = {
        .name = "iterative",
        .help_extra = "  (--max-conns has no effect here: this server holds one "
                      "connection at a time)\n",
    };
    server_opts_parse(&o, argc, argv);
    /* SIGPIPE ignored; SIGINT/SIGTERM set stop_requested. The handlers are
     * installed without SA_RESTART: a signal that lands while accept() or
     * recv() blocks makes the call fail with EINTR, so the loop sees the
     * flag at once. (With SA_RESTART the kernel would restart the call
     * and the server would stop only when a client came.) */
    install_signal_handlers();
    int listen_fd = listen_socket(&o, 0);
    /* A signal that lands just before accept() blocks interrupts nothing:
     * the timeout bounds how late the stop is seen. */
    set_timeouts(listen_fd);
    print_banner(o.name, listen_fd);

    while (!stop_requested) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept(listen_fd, (struct sockaddr *)&peer, &len);   /* blocks */
        if (fd >= 0) {
            serve_one_client(fd, &peer, &o);
            continue;
        }
        /* EAGAIN (the timeout), EINTR (a signal), ECONNABORTED (a client
         * that reset while it waited in the queue): nothing to do. Out of
         * descriptors (EMFILE) or memory: the client stays queued and the
         * next accept() would fail at once, so back off instead of spinning. */
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            accept_errors++;
            sleep_ms(100);
        }
    }

    close(listen_fd);
    printf("%s: stopped: connections=%lu bytes=%llu accept_errors=%lu\n",
           o.name, served, bytes_echoed, accept_errors);
    return 0;
}
