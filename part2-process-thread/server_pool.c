/*
 * part2-process-thread/server_pool.c - a thread pool: one acceptor, a
 * bounded queue, N workers, more while all are busy.
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
 * With a fixed set of -w workers, -w silent clients deny service to all
 * others. So the pool grows between a core and a maximum, as Java's thread
 * pools do: when the acceptor queues a connection and no worker is free,
 * it starts one more, up to --max-workers; a worker that has waited
 * --idle-retire seconds for work ends, as long as -w remain. --max-workers equal to -w is the classic
 * fixed pool: -w clients served at once, up to --queue more waiting their
 * turn. --max-conns caps the two together.
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

/* A slot per possible worker. A retiring worker marks its slot ENDED; the
 * acceptor joins it when it reuses the slot, or at the stop. */
enum { FREE, RUNNING, ENDED };
struct worker_slot { pthread_t tid; int state; };

/* The queue: a ring of --queue slots, guarded by one mutex. */
static struct pending *ring;
static int ring_size, head, count, busy;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static unsigned long served, refused, accept_errors;
static unsigned long long bytes_echoed;
/* The pool, under the same lock. */
static struct worker_slot *slots;
static int threads, min_threads, max_threads;
static int peak;                   /* the most workers at once */
static unsigned long retired, create_failed;
static const struct server_opts *opts;

/* Called with the lock held. */
static void enqueue(int fd, const struct sockaddr_storage *peer)
{
    ring[(head + count) % ring_size] = (struct pending){.fd = fd, .peer = *peer};
    count++;
    pthread_cond_signal(&not_empty);
}

/* Called with the lock held by a worker that found nothing to do: it
 * leaves when it has waited --idle-retire seconds and -w remain without it. */
static int retiring(struct worker_slot *me, double idle_since)
{
    if (threads <= min_threads || now_sec() - idle_since < opts->idle_retire)
        return 0;
    threads--;
    me->state = ENDED;
    retired++;
    return 1;
}

/* Take the oldest connection; 0 when it is time to stop or to retire.
 * Waits in slices so that a stop request is seen even without a wake-up. */
static int dequeue(struct pending *p, struct worker_slot *me)
{
    pthread_mutex_lock(&lock);
    double idle_since = now_sec();
    while (count == 0 && !stop_requested && !retiring(me, idle_since)) {
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
    const struct server_opts *o = opts;
    struct pending p;
    while (dequeue(&p, arg)) {
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

/* Returns 1 when the pool should grow: more connections are queued than
 * workers are free to take them. */
static int accept_one(int listen_fd, const struct server_opts *o)
{
    if (no_room(o)) {
        refuse_client(listen_fd);
        refused++;
        return 0;
    }
    struct sockaddr_storage peer;
    int fd = accept_or_back_off(listen_fd, &peer, &accept_errors);
    if (fd < 0)
        return 0;
    pthread_mutex_lock(&lock);
    enqueue(fd, &peer);        /* room was checked: only we add */
    int grow = count > threads - busy && threads < max_threads;
    pthread_mutex_unlock(&lock);
    return grow;
}

static int slot_state(int i)
{
    pthread_mutex_lock(&lock);
    int state = slots[i].state;
    pthread_mutex_unlock(&lock);
    return state;
}

/* One more worker (the caller checked threads < max_threads), in a slot
 * with none running. After start-up a failure (EAGAIN: the thread limit,
 * or no memory for a stack) is not fatal: the server goes on with what it
 * has. */
static int start_worker(void)
{
    static double last_warning;
    pthread_mutex_lock(&lock);
    int i = 0;
    while (slots[i].state == RUNNING)
        i++;
    int was = slots[i].state;
    slots[i].state = RUNNING;
    threads++;
    peak = threads > peak ? threads : peak;
    pthread_mutex_unlock(&lock);
    if (was == ENDED)                  /* a retired worker: it has returned */
        pthread_join(slots[i].tid, NULL);
    /* Workers get SIGINT/SIGTERM blocked (inherited from this mask at
     * creation), so the signal interrupts the acceptor's wait. */
    block_stop_signals(SIG_BLOCK);
    int err = pthread_create(&slots[i].tid, NULL, worker, &slots[i]);
    block_stop_signals(SIG_UNBLOCK);
    pthread_mutex_lock(&lock);
    if (err) {
        slots[i].state = FREE;
        threads--;
        create_failed++;
    }
    pthread_mutex_unlock(&lock);
    if (err)
        log_ratelimited(&last_warning, "%s: pthread_create: %s: going on with the "
                        "workers there are", opts->name, strerror(err));
    errno = err;
    return err ? -1 : 0;
}

/* Wake and join every worker, within 1.5 s in all; returns how many did
 * not finish (they end with the process). */
static int stop_workers(void)
{
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&not_empty);
    pthread_mutex_unlock(&lock);
    struct timespec deadline = deadline_after_ms(1500);
    int left = 0;
    for (int i = 0; i < max_threads; i++)
        if (slot_state(i) != FREE)
            left += pthread_timedjoin_np(slots[i].tid, NULL, &deadline) != 0;
    /* Connections still queued were never served: close them. */
    pthread_mutex_lock(&lock);
    for (; count > 0; count--, head = (head + 1) % ring_size)
        close(ring[head].fd);
    pthread_mutex_unlock(&lock);
    return left;
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "pool", .accepts = OPT_WORKERS | OPT_QUEUE | OPT_GROW,
                            .workers = 4, .queue_len = 64,
                            .help_extra = "  (a full queue: newcomers are accepted "
                                          "and closed at once)\n"};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();
    opts = &o;
    /* A worker holds one client: more workers than --max-conns is no use. */
    max_threads = o.max_workers < o.max_conns ? o.max_workers : o.max_conns;
    min_threads = o.workers < max_threads ? o.workers : max_threads;
    /* --queue slots for clients that wait, and one more per worker the pool
     * may still add: a connection queued while its worker starts does not
     * wait for a free one. (A fixed pool has exactly --queue.) */
    ring_size = o.queue_len + max_threads - min_threads;
    ring = calloc((size_t)ring_size, sizeof *ring);
    slots = calloc((size_t)max_threads, sizeof *slots);
    if (!ring || !slots)
        die("calloc");
    int listen_fd = listen_socket(&o, 0);

    for (int i = 0; i < min_threads; i++)
        if (start_worker() != 0)
            die("pthread_create");     /* start-up: exit */
    print_banner(o.name, listen_fd);

    while (!stop_requested)
        if (wait_fd(listen_fd, POLLIN, 1000) > 0 && accept_one(listen_fd, &o))
            start_worker();

    close(listen_fd);
    int left = stop_workers();
    pthread_mutex_lock(&lock);
    printf("%s: stopped: connections=%lu bytes=%llu refused=%lu accept_errors=%lu "
           "workers=%d max_workers=%d peak=%d retired=%lu create_failed=%lu "
           "workers_left=%d\n", o.name, served, bytes_echoed, refused, accept_errors,
           min_threads, max_threads, peak, retired, create_failed, left);
    pthread_mutex_unlock(&lock);
    free(slots);
    free(ring);
    return 0;
}
