/*
 * part2-process-thread/server_pool.c - a thread pool: one acceptor, a
 * bounded queue, N workers.
 *
 * Lesson 2, the thread server without a thread per client: -w worker
 * threads are made at start-up and live as long as the server. The main
 * thread only accepts, and puts each new connection in a queue of
 * --queue slots; a free worker takes the oldest one and serves it to the
 * end with the blocking echo_session(), then takes the next.
 *
 * The queue is bounded, so something must happen when it is full. Our
 * policy: the acceptor turns the newcomer away - accepts it and closes it
 * at once, so the client sees EOF immediately and can retry or go
 * elsewhere, instead of hanging with nobody ever reading what it sent.
 * (The other classic answer is to stop accepting and let clients wait in
 * the kernel's listen queue; docs/part2.md compares the two.)
 *
 * At most -w clients are served at the same time; up to --queue more are
 * accepted and wait their turn. --max-conns caps the two together.
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pending {
    int fd;
    struct sockaddr_storage peer;
};

/* The queue: a ring of --queue slots, guarded by one mutex. */
static struct pending *ring;
static int ring_size, head, count, busy;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static unsigned long served, refused, accept_errors;
static unsigned long long bytes_echoed;

/* Called with the lock held. */
static void enqueue(int fd, const struct sockaddr_storage *peer)
{
    ring[(head + count) % ring_size] = (struct pending){.fd = fd, .peer = *peer};
    count++;
    pthread_cond_signal(&not_empty);
}

/* Take the oldest connection; 0 when it is time to stop. Waits in slices
 * so that a stop request is seen even without a wake-up. */
static int dequeue(struct pending *p)
{
    pthread_mutex_lock(&lock);
    while (count == 0 && !stop_requested) {
        struct timespec slice = deadline_after_ms(200);
        pthread_cond_timedwait(&not_empty, &lock, &slice);
    }
    int got = count > 0 && !stop_requested;
    if (got) {
        *p = ring[head];
        head = (head + 1) % ring_size;
        count--;
        busy++;
    }
    pthread_mutex_unlock(&lock);
    return got;
}

static void *worker(void *arg)
{
    const struct server_opts *o = arg;
    struct pending p;
    while (dequeue(&p)) {
        struct conn_stats c;
        conn_stats_start(&c, &p.peer);
        const char *why = echo_session(p.fd, o, &c);
        log_conn(o, p.fd, &c, why);
        close(p.fd);
        pthread_mutex_lock(&lock);
        busy--;
        served++;
        bytes_echoed += c.bytes_out;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

/* The full-queue policy: a newcomer is refused while the queue is full
 * or the workers and the queue together hold --max-conns clients. */
static int no_room(const struct server_opts *o)
{
    pthread_mutex_lock(&lock);
    int full = count == ring_size || busy + count >= o->max_conns;
    pthread_mutex_unlock(&lock);
    return full;
}

static void accept_one(int listen_fd, const struct server_opts *o)
{
    if (no_room(o)) {
        refuse_client(listen_fd);
        refused++;
        return;
    }
    struct sockaddr_storage peer;
    int fd = accept_or_back_off(listen_fd, &peer, &accept_errors);
    if (fd < 0)
        return;
    pthread_mutex_lock(&lock);
    enqueue(fd, &peer);        /* room was checked: only we add */
    pthread_mutex_unlock(&lock);
}


/* Wake and join every worker, within 1.5 s in all; returns how many did
 * not finish (they end with the process). */
static int stop_workers(pthread_t *tids, int n)
{
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&not_empty);
    pthread_mutex_unlock(&lock);
    struct timespec deadline = deadline_after_ms(1500);
    int left = 0;
    for (int i = 0; i < n; i++)
        left += pthread_timedjoin_np(tids[i], NULL, &deadline) != 0;
    /* Connections still queued were never served: close them. */
    pthread_mutex_lock(&lock);
    for (; count > 0; count--, head = (head + 1) % ring_size)
        close(ring[head].fd);
    pthread_mutex_unlock(&lock);
    return left;
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "pool", .accepts = OPT_WORKERS | OPT_QUEUE,
                            .workers = 4, .queue_len = 64,
                            .help_extra = "  (a full queue: newcomers are accepted "
                                          "and closed at once)\n"};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();
    ring_size = o.queue_len;
    ring = calloc((size_t)ring_size, sizeof *ring);
    pthread_t *tids = calloc((size_t)o.workers, sizeof *tids);
    if (!ring || !tids)
        die("calloc");
    int listen_fd = listen_socket(&o, 0);

    /* Workers get SIGINT/SIGTERM blocked (inherited from this mask at
     * creation), so the signal interrupts the acceptor's wait. */
    block_stop_signals(SIG_BLOCK);
    for (int i = 0; i < o.workers; i++) {
        errno = pthread_create(&tids[i], NULL, worker, &o);
        if (errno != 0)
            die("pthread_create");     /* start-up: exit */
    }
    block_stop_signals(SIG_UNBLOCK);
    print_banner(o.name, listen_fd);

    while (!stop_requested)
        if (wait_fd(listen_fd, POLLIN, 1000) > 0)
            accept_one(listen_fd, &o);

    close(listen_fd);
    int left = stop_workers(tids, o.workers);
    pthread_mutex_lock(&lock);
    printf("%s: stopped: connections=%lu bytes=%llu refused=%lu accept_errors=%lu "
           "workers=%d workers_left=%d\n", o.name, served, bytes_echoed, refused,
           accept_errors, o.workers, left);
    pthread_mutex_unlock(&lock);
    free(tids);
    free(ring);
    return 0;
}
