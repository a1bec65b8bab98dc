/*
 * part2-process-thread/server_prefork.c - children made in advance, and
 * more of them while all are busy.
 *
 * Lesson 2, the fork server without a fork per client: the parent makes
 * the listening socket, then forks -w children up front. Each child runs
 * the iterative server's loop - accept, serve that client to the end,
 * accept again - on the SAME listening socket, which every child got
 * from fork() as a copy of the parent's descriptor. All of them block in
 * accept() on it; the kernel gives each new connection to one of them.
 * The fork is paid once per child, not once per client.
 *
 * A fixed set of -w children serves at most -w clients, and -w silent
 * clients deny service to everyone. So the pool grows, as Apache's prefork
 * does. The parent serves nobody: every 50 ms it reaps the children that
 * have exited, replaces any that died while fewer than -w remain, and
 * reads a scoreboard where each child marks itself busy or idle; while all
 * are busy it forks more, up to --max-workers. A child idle for
 * --idle-retire seconds exits, as long as -w remain. --max-workers equal
 * to -w is the classic fixed pool.
 *
 * Thundering herd: a blocking accept() on Linux wakes ONE waiting process
 * per connection (exclusive wait, since 2.6). poll() or select() on the
 * listening socket would wake them all. docs/part2.md measures it.
 */
#include "common.h"
#include "scoreboard.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define TICK_MS             50     /* the parent's round: reap, replace, grow */
#define MAX_FORKS_PER_TICK  16     /* growth doubles per busy tick, up to this */
#define RESTARTS_PER_SECOND 10     /* replacements for children that died */
#define ACCEPT_WAKEUP_MS    500    /* a blocked accept() rechecks the flags */

/* In memory that fork() shares instead of copying (scoreboard.h): each
 * child writes its own slot, the parent reads them all. */
static struct scoreboard *board;
static pid_t *pids;                /* the parent's: the child in each slot, or 0 */
static int min_children, max_children;
static unsigned long forked, retired, restarts, fork_failed;
static pid_t parent_pid;

/* ---- the child ----------------------------------------------------------- */

/* Leave, if the pool keeps -w children without this one. A compare-and-
 * swap on the shared count, so that two children idle at the same instant
 * cannot both take the last place above -w. */
static int retire(struct slot *me)
{
    int n = atomic_load(&board->alive);
    while (n > min_children)
        if (atomic_compare_exchange_weak(&board->alive, &n, n - 1)) {
            atomic_store(&me->state, SLOT_RETIRED);
            return 1;
        }
    return 0;
}

/* Lesson 1's loop on a shared listening socket, reporting on the
 * scoreboard. Only an idle child retires: it holds no client. */
static void child_main(struct slot *me, int listen_fd, const struct server_opts *o)
{
    /* A parent killed outright (SIGKILL) stops no child: ask the kernel
     * for a SIGTERM when it dies, so none goes on serving, orphaned. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent_pid)
        _exit(0);
    double idle_since = now_sec();
    while (!stop_requested) {
        struct sockaddr_storage peer;
        /* Blocks (at most ACCEPT_WAKEUP_MS, see main) until the kernel
         * hands THIS child a connection. */
        int fd = accept_or_back_off(listen_fd, &peer, NULL);
        if (fd < 0) {
            if (now_sec() - idle_since >= o->idle_retire && retire(me))
                break;
            continue;
        }
        atomic_store(&me->state, SLOT_BUSY);
        struct conn_stats c;
        conn_stats_start(&c, &peer);
        const char *why = echo_session(fd, o, &c);
        log_conn(o, fd, &c, why);
        close(fd);
        atomic_fetch_add(&me->served, 1);
        atomic_store(&me->state, SLOT_IDLE);
        idle_since = now_sec();
    }
    _exit(0);
}

/* ---- the parent ---------------------------------------------------------- */

/* Fork a child into a free slot. After start-up a failed fork (EAGAIN:
 * the process limit) is not fatal: the server goes on with what it has. */
static int start_child(int listen_fd, const struct server_opts *o)
{
    static double last_warning;
    int i = scoreboard_free_slot(board);
    if (i < 0)
        return -1;
    atomic_store(&board->slot[i].state, SLOT_IDLE);
    atomic_fetch_add(&board->alive, 1);
    pid_t pid = fork();
    if (pid == 0)
        child_main(&board->slot[i], listen_fd, o);
    if (pid < 0) {
        int err = errno;           /* for die() at start-up */
        log_ratelimited(&last_warning, "%s: fork: %s: going on with the children there are",
                        o->name, strerror(err));
        atomic_fetch_sub(&board->alive, 1);
        atomic_store(&board->slot[i].state, SLOT_FREE);
        fork_failed++;
        errno = err;
        return -1;
    }
    pids[i] = pid;
    forked++;
    return 0;
}

