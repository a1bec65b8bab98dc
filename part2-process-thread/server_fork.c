/*
 * part2-process-thread/server_fork.c - a child process per client.
 *
 * Lesson 2, the oldest answer to lesson 1's queue: the parent only
 * accepts; for each connection it fork()s a child that serves that one
 * client with the same blocking echo_session() as the iterative server,
 * then exits. While one child waits for its slow client, the parent is
 * already back in accept() and the next child is serving the next client.
 *
 * What fork() gives the child: a copy of the parent's memory (copied
 * lazily, page by page, when either side writes) and a copy of every open
 * descriptor, pointing at the SAME open sockets. Hence the two closes that
 * make this server correct: the child closes the listening socket (it
 * never accepts), and the parent closes the connection (or that socket
 * would stay open after the child is done, the client would never see
 * EOF, and the parent would run out of descriptors).
 *
 * A child that exits stays a zombie until its parent collects its status.
 * SIGCHLD tells the parent that children exited; one signal may stand for
 * many (signals do not queue), so the handler reaps in a loop until
 * waitpid() says there is nobody left to reap.
 *
 * The cap: --max-conns live children. At the cap the parent accepts the
 * newcomer and closes it at once (refuse_client): the client sees EOF
 * right away instead of waiting in the listen queue for a slot.
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Live children by pid. The SIGCHLD handler removes them, the main loop
 * adds them (and grows the table) with SIGCHLD blocked, so the two never
 * race on a slot. The table grows with the children alive at once, up to
 * --max-conns, never with the descriptor limit: under a limit of 2^30 a
 * table sized by it would take gigabytes before the first client. */
#define FIRST_SLOTS 64
static pid_t *children;
static int max_children, table_size;
static volatile sig_atomic_t live;
/* Slots at and beyond this index were never used: the searches stop here,
 * so that reaping costs the number of clients served at once, not the cap. */
static volatile sig_atomic_t slots_used;
static unsigned long forked, refused, fork_failed, accept_errors;

static void forget_child(pid_t pid)
{
    for (int i = 0; i < slots_used; i++)
        if (children[i] == pid) {
            children[i] = 0;
            live--;
            return;
        }
}

/* Reap every child that has exited; errno is the interrupted code's. */
static void on_sigchld(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        forget_child(pid);
    errno = saved;
}

/* With SIGCHLD blocked: a free slot for one more child, or -1. */
static int make_room(void)
{
    if (live < table_size)
        return 0;                  /* every child holds one slot: one is free */
    int size = table_size > max_children / 2 ? max_children : 2 * table_size;
    pid_t *bigger = realloc(children, (size_t)size * sizeof *bigger);
    if (!bigger)
        return -1;
    memset(bigger + table_size, 0, (size_t)(size - table_size) * sizeof *bigger);
    children = bigger;
    table_size = size;
    return 0;
}

static void remember_child(pid_t pid)
{
    for (int i = 0; i < table_size; i++)
        if (children[i] == 0) {
            children[i] = pid;
            live++;
            if (i >= slots_used)
                slots_used = i + 1;
            return;
        }
}

static void block_sigchld(int how)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    sigprocmask(how, &s, NULL);
}

/* In the child: serve the one client, then exit without returning to
 * the parent's loop (and without flushing the parent's stdio buffers). */
static void serve_in_child(int listen_fd, int fd, const struct sockaddr_storage *peer,
                           const struct server_opts *o)
{
    close(listen_fd);
    signal(SIGCHLD, SIG_DFL);
    struct conn_stats c;
    conn_stats_start(&c, peer);
    const char *why = echo_session(fd, o, &c);
    log_conn(o, fd, &c, why);
    close(fd);
    _exit(0);
}

static void fork_child(int listen_fd, int fd, const struct sockaddr_storage *peer,
                       const struct server_opts *o)
{
    block_sigchld(SIG_BLOCK);      /* the child must be in the table before
                                      its SIGCHLD can look it up */
    if (make_room() != 0) {
        block_sigchld(SIG_UNBLOCK);
        fork_failed++;             /* out of memory: this client only */
        close(fd);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        block_sigchld(SIG_UNBLOCK);
        serve_in_child(listen_fd, fd, peer, o);
    }
    if (pid > 0) {
        remember_child(pid);
        forked++;
    } else {
        fork_failed++;             /* EAGAIN, ENOMEM: this client only */
    }
    block_sigchld(SIG_UNBLOCK);
    close(fd);                     /* the child has its own copy */
}

/* SIGTERM every child, wait for the handler to reap them (up to 1.5 s),
 * then SIGKILL and reap whoever is left. Returns how many were killed. */
static int stop_children(void)
{
    block_sigchld(SIG_BLOCK);      /* no slot changes (or pid reuse) meanwhile */
    for (int i = 0; i < slots_used; i++)
        if (children[i] > 0)
            kill(children[i], SIGTERM);
    block_sigchld(SIG_UNBLOCK);
    double deadline = now_sec() + 1.5;
    while (live > 0 && now_sec() < deadline)
        sleep_ms(10);
    int killed = 0;
    block_sigchld(SIG_BLOCK);
    for (int i = 0; i < slots_used; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);   /* bounded: SIGKILL cannot be caught */
            children[i] = 0;
            live--;
            killed++;
        }
    block_sigchld(SIG_UNBLOCK);
    return killed;
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "fork"};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();
    max_children = o.max_conns;
    table_size = max_children < FIRST_SLOTS ? max_children : FIRST_SLOTS;
    children = calloc((size_t)table_size, sizeof *children);
    if (!children)
        die("allocating the table of children");
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NOCLDSTOP;    /* only exits, not stops */
    if (sigaction(SIGCHLD, &sa, NULL) != 0)
        die("sigaction SIGCHLD");
    int listen_fd = listen_socket(&o, 0);
    print_banner(o.name, listen_fd);

    while (!stop_requested) {
        if (wait_fd(listen_fd, POLLIN, 1000) <= 0)
            continue;
        if (live >= max_children) {
            refuse_client(listen_fd);
            refused++;
            continue;
        }
        struct sockaddr_storage peer;
        int fd = accept_or_back_off(listen_fd, &peer, &accept_errors);
        if (fd < 0)
            continue;
        fork_child(listen_fd, fd, &peer, &o);
    }

    close(listen_fd);
    int killed = stop_children();
    printf("%s: stopped: connections=%lu refused=%lu fork_failed=%lu "
           "accept_errors=%lu killed=%d\n",
           o.name, forked, refused, fork_failed, accept_errors, killed);
    free(children);
    return 0;
}
