/* thread_server.c - a thread per connection (see thread_server.h). */
#include "thread_server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thread_ended = PTHREAD_COND_INITIALIZER;
static int live;                     /* threads started and not yet ended */

struct launch {
    void (*serve)(void *arg);
    void *arg;
};

static void *thread_main(void *p)
{
    struct launch l = *(struct launch *)p;
    free(p);
    l.serve(l.arg);
    pthread_mutex_lock(&lock);
    live--;
    pthread_cond_signal(&thread_ended);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static int live_threads(void)
{
    pthread_mutex_lock(&lock);
    int n = live;
    pthread_mutex_unlock(&lock);
    return n;
}

/* Counted before it starts, so that it cannot end before it is counted. */
static int start_thread(struct thread_server *t, void *arg, const pthread_attr_t *attr)
{
    struct launch *l = malloc(sizeof *l);
    if (!l)
        return ENOMEM;
    *l = (struct launch){.serve = t->serve, .arg = arg};
    pthread_mutex_lock(&lock);
    live++;
    pthread_mutex_unlock(&lock);
    pthread_t tid;
    block_stop_signals(SIG_BLOCK);
    int err = pthread_create(&tid, attr, thread_main, l);
    block_stop_signals(SIG_UNBLOCK);
    if (err) {
        pthread_mutex_lock(&lock);
        live--;
        pthread_mutex_unlock(&lock);
        free(l);
    }
    return err;
}

static void accept_one(struct thread_server *t, int listen_fd, const pthread_attr_t *attr)
{
    if (live_threads() >= t->o->max_conns) {
        refuse_client(listen_fd);
        t->refused++;
        return;
    }
    struct sockaddr_storage peer;
    int fd = accept_client(listen_fd, &peer, t->nonblocking);
    if (fd < 0) {
        if (errno != EAGAIN) {       /* ENOBUFS, ENOMEM: back off, never spin */
            t->accept_errors++;
            sleep_ms(10);
        }
        return;
    }
    void *arg = t->admit(fd, &peer);
    if (!arg) {
        t->refused++;
        return;
    }
    if (start_thread(t, arg, attr) != 0) {   /* out of threads: this client only */
        t->discard(arg);
        t->thread_errors++;
    }
}

/* Threads see stop_requested within wait_fd()'s slice. */
static int wait_for_threads(int wait_ms)
{
    struct timespec deadline = deadline_after_ms(wait_ms);
    pthread_mutex_lock(&lock);
    while (live > 0)
        if (pthread_cond_timedwait(&thread_ended, &lock, &deadline) == ETIMEDOUT)
            break;
    int left = live;
    pthread_mutex_unlock(&lock);
    return left;
}

int thread_server_run(struct thread_server *t, int listen_fd, int wait_ms)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0 ||
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0)
        die("pthread_attr");
    while (!stop_requested)
        if (wait_fd(listen_fd, POLLIN, 1000) > 0)
            accept_one(t, listen_fd, &attr);
    pthread_attr_destroy(&attr);
    return wait_for_threads(wait_ms);
}
