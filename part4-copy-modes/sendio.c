/* sendio.c - sending on a non-blocking socket (see sendio.h). */
#include "sendio.h"
#include "connection.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

const char *send_error_reason(int err)
{
    return err == EPIPE || err == ECONNRESET ? "closed by client" : strerror(err);
}

const char *wait_writable(int fd, int timeout_ms)
{
    int r = wait_fd(fd, POLLOUT, timeout_ms);
    return r > 0 ? NULL : r == 0 ? "not reading (idle timeout)" : "stopped";
}

const char *send_all(struct conn *c, const void *buf, size_t n, int more, int timeout_ms)
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
            const char *why = wait_writable(c->fd, timeout_ms);
            if (why)
                return why;
        } else {
            return send_error_reason(errno);
        }
    }
    return NULL;
}

void iov_advance(struct iovec **iov, int *cnt, size_t done)
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
