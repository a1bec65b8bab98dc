/* echo.c - the blocking echo session shared by parts 1 and 2.
 *
 * The socket is blocking, but no wait is unbounded: each wait goes through
 * poll() with a deadline, so a client that goes silent, trickles, or stops
 * reading its echo cannot hold the server (or a worker) forever.
 *
 * The deadline: with an idle timeout of T seconds it starts T seconds
 * ahead. Every byte moved (in either direction) pushes it later by
 * 1/ECHO_MIN_RATE of a second, but never more than T ahead of now. A busy
 * client stays T seconds ahead, so only silence ends it; a client sending
 * one byte a second gains 1/16 s per second and runs out after about T.
 * (Apache's mod_reqtimeout defends against slowloris the same way.)
 */
#include "common.h"

#include <errno.h>
#include <poll.h>

#define ECHO_CHUNK 16384

struct deadline {
    double at;          /* now_sec() when the connection is given up; 0: never */
    double window;      /* the idle timeout, seconds */
};

static int ms_left(const struct deadline *d)
{
    if (d->window <= 0)
        return -1;                                 /* no timeout */
    double left = d->at - now_sec();
    return left <= 0 ? 0 : (int)(left * 1000.0) + 1;
}

static void credit(struct deadline *d, size_t bytes)
{
    if (d->window <= 0)
        return;
    double later = d->at + (double)bytes / ECHO_MIN_RATE, cap = now_sec() + d->window;
    d->at = later < cap ? later : cap;
}

static const char *error_reason(int err)
{
    return (err == ECONNRESET || err == EPIPE) ? "reset" : "error";
}

/* Send all n bytes back. Returns NULL when done, else why it stopped. */
static const char *echo_back(int fd, const char *buf, size_t n,
                             struct deadline *d, struct conn_stats *c)
{
    size_t off = 0;
    while (off < n) {
        int r = wait_fd(fd, POLLOUT, ms_left(d));
        if (r == 0)
            return "stalled";          /* the client stopped reading */
        if (r < 0)
            return stop_requested ? "shutdown" : "error";
        /* MSG_DONTWAIT: a blocking send of n bytes could wait past the
         * deadline for a client that reads only part of them. */
        ssize_t w = send_nosignal(fd, buf + off, n - off, MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return error_reason(errno);
        }
        off += (size_t)w;
        c->bytes_out += (uint64_t)w;
        credit(d, (size_t)w);
    }
    return NULL;
}

const char *echo_session(int fd, const struct server_opts *o, struct conn_stats *c)
{
    char buf[ECHO_CHUNK];
    struct deadline d = {.window = o->idle_timeout};
    d.at = now_sec() + d.window;
    double last_byte = now_sec();
    for (;;) {
        int r = wait_fd(fd, POLLIN, ms_left(&d));
        if (r == 0)   /* silent for the whole window, or too slow */
            return now_sec() - last_byte >= d.window ? "idle" : "slow";
        if (r < 0)
            return stop_requested ? "shutdown" : "error";
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            return "eof";              /* everything owed was already sent */
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return error_reason(errno);
        }
        c->reads++;
        c->bytes_in += (uint64_t)n;
        last_byte = now_sec();
        credit(&d, (size_t)n);
        do_request_work((size_t)n);    /* --work-us, --block-us: this thread waits */
        const char *why = echo_back(fd, buf, (size_t)n, &d, c);
        if (why)
            return why;
    }
}
