/* conn.c - per-connection bookkeeping of the event-driven servers (conn.h). */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct conn *conn_new(int fd, const struct sockaddr_storage *peer)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->slot = -1;
    conn_stats_start(&c->st, peer);
    c->last_active = c->st.start;
    return c;
}

void conn_close(const struct server_opts *o, struct conn *c, const char *why)
{
    log_conn(o, c->fd, &c->st, why);
    close(c->fd);
    free(c->owed);
    free(c);
}

static enum conn_io failed(struct conn *c, int err)
{
    c->why = (err == ECONNRESET || err == EPIPE) ? "reset" : "error";
    return IO_FAILED;
}

/* Send until all n bytes are gone or the kernel says EAGAIN; returns the
 * bytes sent (maybe 0), or -1 on a real error. A short count alone proves
 * nothing: only EAGAIN guarantees that an edge-triggered EPOLLOUT will
 * follow once there is room again. */
static ssize_t send_some(struct conn *c, const char *buf, size_t n)
{
    size_t sent = 0;
    while (sent < n) {
        ssize_t w = send_nosignal(c->fd, buf + sent, n - sent, MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        sent += (size_t)w;
        c->st.bytes_out += (uint64_t)w;
    }
    return (ssize_t)sent;
}

enum conn_io conn_recv(struct conn *c, char *buf, size_t cap, size_t *got)
{
    if (cap > CONN_CHUNK)
        cap = CONN_CHUNK;
    ssize_t n;
    do                         /* EINTR: no data lost, just try again */
        n = recv(c->fd, buf, cap, 0);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
        c->peer_closed = 1;
        return IO_EOF;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return IO_AGAIN;
        return failed(c, errno);
    }
    c->st.reads++;
    c->st.bytes_in += (uint64_t)n;
    *got = (size_t)n;
    return IO_DONE;
}

enum conn_io conn_echo(struct conn *c, const char *buf, size_t n)
{
    ssize_t w = send_some(c, buf, n);
    if (w < 0)
        return failed(c, errno);
    if ((size_t)w == n)
        return IO_DONE;
    /* The client's receive buffer is full: keep the rest for later. */
    c->owed = malloc(n - (size_t)w);
    if (!c->owed) {
        c->why = "out of memory";
        return IO_FAILED;
    }
    memcpy(c->owed, buf + w, n - (size_t)w);
    c->owed_len = n - (size_t)w;
    c->owed_off = 0;
    return IO_OWES;
}

enum conn_io conn_read_echo(struct conn *c, char *scratch, size_t cap)
{
    size_t n = 0;
    enum conn_io r = conn_recv(c, scratch, cap, &n);
    if (r != IO_DONE)
        return r;
    do_request_work(n);        /* --work-us, --block-us: the loop waits here */
    return conn_echo(c, scratch, n);
}

enum conn_io conn_flush(struct conn *c)
{
    if (!c->owed)
        return IO_DONE;
    ssize_t w = send_some(c, c->owed + c->owed_off, c->owed_len - c->owed_off);
    if (w < 0)
        return failed(c, errno);
    c->owed_off += (size_t)w;
    if (c->owed_off < c->owed_len)
        return IO_OWES;
    free(c->owed);          /* an idle connection keeps no buffer */
    c->owed = NULL;
    c->owed_len = c->owed_off = 0;
    return IO_DONE;
}

/* ---- the registry: a doubly linked list, oldest activity first ------- */

void registry_remove(struct registry *r, struct conn *c)
{
    if (c->older)
        c->older->newer = c->newer;
    else if (r->oldest == c)
        r->oldest = c->newer;
    if (c->newer)
        c->newer->older = c->older;
    else if (r->newest == c)
        r->newest = c->older;
    c->older = c->newer = NULL;
}

void registry_touch(struct registry *r, struct conn *c, double now)
{
    c->last_active = now;
    if (r->newest == c)
        return;
    registry_remove(r, c);
    c->older = r->newest;
    if (r->newest)
        r->newest->newer = c;
    r->newest = c;
    if (!r->oldest)
        r->oldest = c;
}

struct conn *registry_expired(const struct registry *r, double now, int timeout)
{
    struct conn *c = r->oldest;
    if (timeout <= 0 || !c || now - c->last_active < timeout)
        return NULL;
    return c;
}

int registry_wait_ms(const struct registry *r, double now, int timeout, int cap_ms)
{
    if (timeout <= 0 || !r->oldest)
        return cap_ms;
    double left = (r->oldest->last_active + timeout - now) * 1000.0;
    if (left <= 0)
        return 0;
    return left < cap_ms ? (int)left + 1 : cap_ms;
}

/* ---- the ready queue: a doubly linked FIFO ----------------------------- */

void queue_push(struct conn_queue *q, struct conn *c)
{
    c->in_list = 1;
    c->ahead = q->last;
    c->behind = NULL;
    if (q->last)
        q->last->behind = c;
    else
        q->first = c;
    q->last = c;
    q->len++;
}

void queue_remove(struct conn_queue *q, struct conn *c)
{
    if (!c->in_list)
        return;
    if (c->ahead)
        c->ahead->behind = c->behind;
    else
        q->first = c->behind;
    if (c->behind)
        c->behind->ahead = c->ahead;
    else
        q->last = c->ahead;
    c->ahead = c->behind = NULL;
    c->in_list = 0;
    q->len--;
}

struct conn *queue_pop(struct conn_queue *q)
{
    struct conn *c = q->first;
    if (c)
        queue_remove(q, c);
    return c;
}
