/*
 * tree - a process tree of known shape, to test procsample.
 *
 *   tree [-m MIB] [-r MS] [-b MS] [-H MS] [-f N] [-w]
 *
 * With -w it first waits (at most 10 s) for SIGUSR1, so that a test can
 * start the sampler before anything happens. Then, in order:
 *
 *   1. touches MIB MiB of memory (default 40), opens N extra descriptors
 *      (default 10) and starts 3 threads that sleep;
 *   2. forks child A, which burns MS ms of CPU (-r, default 300) and exits;
 *      the main thread waits for it (so A's CPU moves to our cutime);
 *   3. forks children B and C, which sleep;
 *   4. burns MS ms of CPU itself (-b, default 200);
 *   5. holds everything for MS ms (-H, default 400): at that point the tree
 *      has 2 children and 1 + 3 + 1 + 1 = 6 threads;
 *   6. kills and reaps B and C, waits 200 ms, joins the threads, exits 0.
 *
 * At most 2 children exist at any moment. Every wait is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int quit_threads;
static volatile unsigned long sink;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Burn ms of this process's CPU time (not wall time). */
static void burn(long ms)
{
    double end = cpu_now() + (double)ms / 1000.0;
    unsigned long x = 0;
    while (cpu_now() < end) {
        for (int i = 0; i < 10000; i++)
            x = x * 31 + (unsigned long)i;
        sink = x;
    }
}

static void nap(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < 600 && !quit_threads; i++)   /* at most 60 s */
        nap(100);
    return NULL;
}

static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 100000) {
        fprintf(stderr, "tree: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long mib = 40, child_ms = 300, self_ms = 200, hold_ms = 400, nfds = 10;
    int wait_go = 0, c;

    while ((c = getopt(argc, argv, "m:r:b:H:f:w")) != -1) {
        switch (c) {
        case 'm': mib = num(optarg); break;
        case 'r': child_ms = num(optarg); break;
        case 'b': self_ms = num(optarg); break;
        case 'H': hold_ms = num(optarg); break;
        case 'f': nfds = num(optarg); break;
        case 'w': wait_go = 1; break;
        default:
            fprintf(stderr, "usage: tree [-m MIB] [-r MS] [-b MS] [-H MS] "
                            "[-f N] [-w]\n");
            return 2;
        }
    }

    if (wait_go) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        struct timespec ts = { 10, 0 };
        if (sigtimedwait(&set, NULL, &ts) < 0)
            fprintf(stderr, "tree: no SIGUSR1 within 10 s, going on\n");
    }

    size_t bytes = (size_t)mib << 20;
    char *mem = NULL;
    if (bytes) {
        mem = malloc(bytes);
        if (!mem) {
            perror("tree: malloc");
            return 1;
        }
        /* volatile stores: the compiler may not drop them */
        for (size_t i = 0; i < bytes; i += 1024)
            ((volatile char *)mem)[i] = (char)i;
    }
    for (long i = 0; i < nfds; i++)
        if (open("/dev/null", O_RDONLY) < 0) {
            perror("tree: open");
            return 1;
        }

    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        int e = pthread_create(&th[i], NULL, sleeper, NULL);
        if (e) {
            fprintf(stderr, "tree: pthread_create: %s\n", strerror(e));
            return 1;
        }
    }

    pid_t a = fork();
    if (a < 0) {
        perror("tree: fork");
        return 1;
    }
    if (a == 0) {
        burn(child_ms);
        _exit(0);
    }
    if (waitpid(a, NULL, 0) < 0)
        perror("tree: waitpid");

    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] < 0) {
            perror("tree: fork");
            return 1;
        }
        if (kids[i] == 0) {
            for (int k = 0; k < 600; k++)   /* at most 60 s */
                nap(100);
            _exit(0);
        }
    }

    burn(self_ms);
    nap(hold_ms);

    for (int i = 0; i < 2; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    nap(200);
    quit_threads = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    free(mem);
    return 0;
}
