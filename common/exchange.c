/* exchange.c - one echo request, sent and checked (clients and tests). */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#define CHUNK 65536

static int remaining_ms(uint64_t deadline_ns)
{
    uint64_t now = now_ns();
    return now >= deadline_ns ? 0 : (int)((deadline_ns - now) / 1000000u) + 1;
}

static int send_some(int fd, struct exchange *x, uint8_t *buf)
{
    size_t n = x->size - x->sent < CHUNK ? x->size - x->sent : CHUNK;
    payload_fill(buf, n, x->conn, x->req, x->sent);
    ssize_t w = send_nosignal(fd, buf, n, MSG_DONTWAIT);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    x->sent += (size_t)w;
    if (x->sent == x->size && x->half_close && shutdown(fd, SHUT_WR) != 0)
        return -1;
    return 1;
}

static enum xchg_result recv_some(int fd, struct exchange *x, uint8_t *buf)
{
    size_t want = x->size - x->received < CHUNK ? x->size - x->received : CHUNK;
    ssize_t r = recv(fd, buf, want, MSG_DONTWAIT);
    if (r == 0)
        return XCHG_CLOSED;
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return XCHG_OK;
        x->err = errno;
        return XCHG_ERROR;
    }
    if (x->received == 0)
        x->first_reply_ns = now_ns();
    long bad = payload_check(buf, (size_t)r, x->conn, x->req, x->received);
    if (bad >= 0) {
        x->bad_offset = (long)x->received + bad;
        return XCHG_MISMATCH;
    }
    x->received += (size_t)r;
    return XCHG_OK;
}

enum xchg_result echo_exchange(int fd, struct exchange *x)
{
    static __thread uint8_t out[CHUNK], in[CHUNK];
    int timeout = x->timeout_ms > 0 ? x->timeout_ms : 30000;
    uint64_t deadline = now_ns() + (uint64_t)timeout * 1000000u;
    x->sent = x->received = 0;
    x->first_reply_ns = 0;
    x->bad_offset = -1;
    x->err = 0;
    while (x->received < x->size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (x->sent < x->size)
            p.events |= POLLOUT;
        int ms = remaining_ms(deadline);
        if (ms == 0)
            return XCHG_TIMEOUT;
        int r = poll(&p, 1, ms);
        if (r < 0 && errno != EINTR) {
            x->err = errno;
            return XCHG_ERROR;
        }
        if (r <= 0)
            continue;
        size_t before = x->sent + x->received;
        if ((p.revents & POLLOUT) && send_some(fd, x, out) < 0) {
            x->err = errno;
            return XCHG_ERROR;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            enum xchg_result rr = recv_some(fd, x, in);
            if (rr != XCHG_OK)
                return rr;
        }
        if (x->sent + x->received != before)   /* progress: a fresh timeout */
            deadline = now_ns() + (uint64_t)timeout * 1000000u;
    }
    return XCHG_OK;
}

const char *exchange_error(const struct exchange *x, enum xchg_result r,
                           char *buf, size_t n)
{
    switch (r) {
    case XCHG_OK:
        snprintf(buf, n, "ok");
        break;
    case XCHG_TIMEOUT:
        snprintf(buf, n, "timeout (sent %zu, received %zu of %zu bytes)",
                 x->sent, x->received, x->size);
        break;
    case XCHG_CLOSED:
        snprintf(buf, n, "server closed after %zu of %zu bytes", x->received, x->size);
        break;
    case XCHG_ERROR:
        snprintf(buf, n, "%s after %zu of %zu bytes", strerror(x->err),
                 x->received, x->size);
        break;
    case XCHG_MISMATCH:
        snprintf(buf, n, "wrong byte at offset %ld of %zu", x->bad_offset, x->size);
        break;
    }
    return buf;
}
