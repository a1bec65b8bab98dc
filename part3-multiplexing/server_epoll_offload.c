/*
 * part3-multiplexing/server_epoll_offload.c - an event loop that never
 * blocks, and a pool of threads that may.
 *
 * Lesson 3, continued. One epoll loop serves every client, and it must
 * never wait for one of them: while server_epoll.c spins or sleeps for
 * one request (--work-us, --block-us), every other client waits too. Here
 * the loop only does I/O. Each request it reads goes to a pool of -w
 * worker threads, which do its work; the result comes back to the loop,
 * which writes it. (nginx's thread pools, libuv's threadpool and Java's
 * selector-plus-executor are this design.)
 *
 *   loop:    epoll_wait -> recv a request -> job on `todo` -> (next client)
 *   worker:  job from `todo` -> do_request_work() -> job on `done`,
 *            then write 1 to the eventfd the loop watches
 *   loop:    eventfd readable -> take every job on `done` -> send it back
 *
 * At most one request per connection is in the pool: a connection is
 * registered EPOLLONESHOT, so after one event the kernel reports nothing
 * more for it until the loop re-arms it (EPOLL_CTL_MOD), which it does
 * only when the connection's result is back and sent. While its request
 * is in the pool, a client is not read at all: that is the backpressure,
 * and it bounds the queues by the number of connections.
 *
 * The registry, accepting at the cap and the idle sweep are common/step.c's;
 * the reading and sending halves are conn_recv() and conn_echo() (conn.c).
 */
#include "common.h"
#include "step.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_EVENTS      256
#define DEFAULT_WORKERS 4
#define IN_POOL         1      /* c->slot, the server's own field: request in the pool */

struct job {                   /* one request on its way through the pool */
    struct conn *c;            /* the loop's: a worker never touches it */
    struct job *next;
    size_t len;
    char bytes[];
};

struct jobs { struct job *first, *last; };   /* first in, first out */

static char listener_tag, results_tag;

struct server {
    struct conns conns;
    int listen_fd, ep, results_fd;   /* results_fd: the eventfd workers ring */
    pthread_mutex_t lock;            /* guards todo, done and stopping */
    pthread_cond_t work_came;
    struct jobs todo, done;
    int stopping;
    unsigned long offloaded;
};

static void jobs_push(struct jobs *q, struct job *j)
{
    j->next = NULL;
    if (q->last)
        q->last->next = j;
    else
        q->first = j;
    q->last = j;
}

static struct job *jobs_take_all(struct jobs *q)
{
    struct job *j = q->first;
    q->first = q->last = NULL;
    return j;
}

/* ---- the pool ------------------------------------------------------------ */

