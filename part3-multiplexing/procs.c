/*
 * part3-multiplexing/procs.c - server_epoll.c's --procs P: P processes on
 * one port. See procs.h.
 */
#include "procs.h"
#include "spread.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* What each child sends its parent when it stops. */
struct proc_report {
    int index;
    struct conn_counts n;
};

void raise_descriptor_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        perror("setrlimit RLIMIT_NOFILE (keeping the soft limit)");
}

/* Child i: its own listening socket (the others closed), its own loop. */
static void run_child(struct server_opts o, int i, const int *fds, int procs, int report_fd,
                      serve_fn serve, pid_t parent)
{
    /* A parent killed outright (SIGKILL) cannot stop its children: the
     * kernel then sends them SIGTERM instead, so none serves on, orphaned.
     * (The parent may already be gone before the request is made.) */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(1);
    char name[48];
    snprintf(name, sizeof name, "%s/p%d", o.name, i);
    o.name = name;                       /* its log lines say "epoll/p1" */
    for (int k = 0; k < procs; k++)
        if (k != i)
            close(fds[k]);
    struct proc_report r = {.index = i, .n = serve(&o, fds[i])};
    if (write(report_fd, &r, sizeof r) != (ssize_t)sizeof r)   /* < PIPE_BUF: atomic */
        perror("writing the report");
    _exit(0);
}

/* The kernel's side of the sockets, which no process's RSS shows: the
 * TCP sockets in use and the pages their buffers hold, from
 * /proc/net/sockstat ("TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1"), for
 * the whole network namespace (on loopback, the clients' ends too). Keeps
 * the largest figures seen. */
static void sample_sockstat(long *inuse_peak, long *mem_pages_peak)
{
    FILE *f = fopen("/proc/net/sockstat", "r");
    char line[256];
    long inuse, orphan, tw, alloc, mem;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "TCP: inuse %ld orphan %ld tw %ld alloc %ld mem %ld",
                   &inuse, &orphan, &tw, &alloc, &mem) == 5) {
            *inuse_peak = inuse > *inuse_peak ? inuse : *inuse_peak;
            *mem_pages_peak = mem > *mem_pages_peak ? mem : *mem_pages_peak;
        }
    if (f)
        fclose(f);
}

/* SIGTERM every child still running (kids[i] > 0) and reap them as they
 * stop, which each promises within 2 s; any still running after 3 s is
 * killed, so the parent's own stop is bounded too. Returns how many. */
static int stop_children(pid_t *kids, int procs)
{
    int left = 0, killed = 0;
    for (int i = 0; i < procs; i++)
        if (kids[i] > 0 && kill(kids[i], SIGTERM) == 0)
            left++;
    double deadline = now_sec() + 3.0;
    while (left > 0 && now_sec() < deadline) {
        pid_t gone = waitpid(-1, NULL, WNOHANG);
        for (int i = 0; gone > 0 && i < procs; i++)
            if (kids[i] == gone)
                kids[i] = 0, left--;
        if (gone <= 0)
            sleep_ms(20);
    }
    for (int i = 0; i < procs; i++)
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);        /* cannot be ignored: the wait ends */
            while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
                continue;
            kids[i] = 0, killed++;
        }
    return killed;
}

/* Fork, wait for a stop (or a child that died), forward it, reap every
 * child, print one stop line for all. */
int run_processes(const struct server_opts *o, int procs, serve_fn serve)
{
    int *fds = calloc((size_t)procs, sizeof *fds);
    pid_t *kids = calloc((size_t)procs, sizeof *kids);
    int report[2];
    if (!fds || !kids || pipe2(report, O_CLOEXEC) != 0)
        die("setting up --procs");
    fds[0] = listen_socket(o, 1);        /* every socket bound before the */
    struct server_opts port = same_port(o, fds[0]);      /* banner: none  */
    for (int i = 0; i < procs; i++) {                    /* joins late    */
        if (i > 0)
            fds[i] = listen_socket(&port, 1);
        if (set_nonblocking(fds[i]) != 0)
            die("making a listening socket non-blocking");
    }
    print_banner(o->name, fds[0]);
    fflush(stderr);
    pid_t parent = getpid();
    for (int i = 0; i < procs; i++) {
        kids[i] = fork();
        if (kids[i] < 0)
            die("fork");
        if (kids[i] == 0) {
            close(report[0]);
            run_child(*o, i, fds, procs, report[1], serve, parent);
        }
    }
    for (int i = 0; i < procs; i++)
        close(fds[i]);
    close(report[1]);

    int died = 0, status;
    long inuse = 0, mem_pages = 0;
    while (!stop_requested && !died) {
        sample_sockstat(&inuse, &mem_pages);
        pid_t gone = waitpid(-1, &status, WNOHANG);   /* a child should not end */
        for (int i = 0; gone > 0 && i < procs; i++)
            if (kids[i] == gone)
                kids[i] = 0, died = 1;                 /* reaped: never signalled */
        if (!died)
            sleep_ms(200);
    }
    int killed = stop_children(kids, procs);
    if (killed > 0)
        fprintf(stderr, "%s: %d process(es) did not stop within 3 s: killed\n", o->name, killed);

    struct conn_counts total = {0};
    unsigned long *accepts = calloc((size_t)procs, sizeof *accepts);
    struct proc_report r;
    while (accepts && read(report[0], &r, sizeof r) == (ssize_t)sizeof r) {
        counts_add(&total, &r.n);
        if (r.index >= 0 && r.index < procs)
            accepts[r.index] = r.n.accepted;
    }
    static char extra[80 + 24 * 1024];   /* " procs=P accepts=A/B/..." */
    snprintf(extra, sizeof extra, " procs=%d tcp_inuse_peak=%ld tcp_mem_peak_kib=%ld", procs,
             inuse, mem_pages * (sysconf(_SC_PAGESIZE) / 1024));
    if (accepts)
        append_spread(extra, sizeof extra, accepts, procs);
    close(report[0]);
    print_stopped(o->name, &total, extra);
    free(accepts);
    free(kids);
    free(fds);
    return died || killed ? 1 : 0;
}
