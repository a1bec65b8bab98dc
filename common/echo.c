/* echo.c - the blocking echo session shared by parts 1 and 2.
 *
 * The socket is blocking, but no wait is unbounded: each wait goes through
 * poll() with the idle timeout, so a client that goes silent, or stops
 * reading its echo, cannot hold the server (or a worker) forever. */
#include "common.h"

#include <errno.h>
#include <poll.h>

#define ECHO_CHUNK 16384

static const char *error_reason(int err)
{
    return (err == ECONNRESET || err == EPIPE) ? "reset" : "error";
}

/* Send all n bytes back. Returns NULL when done, else why it stopped. */
static const char *echo_back(int fd, const char *buf, size_t n, int timeout_ms,
                             struct conn_stats *c)
{
    size_t off = 0;
    while (off < n) {
        int r = wait_fd(fd, POLLOUT, timeout_ms);
        if (r == 0)
            return "stalled";          /* the client stopped reading */
        if (r < 0)
            return stop_requested ? "shutdown" : "error";
        /* MSG_DONTWAIT: a blocking send of n bytes could wait past the
         * timeout for a client that reads only part of them. */
        ssize_t w = send_nosignal(fd, buf + off, n - off, MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return error_reason(errno);
        }
        off += (size_t)w;
        c->bytes_out += (uint64_t)w;
    }
    return NULL;
}

const char *echo_session(int fd, const struct server_opts *o, struct conn_stats *c)
{
    char buf[ECHO_CHUNK];
    int timeout_ms = o->idle_timeout > 0 ? o->idle_timeout * 1000 : -1;
    for (;;) {
        int r = wait_fd(fd, POLLIN, timeout_ms);
        if (r == 0)
            return "idle";
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
        const char *why = echo_back(fd, buf, (size_t)n, timeout_ms, c);
        if (why)
            return why;
    }
}
