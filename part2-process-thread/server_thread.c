/*
 * part2-process-thread/server_thread.c - a thread per client.
 *
 * Lesson 2, the lighter twin of the fork server: for each connection the
 * main thread starts a detached thread that serves that one client with
 * the blocking echo_session() and then ends. Threads share everything -
 * memory, descriptors, the signal dispositions - so there is nothing to
 * close on the other side and no child to reap, but also no wall between
 * clients: a bug in one thread can corrupt every other one.
 *
 * The classic race: passing the descriptor as `&fd`, the address of the
 * accept loop's variable. By the time the new thread reads it, the loop may
 * have accepted the next client into the same variable, and two threads
 * serve one socket while the other leaks. Here each connection gets its own
 * heap block, owned from then on by its thread, which frees it.
 *
 * The cap: --max-conns live threads; at the cap the newcomer is accepted
 * and closed at once (the client sees EOF). A failed pthread_create
 * (EAGAIN: out of threads or memory) closes that client; the server goes
 * on. --stack-kib sets each thread's stack (the default is 8 MiB of
 * address space, mostly never touched).
 */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct client {
    int fd;
    struct sockaddr_storage peer;
    const struct server_opts *o;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thread_ended = PTHREAD_COND_INITIALIZER;
static int live;                       /* threads serving a client */
static unsigned long served, refused, create_failed, accept_errors;
static unsigned long long bytes_echoed;

static void *serve_client(void *arg)
{
    struct client *cl = arg;           /* ours alone: no race with the loop */
    struct conn_stats c;
    conn_stats_start(&c, &cl->peer);
    const char *why = echo_session(cl->fd, cl->o, &c);
    log_conn(cl->o, cl->fd, &c, why);
    close(cl->fd);
    free(cl);
    pthread_mutex_lock(&lock);
    live--;
    served++;
    bytes_echoed += c.bytes_out;
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

static void start_thread(int fd, const struct sockaddr_storage *peer,
                         const struct server_opts *o, pthread_attr_t *attr)
{
    struct client *cl = malloc(sizeof *cl);
    if (cl) {
        *cl = (struct client){.fd = fd, .peer = *peer, .o = o};
        pthread_mutex_lock(&lock);
        live++;                        /* counted before it can end */
        pthread_mutex_unlock(&lock);
        pthread_t tid;
        if (pthread_create(&tid, attr, serve_client, cl) == 0)
            return;
        pthread_mutex_lock(&lock);
        live--;
        pthread_mutex_unlock(&lock);
        free(cl);
    }
    create_failed++;                   /* this client only: close it, go on */
    close(fd);
}

/* Threads see stop_requested within wait_fd's 200 ms slice; give them
 * 1.5 s in all. Returns how many are still running (they end with us). */
static int wait_for_threads(void)
{
    struct timespec deadline = deadline_after_ms(1500);
    pthread_mutex_lock(&lock);
    while (live > 0)
        if (pthread_cond_timedwait(&thread_ended, &lock, &deadline) == ETIMEDOUT)
            break;
    int left = live;
    pthread_mutex_unlock(&lock);
    return left;
}

static void thread_attributes(pthread_attr_t *attr, const struct server_opts *o)
{
    if (pthread_attr_init(attr) != 0 ||
        pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED) != 0)
        die("pthread_attr");
    if (o->stack_kib > 0) {
        /* echo_session keeps a 16 KiB buffer on the stack: ask for room. */
        size_t bytes = (size_t)o->stack_kib * 1024;
        if (bytes < 64 * 1024 || bytes < (size_t)PTHREAD_STACK_MIN) {
            fprintf(stderr, "%s: --stack-kib must be at least 64\n", o->name);
            exit(2);
        }
        errno = pthread_attr_setstacksize(attr, bytes);
        if (errno != 0)
            die("pthread_attr_setstacksize");
    }
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "thread", .accepts = OPT_STACK};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();
    pthread_attr_t attr;
    thread_attributes(&attr, &o);
    int listen_fd = listen_socket(&o, 0);
    print_banner(o.name, listen_fd);

    while (!stop_requested) {
        if (wait_fd(listen_fd, POLLIN, 1000) <= 0)
            continue;
        if (live_threads() >= o.max_conns) {
            refuse_client(listen_fd);
            refused++;
            continue;
        }
        struct sockaddr_storage peer;
        int fd = accept_or_back_off(listen_fd, &peer, &accept_errors);
        if (fd < 0)
            continue;
        /* Only the main thread takes SIGINT/SIGTERM, so that its wait is
         * the one interrupted. A new thread inherits its creator's signal
         * mask: blocking them around pthread_create gives every client
         * thread a blocked mask (a signal that arrives meanwhile is
         * delivered when we unblock). */
        block_stop_signals(SIG_BLOCK);
        start_thread(fd, &peer, &o, &attr);
        block_stop_signals(SIG_UNBLOCK);
    }

    close(listen_fd);
    int left = wait_for_threads();
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&lock);
    printf("%s: stopped: connections=%lu bytes=%llu refused=%lu create_failed=%lu "
           "accept_errors=%lu threads_left=%d\n", o.name, served, bytes_echoed,
           refused, create_failed, accept_errors, left);
    pthread_mutex_unlock(&lock);
    return 0;
}