static void *worker(void *arg)
{
    struct server *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->todo.first && !s->stopping)
            pthread_cond_wait(&s->work_came, &s->lock);
        if (s->stopping)
            break;
        struct job *j = s->todo.first;
        if (!(s->todo.first = j->next))
            s->todo.last = NULL;
        pthread_mutex_unlock(&s->lock);

        do_request_work(j->len);   /* this thread blocks; the loop does not */

        pthread_mutex_lock(&s->lock);
        jobs_push(&s->done, j);
        uint64_t one = 1;          /* never blocks: the counter is nowhere near full */
        if (write(s->results_fd, &one, sizeof one) < 0) {
            static double last;
            log_ratelimited(&last, "%s: eventfd write: %s", s->conns.o->name, strerror(errno));
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- the loop ------------------------------------------------------------ */

/* EPOLLONESHOT: one event, then silence until this is called again. */
static int arm(struct server *s, int op, struct conn *c)
{
    struct epoll_event ev = {.events = (c->want == WANT_WRITE ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT,
                             .data.ptr = c};
    return epoll_ctl(s->ep, op, c->fd, &ev);
}

/* After some I/O on c (r says how it went): close it, or wait for more. */
static void carry_on(struct server *s, struct conn *c, enum conn_io r)
{
    const char *why = r == IO_FAILED ? c->why : NULL;
    if (!why && r != IO_AGAIN)
        registry_touch(&s->conns.reg, c, now_sec());
    if (!why && c->peer_closed && !c->owed)
        why = "eof";                 /* everything echoed: done */
    if (!why) {
        c->want = c->owed ? WANT_WRITE : WANT_READ;
        if (arm(s, EPOLL_CTL_MOD, c) == 0)
            return;
        why = "epoll_ctl";
    }
    c->why = why;
    conns_close(&s->conns, c);
}

/* Read one request and hand it to the pool; or flush what is owed. */
static void serve(struct server *s, struct conn *c, uint32_t ev)
{
    if (c->owed) {
        carry_on(s, c, ev & (EPOLLOUT | EPOLLERR | EPOLLHUP) ? conn_flush(c) : IO_AGAIN);
        return;
    }
    size_t n = 0;
    enum conn_io r = conn_recv(c, s->conns.scratch, sizeof s->conns.scratch, &n);
    if (r != IO_DONE) {              /* nothing to do: EAGAIN, EOF or an error */
        carry_on(s, c, r);
        return;
    }
    struct job *j = malloc(sizeof *j + n);
    if (!j) {
        c->why = "out of memory";
        carry_on(s, c, IO_FAILED);
        return;
    }
    j->c = c;
    j->len = n;
    memcpy(j->bytes, s->conns.scratch, n);
    c->slot = IN_POOL;
    registry_touch(&s->conns.reg, c, now_sec());
    pthread_mutex_lock(&s->lock);
    jobs_push(&s->todo, j);
    pthread_cond_signal(&s->work_came);
    pthread_mutex_unlock(&s->lock);
    s->offloaded++;
}

/* The eventfd rang: send back every result that has come. */
static void collect_results(struct server *s)
{
    uint64_t rings;            /* how many: the list below is what counts */
    if (read(s->results_fd, &rings, sizeof rings) < 0 && errno != EAGAIN) {
        static double last;
        log_ratelimited(&last, "%s: eventfd read: %s", s->conns.o->name, strerror(errno));
    }
    pthread_mutex_lock(&s->lock);
    struct job *j = jobs_take_all(&s->done);
    pthread_mutex_unlock(&s->lock);
    while (j) {
        struct job *next = j->next;
        struct conn *c = j->c;
        c->slot = -1;
        carry_on(s, c, conn_echo(c, j->bytes, j->len));
        free(j);
        j = next;
    }
}

static void accept_clients(struct server *s)
{
    struct conn *c;
    for (int k = 0; k < ACCEPTS_PER_WAKEUP && (c = conns_accept(&s->conns, s->listen_fd)); k++) {
        if (arm(s, EPOLL_CTL_ADD, c) != 0) {
            c->why = "epoll_ctl";
            conns_close(&s->conns, c);
        }
    }
}

/* A connection waiting for its own result is not idle: it goes to the
 * back of the registry instead (each is looked at once, so this ends). */
static void close_idle(struct server *s)
{
    struct conn *c;
    double now = now_sec();
    while ((c = registry_expired(&s->conns.reg, now, s->conns.o->idle_timeout)) != NULL) {
        if (c->slot == IN_POOL)
            registry_touch(&s->conns.reg, c, now);
        else if ((c = conns_idle(&s->conns, now)) != NULL)
            conns_close(&s->conns, c);
    }
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "epoll-offload", .workers = DEFAULT_WORKERS,
                            .accepts = OPT_WORKERS};
    server_opts_parse(&o, argc, argv);
    static struct server s = {.lock = PTHREAD_MUTEX_INITIALIZER,
                              .work_came = PTHREAD_COND_INITIALIZER};
    s.listen_fd = conns_start(&s.conns, &o);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    s.results_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s.ep < 0 || s.results_fd < 0)
        die("epoll_create1/eventfd");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag},
                       rev = {.events = EPOLLIN, .data.ptr = &results_tag};
    if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.listen_fd, &lev) != 0 ||
        epoll_ctl(s.ep, EPOLL_CTL_ADD, s.results_fd, &rev) != 0)
        die("epoll_ctl ADD");

    pthread_t *pool = calloc((size_t)o.workers, sizeof *pool);
    if (!pool)
        die("allocating the pool");
    block_stop_signals(SIG_BLOCK);            /* SIGTERM reaches the loop only */
    for (int i = 0; i < o.workers; i++)
        if ((errno = pthread_create(&pool[i], NULL, worker, &s)) != 0)
            die("pthread_create");
    block_stop_signals(SIG_UNBLOCK);
    print_banner(o.name, s.listen_fd);

    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        int n = epoll_wait(s.ep, events, MAX_EVENTS, conns_wait_ms(&s.conns));
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &listener_tag)
                accept_clients(&s);
            else if (tag == &results_tag)
                collect_results(&s);
            else
                serve(&s, tag, events[i].events);
        }
        close_idle(&s);
    }

    /* Workers finish the request in hand (at most --block-us), then leave. */
    pthread_mutex_lock(&s.lock);
    s.stopping = 1;
    pthread_cond_broadcast(&s.work_came);
    pthread_mutex_unlock(&s.lock);
    for (int i = 0; i < o.workers; i++)
        pthread_join(pool[i], NULL);
    free(pool);
    for (struct job *j = jobs_take_all(&s.todo), *next; j; j = next)
        next = j->next, free(j);   /* never started: their clients are closed next */
    for (struct job *j = jobs_take_all(&s.done), *next; j; j = next)
        next = j->next, free(j);
    struct conn *c;                  /* every connection is in the registry */
    while ((c = conns_oldest(&s.conns)) != NULL)
        conns_close(&s.conns, c);
    close(s.results_fd);
    close(s.ep);
    close(s.listen_fd);
    char extra[64];
    snprintf(extra, sizeof extra, " workers=%d offloaded=%lu", o.workers, s.offloaded);
    print_stopped(o.name, &s.conns.n, extra);
    return 0;
}