/* Reap every child that has exited (the parent's round does it, as
 * Apache's does: no SIGCHLD handler) and free its slot. A retired child
 * has left `alive` already; one that died (a crash, a kill) leaves it
 * now. Returns how many children are still running. */
static int reap_children(void)
{
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        for (int i = 0; i < max_children; i++)
            if (pids[i] == pid) {
                if (atomic_load(&board->slot[i].state) == SLOT_RETIRED)
                    retired++;
                else
                    atomic_fetch_sub(&board->alive, 1);
                atomic_store(&board->slot[i].state, SLOT_FREE);
                pids[i] = 0;
            }
    int running = 0;
    for (int i = 0; i < max_children; i++)
        running += pids[i] != 0;
    return running;
}

/* Back to -w after deaths, at most RESTARTS_PER_SECOND in any second: a
 * child that dies at start-up must not turn the parent into a fork loop. */
static void replace_dead(int listen_fd, const struct server_opts *o)
{
    static double window_start, last_warning;
    static int in_window;
    if (now_sec() - window_start >= 1.0) {
        window_start = now_sec();
        in_window = 0;
    }
    while (atomic_load(&board->alive) < min_children) {
        if (in_window++ >= RESTARTS_PER_SECOND) {
            log_ratelimited(&last_warning, "children keep dying: restarts throttled");
            return;
        }
        if (start_child(listen_fd, o) != 0)
            return;
        restarts++;
    }
}

/* All children busy: the next client would wait in the listen queue. Fork
 * `*step` more and double it for the next tick, so a burst is met within a
 * few ticks while one busy moment costs one fork; an idle child resets it. */
static void grow_if_all_busy(int listen_fd, const struct server_opts *o, int *step)
{
    int live, busy;
    scoreboard_count(board, &live, &busy);
    if (busy < live) {
        *step = 1;
        return;
    }
    for (int n = 0; n < *step && live + n < max_children; n++)
        if (start_child(listen_fd, o) != 0)
            break;
    *step = *step * 2 > MAX_FORKS_PER_TICK ? MAX_FORKS_PER_TICK : *step * 2;
}

/* SIGTERM every child, reap them as they exit (up to 1.5 s), then SIGKILL
 * and reap the rest. Returns how many had to be killed. */
static int stop_children(void)
{
    for (int i = 0; i < max_children; i++)
        if (pids[i] != 0)
            kill(pids[i], SIGTERM);
    double deadline = now_sec() + 1.5;
    while (reap_children() > 0 && now_sec() < deadline)
        sleep_ms(10);
    int killed = 0;
    for (int i = 0; i < max_children; i++)
        if (pids[i] != 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            pids[i] = 0;
            killed++;
        }
    return killed;
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "prefork", .accepts = OPT_WORKERS | OPT_GROW,
                            .workers = 4,
                            .help_extra = "  (with --max-workers children busy, clients "
                                          "wait in the listen queue)\n"};
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();
    /* A child holds one client: more children than --max-conns is no use. */
    max_children = o.max_workers < o.max_conns ? o.max_workers : o.max_conns;
    min_children = o.workers < max_children ? o.workers : max_children;
    pids = calloc((size_t)max_children, sizeof *pids);
    board = scoreboard_map(max_children);        /* before the first fork */
    if (!pids || !board)
        die("allocating the scoreboard");
    int listen_fd = listen_socket(&o, 0);
    /* A receive timeout also bounds a blocking accept(): the children wake
     * every ACCEPT_WAKEUP_MS to see a stop request that came just before
     * they blocked, and how long they have been idle. (The listening socket
     * stays blocking: one waiter is woken per connection.) */
    struct timeval tv = {0, ACCEPT_WAKEUP_MS * 1000};
    if (setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        die("setsockopt SO_RCVTIMEO");
    print_banner(o.name, listen_fd);   /* flushed: the children inherit no output */
    parent_pid = getpid();

    for (int i = 0; i < min_children; i++)
        if (start_child(listen_fd, &o) != 0) {
            int err = errno;       /* start-up: exit, leaving no child behind */
            stop_children();
            errno = err;
            die("fork");
        }
    int step = 1;
    while (!stop_requested) {
        sleep_ms(TICK_MS);
        reap_children();
        if (stop_requested)
            break;
        replace_dead(listen_fd, &o);
        grow_if_all_busy(listen_fd, &o, &step);
    }

    close(listen_fd);
    int killed = stop_children();
    printf("%s: stopped: connections=%lu workers=%d max_workers=%d forked=%lu retired=%lu "
           "restarts=%lu fork_failed=%lu killed=%d\n", o.name, scoreboard_served(board),
           min_children, max_children, forked, retired, restarts, fork_failed, killed);
    return 0;
}
