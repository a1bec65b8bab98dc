/*
 * part2-process-thread/server_prefork.c - N children made in advance.
 *
 * Lesson 2, the fork server without a fork per client: the parent makes
 * the listening socket, then forks -w children up front. Each child runs
 * the iterative server's loop - accept, serve that client to the end,
 * accept again - on the SAME listening socket, which every child got
 * from fork() as a copy of the parent's descriptor. All of them block in
 * accept() on it; the kernel gives each new connection to one of them.
 * The fork is paid once per child, not once per client.
 *
 * The parent serves nobody: it keeps -w children alive. When one dies
 * (a crash, a kill), SIGCHLD reaps it and the parent forks a replacement,
 * at a bounded rate, so that a child that dies at start-up cannot turn the
 * parent into a fork loop.
 *
 * The cost: at most -w clients are served at once. Client -w+1 is not
 * refused; it waits, connected, in the kernel's listen queue until a child
 * is free (the idle timeout bounds how long a silent client holds one).
 * --max-conns lowers -w if it is smaller.
 *
 * Thundering herd: a blocking accept() on Linux wakes ONE waiting process
 * per connection (exclusive wait, since 2.6). poll() or select() on the
 * listening socket would wake them all. docs/part2.md measures it.
 */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESTARTS_PER_SECOND 10     /* at most, over all children */
#define ACCEPT_WAKEUP_MS    500    /* a blocked accept() rechecks the stop flag */

struct child {
    volatile pid_t pid;            /* 0: dead, to be replaced (by the handler) */
};

static struct child *children;     /* parent only */
static int workers;
/* One counter per slot, in memory that fork() SHARES instead of copying
 * (MAP_SHARED): each child adds its clients, the parent reads the sum. */
static unsigned long *served_by_slot;

static void on_sigchld(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        for (int i = 0; i < workers; i++)
            if (children[i].pid == pid)
                children[i].pid = 0;     /* main() forks a replacement */
    errno = saved;
}

static void block_sigchld(int how)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    sigprocmask(how, &s, NULL);
}

/* The child: lesson 1's loop on a shared listening socket. */
static void child_main(int slot, int listen_fd, const struct server_opts *o)
{
    signal(SIGCHLD, SIG_DFL);
    block_sigchld(SIG_UNBLOCK);
    while (!stop_requested) {
        struct sockaddr_storage peer;
        /* Blocks (at most ACCEPT_WAKEUP_MS, see main) until the kernel
         * hands THIS child a connection. */
        int fd = accept_or_back_off(listen_fd, &peer, NULL);
        if (fd < 0)
            continue;
        struct conn_stats c;
        conn_stats_start(&c, &peer);
        const char *why = echo_session(fd, o, &c);
        log_conn(o, fd, &c, why);
        close(fd);
        served_by_slot[slot]++;
    }
    _exit(0);
}

static int start_child(int slot, int listen_fd, const struct server_opts *o)
{
    block_sigchld(SIG_BLOCK);      /* in the table before its SIGCHLD */
    pid_t pid = fork();
    if (pid == 0)
        child_main(slot, listen_fd, o);
    if (pid > 0)
        children[slot].pid = pid;
    block_sigchld(SIG_UNBLOCK);
    return pid > 0 ? 0 : -1;
}

/* Replace dead children, at most RESTARTS_PER_SECOND in any second. */
static void replace_dead_children(int listen_fd, const struct server_opts *o,
                                  unsigned long *restarts)
{
    static double window_start;
    static int in_window;
    static double last_warning;
    for (int i = 0; i < workers; i++) {
        if (children[i].pid != 0)
            continue;
        double now = now_sec();
        if (now - window_start >= 1.0) {
            window_start = now;
            in_window = 0;
        }
        if (in_window >= RESTARTS_PER_SECOND) {
            log_ratelimited(&last_warning, "children keep dying: restarts throttled");
            return;
        }
        in_window++;
        if (start_child(i, listen_fd, o) == 0)
            (*restarts)++;
    }
}

/* SIGTERM every child, let the handler reap them (up to 1.5 s), then
 * SIGKILL and reap the rest. Returns how many had to be killed. */
static int stop_children(void)
{
    block_sigchld(SIG_BLOCK);
    for (int i = 0; i < workers; i++)
        if (children[i].pid > 0)
            kill(children[i].pid, SIGTERM);
    block_sigchld(SIG_UNBLOCK);
    double deadline = now_sec() + 1.5;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < workers; i++)
            alive += children[i].pid > 0;
        if (alive == 0 || now_sec() >= deadline)
            break;
        sleep_ms(10);
    }
    int killed = 0;
    block_sigchld(SIG_BLOCK);
    for (int i = 0; i < workers; i++)
        if (children[i].pid > 0) {
            kill(children[i].pid, SIGKILL);
            waitpid(children[i].pid, NULL, 0);
            children[i].pid = 0;
            killed++;
        }
    block_sigchld(SIG_UNBLOCK);
    return killed;
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "prefork", .accepts = OPT_WORKERS, .workers = 4,
                            .help_extra = "  (at most -w clients at once; the others "
                                          "wait in the listen queue)\n"};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();
    workers = o.workers < o.max_conns ? o.workers : o.max_conns;
    children = calloc((size_t)workers, sizeof *children);
    served_by_slot = mmap(NULL, (size_t)workers * sizeof *served_by_slot,
                          PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!children || served_by_slot == MAP_FAILED)
        die("allocating the child table");
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) != 0)
        die("sigaction SIGCHLD");
    int listen_fd = listen_socket(&o, 0);
    /* A receive timeout also bounds a blocking accept(): the children wake
     * every ACCEPT_WAKEUP_MS to see a stop request that came just before
     * they blocked. (The listening socket stays blocking: one waiter is
     * woken per connection.) */
    struct timeval tv = {0, ACCEPT_WAKEUP_MS * 1000};
    if (setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        die("setsockopt SO_RCVTIMEO");
    print_banner(o.name, listen_fd);   /* flushed: the children inherit no output */

    for (int i = 0; i < workers; i++)
        if (start_child(i, listen_fd, &o) != 0)
            die("fork");
    unsigned long restarts = 0;
    while (!stop_requested) {
        sleep_ms(50);
        if (!stop_requested)       /* a slot left empty by the throttle is */
            replace_dead_children(listen_fd, &o, &restarts);   /* retried */
    }

    close(listen_fd);
    int killed = stop_children();
    unsigned long served = 0;
    for (int i = 0; i < workers; i++)
        served += served_by_slot[i];
    printf("%s: stopped: connections=%lu workers=%d restarts=%lu killed=%d\n",
           o.name, served, workers, restarts, killed);
    return 0;
}
