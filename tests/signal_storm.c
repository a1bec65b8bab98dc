/*
 * signal_storm PID RATE SECONDS - send SIGUSR1 and SIGCHLD, alternately,
 * RATE times a second for SECONDS to PID and to its child processes (read
 * again every 100 signals). A server must survive it: every blocking call
 * it makes is interrupted (EINTR) again and again, and must be retried.
 * Prints how many signals it sent; exits 1 if PID vanished.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TARGETS 256

/* PID and the children listed by each of its threads. */
static int find_targets(pid_t pid, pid_t *out)
{
    int n = 0;
    out[n++] = pid;
    char path[32];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return n;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_TARGETS) {
        if (e->d_name[0] == '.')
            continue;
        char cpath[sizeof path + 300];
        snprintf(cpath, sizeof cpath, "%s/%s/children", path, e->d_name);
        FILE *f = fopen(cpath, "r");
        if (!f)
            continue;
        int child;
        while (n < MAX_TARGETS && fscanf(f, "%d", &child) == 1)
            out[n++] = child;
        fclose(f);
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: signal_storm PID RATE SECONDS\n");
        return 2;
    }
    pid_t pid = (pid_t)atoi(argv[1]);
    int rate = atoi(argv[2]);
    double seconds = atof(argv[3]);
    if (pid <= 1 || rate < 1 || rate > 100000 || seconds <= 0 || seconds > 600)
        return 2;
    pid_t targets[MAX_TARGETS];
    int n = 0;
    long sent = 0;
    uint64_t period = 1000000000u / (uint64_t)rate, next = now_ns();
    double end = now_sec() + seconds;
    while (now_sec() < end) {
        if (sent % 100 == 0)
            n = find_targets(pid, targets);
        int sig = sent % 2 ? SIGCHLD : SIGUSR1;
        if (kill(pid, sig) != 0 && errno == ESRCH) {
            printf("signal_storm: %d is gone after %ld signals\n", (int)pid, sent);
            return 1;
        }
        for (int i = 1; i < n; i++)
            (void)kill(targets[i], sig);    /* a child may have just exited */
        sent++;
        next += period;
        uint64_t now = now_ns();
        if (next > now) {
            struct timespec ts = {(time_t)((next - now) / 1000000000u),
                                  (long)((next - now) % 1000000000u)};
            nanosleep(&ts, NULL);
        }
    }
    printf("signal_storm: %ld signals in %.1f s\n", sent, seconds);
    return 0;
}
