/*
 * part3_handoffs - epoll with workers stopped with hand-offs pending.
 *
 *   part3_handoffs N SERVER [ARGS...]
 *
 * Starts SERVER ARGS -p 0 -v (server_epoll_workers), stops its worker
 * threads with ptrace (the main thread keeps accepting), connects N
 * clients, waits until the acceptor has handed all N off, sends SIGTERM,
 * then lets the workers run again. Every handed-off connection must be
 * closed by the server and counted: "connections=N" in the stop line and
 * N "closed" lines in its log, and every client sees EOF. N above 16 is
 * more than one read of a worker's pipe takes.
 *
 * Prints one line; exit 0 when the server behaved, 1 when it did not,
 * 2 on bad usage, 3 when ptrace is not allowed here. Every wait is bounded.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CLIENTS 400        /* a worker's pipe holds about 480 records */
#define MAX_THREADS 64

static pid_t server;

static void on_alarm(int sig)
{
    (void)sig;
    kill(server, SIGKILL);
    static const char msg[] = "part3_handoffs: timed out\n";
    (void)!write(STDOUT_FILENO, msg, sizeof msg - 1);
    _exit(1);
}

/* Read what `fd` has until EOF or `ms` pass; returns the bytes kept. */
static size_t slurp(int fd, char *buf, size_t cap, int ms)
{
    size_t got = 0;
    double end = now_sec() + ms / 1000.0;
    while (got + 1 < cap && now_sec() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Every thread but the main one: the workers. */
static int other_threads(pid_t pid, pid_t *tids)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < MAX_THREADS;) {
        pid_t t = (pid_t)atoi(e->d_name);
        if (t > 0 && t != pid)
            tids[n++] = t;
    }
    closedir(d);
    return n;
}

static pid_t start(char **argv, int *out, int *err)
{
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    *out = po[0];
    *err = pe[0];
    return pid;
}

int main(int argc, char **argv)
{
    if (argc < 3 || atoi(argv[1]) < 1 || atoi(argv[1]) > MAX_CLIENTS) {
        fprintf(stderr, "usage: part3_handoffs N(1..%d) SERVER [ARGS...]\n", MAX_CLIENTS);
        return 2;
    }
    int n = atoi(argv[1]);
    char *sargv[32];
    int k = 0;
    for (int i = 2; i < argc && k < 26; i++)
        sargv[k++] = argv[i];
    sargv[k++] = "-p";
    sargv[k++] = "0";
    sargv[k++] = "-v";
    sargv[k] = NULL;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm(30);                 /* the bound on everything below */
    int out, err;
    server = start(sargv, &out, &err);
    char banner[256], log[65536], summary[1024];
    int port = 0;
    if (server < 0) {
        printf("part3_handoffs: cannot start %s: %s\n", sargv[0], strerror(errno));
        return 1;
    }
    double until = now_sec() + 5;
    size_t got = 0;
    while (!port && now_sec() < until) {
        got += slurp(out, banner + got, sizeof banner - got, 100);
        char *p = strstr(banner, " pid ");
        char *colon = p ? memrchr(banner, ':', (size_t)(p - banner)) : NULL;
        if (colon)
            port = atoi(colon + 1);
    }
    if (!port) {
        printf("part3_handoffs: no banner from %s\n", sargv[0]);
        kill(server, SIGKILL);
        return 1;
    }

    pid_t tids[MAX_THREADS];
    int nt = other_threads(server, tids);
    for (int i = 0; i < nt; i++) {
        int st;
        if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) != 0 ||
            ptrace(PTRACE_INTERRUPT, tids[i], 0, 0) != 0 ||
            waitpid(tids[i], &st, __WALL) != tids[i]) {
            printf("part3_handoffs: ptrace not allowed here: %s\n", strerror(errno));
            kill(server, SIGKILL);
            return 3;
        }
    }

    int base = count_fds(server), fds[MAX_CLIENTS];
    for (int i = 0; i < n; i++)
        if ((fds[i] = connect_to("127.0.0.1", port, NULL)) < 0) {
            printf("part3_handoffs: connect %d: %s\n", i, strerror(errno));
            kill(server, SIGKILL);
            return 1;
        }
    until = now_sec() + 5;     /* the acceptor holds each one until handed off */
    while (count_fds(server) < base + n && now_sec() < until)
        sleep_ms(20);
    int held = count_fds(server) - base;

    kill(server, SIGTERM);
    sleep_ms(300);             /* the main thread stops accepting, wakes the workers */
    for (int i = 0; i < nt; i++)
        ptrace(PTRACE_DETACH, tids[i], 0, 0);

    int status = -1;
    until = now_sec() + 10;
    while (waitpid(server, &status, WNOHANG) == 0 && now_sec() < until)
        sleep_ms(20);
    slurp(out, summary, sizeof summary, 500);
    slurp(err, log, sizeof log, 500);

    int eofs = 0;
    for (int i = 0; i < n; i++) {
        char b;
        eofs += wait_fd(fds[i], POLLIN, 2000) > 0 && recv(fds[i], &b, 1, 0) <= 0;
        close(fds[i]);
    }
    int closed = 0;
    for (char *p = log; (p = strstr(p, ": closed ")) != NULL; p++)
        closed++;
    char *line = strstr(summary, "stopped: ");
    char *nl = line ? strchr(line, '\n') : NULL;
    if (nl)
        *nl = '\0';
    char want[32];
    snprintf(want, sizeof want, "connections=%d ", n);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && line &&
             strstr(line, want) && closed == n && eofs == n;
    printf("part3_handoffs: %d handed off with the workers stopped (%d held); "
           "exit %d; %d 'closed' log lines; %d clients saw EOF; %s\n",
           n, held, WIFEXITED(status) ? WEXITSTATUS(status) : -1, closed, eofs,
           line ? line : "no stop line");
    return ok ? 0 : 1;
}
