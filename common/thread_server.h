/*
 * thread_server.h - a thread per connection, as plumbing.
 *
 * For a server whose lesson is what one connection does, not how each
 * connection gets its thread (part 4). Part 2's server_thread.c teaches
 * the pattern itself, line by line; this is the same pattern, once.
 */
#ifndef THREAD_SERVER_H
#define THREAD_SERVER_H

#include "common.h"

struct thread_server {
    const struct server_opts *o;
    int nonblocking;              /* accepted sockets get O_NONBLOCK */
    /* A new client: return its thread's argument, or NULL to turn it away
     * (admit has closed fd; the runner counts it in `refused`). */
    void *(*admit)(int fd, const struct sockaddr_storage *peer);
    void (*serve)(void *arg);     /* the thread's work; closes and frees */
    void (*discard)(void *arg);   /* no thread could start: close, free */
    /* Counts, final when thread_server_run() returns. refused: turned
     * away at --max-conns or by admit. */
    unsigned long refused, accept_errors, thread_errors;
};

/* Until stop_requested: accept, and serve each client in a detached
 * thread, at most o->max_conns at once (a newcomer past the cap is
 * accepted and closed at once: it sees EOF). Then wait up to wait_ms for
 * the threads to end. Returns how many are still running. */
int thread_server_run(struct thread_server *t, int listen_fd, int wait_ms);

#endif
