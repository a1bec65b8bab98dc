/* connection.c - a connection's content, per mode (see connection.h). */
#include "connection.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define POOL_BYTES (4u << 20)     /* zero-copy: per connection, at least 2 buffers */

static const char *const mode_names[] = {"two-copy", "one-copy", "zero-copy", "sendfile",
                                         "send-zc"};
#define MODES (int)(sizeof mode_names / sizeof mode_names[0])

enum mode mode_parse(const char *name)
{
    for (int m = 0; m < MODES; m++)
        if (strcmp(name, mode_names[m]) == 0)
            return (enum mode)m;
    fprintf(stderr, "copy-modes: unknown --mode '%s' (two-copy, one-copy, zero-copy, "
            "sendfile, send-zc)\n", name);
    exit(2);
}

/* The modes whose buffers the kernel may still read after a send. */
static int uses_pool(enum mode m)
{
    return m == ZERO_COPY || m == SEND_ZC;
}

static void release_content(struct conn *c)
{
    message_free(&c->msg);
    free(c->flat);
    c->flat = NULL;
    for (int s = 0; s < c->zc.nslots; s++)
        message_free(&c->pool[s]);
    zc_reset(&c->zc, 0);
    c->ready = 0;
}

/* The connection's first memory file was taken when it was accepted (see
 * conn_new). Content is written into a file once: new content goes
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

const char *prepare_content(struct conn *c, const struct stream_request *rq)
{
    if (c->ready && c->tag == rq->tag && c->size == rq->size)
        return NULL;
    if (uses_pool(c->mode)) {          /* buffers still in flight are not ours to free */
        const char *why = zc_wait_below(&c->zc, 1, 2000);
        if (why)
            return why;
    }
    release_content(c);
    c->tag = rq->tag, c->size = rq->size;
    const char *no_memory = "out of memory for the message", *why = NULL;
    if (uses_pool(c->mode)) {
        int n = (int)(POOL_BYTES / rq->size);
        zc_reset(&c->zc, n < 2 ? 2 : n > ZC_POOL_MAX ? ZC_POOL_MAX : n);
        for (int s = 0; s < c->zc.nslots; s++)
            if (message_alloc(&c->pool[s], rq->size, rq->tag))
                why = no_memory;
    } else if (message_alloc(&c->msg, rq->size, rq->tag) ||
               (c->mode == TWO_COPY && !(c->flat = malloc(rq->size)))) {
        why = no_memory;
    } else if (c->mode == SENDFILE) {
        why = make_memfd(c);
    }
    if (why) {
        release_content(c);
        return why;
    }
    c->ready = 1;
    return NULL;
}


/* sendfile and send-zc need a second descriptor per connection (a memory
 * file, a ring). It is taken now, so that a server out of descriptors
 * turns this client away at once, as the accept loop does, instead of
 * failing its first request halfway. */
struct conn *conn_new(int fd, const struct sockaddr_storage *peer, enum mode mode,
                      const char *name)
{
    static double last;
    struct conn *c = calloc(1, sizeof *c);
    const char *what = NULL;
    if (c && mode == SENDFILE && (c->memfd = memfd_create("part4-message", MFD_CLOEXEC)) < 0)
        what = "a memory file";
    else if (c && mode == SEND_ZC && sendzc_open(&c->ring, fd, &c->zc) != 0)
        what = "a ring";
    if (what) {
        log_ratelimited(&last, "%s: no descriptor for %s (%s): turning clients away",
                        name, what, strerror(errno));
        free(c);
        c = NULL;
    }
    if (!c) {
        close(fd);
        return NULL;
    }
    if (mode != SENDFILE)
        c->memfd = -1;
    c->fd = fd, c->mode = mode;
    conn_stats_start(&c->st, peer);
    return c;
}

void conn_free(struct conn *c)
{
    sendzc_close(&c->ring);
    close(c->fd);
    release_content(c);
    if (c->memfd >= 0)
        close(c->memfd);
    free(c);
}

/* ---- the server's totals ------------------------------------------------- */

static pthread_mutex_t totals_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long connections;
static unsigned long long total_messages, total_bytes, total_requests;
static struct zc_counters zc_total;

void totals_add(const struct conn *c)
{
    pthread_mutex_lock(&totals_lock);
    connections++;
    total_messages += c->messages;
    total_bytes += c->st.bytes_out;
    total_requests += c->requests;
    zc_add(&zc_total, &c->zc.n);
    pthread_mutex_unlock(&totals_lock);
}

void totals_print(const char *name, enum mode mode, const struct thread_server *t,
                  int threads_left)
{
    pthread_mutex_lock(&totals_lock);     /* threads past the deadline may still add */
    /* CPU per KiB sent: this process's user+system time (what /proc/PID/stat
     * says) over everything it sent, start-up included (it is tiny). */
    double cpu = process_cpu_seconds();
    double kib = (double)total_bytes / 1024;
    printf("%s: stopped: mode=%s connections=%lu requests=%llu messages=%llu bytes=%llu "
           "refused=%lu accept_errors=%lu thread_errors=%lu unfinished_threads=%d "
           "cpu_s=%.3f cpu_per_kib_ns=%.1f",
           name, mode_names[mode], connections, total_requests, total_messages,
           total_bytes, t->refused, t->accept_errors, t->thread_errors, threads_left,
           cpu, kib > 0 ? cpu * 1e9 / kib : 0);
    if (uses_pool(mode))
        zc_print_totals(&zc_total);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&totals_lock);
}
