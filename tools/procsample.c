/*
 * procsample - sample the resources of a process tree from /proc.
 *
 *   procsample -p PID [-i MS] [-o FILE] [-t SEC] [-c] [-v]
 *
 * Every MS milliseconds (default 100) it scans /proc, finds PID and all of
 * its descendants, and reads for each of them:
 *
 *   /proc/P/stat   field 4  ppid        (to build the tree: P is in the tree
 *                                         when following ppid links from P
 *                                         reaches PID)
 *                  field 3  state       (Z: a zombie, exited not yet reaped)
 *                  fields 14,15 utime, stime    (clock ticks, whole process:
 *                                         every thread, live or exited)
 *                  fields 16,17 cutime, cstime  (clock ticks of the children
 *                                         this process has waited for)
 *                  field 20 num_threads
 *                  field 24 rss         (pages; the same counter as the
 *                                         "resident" field of /proc/P/statm)
 *   /proc/P/fd     number of entries = open descriptors
 *
 * and with -c (the cost of a request: slower scans, so asked for):
 *
 *   /proc/P/task/T/status  voluntary_ctxt_switches, nonvoluntary_ctxt_switches
 *                  of every thread T (the kernel counts them per thread)
 *   /proc/P/io     syscr, syscw: read and write system calls of the whole
 *                  process (its threads, live or exited, and the children
 *                  it has reaped)
 *
 * It stops when PID exits, when it gets SIGTERM or SIGINT (it then takes one
 * last sample), or after SEC seconds (-t, default 3600). It then prints ONE
 * line, to stdout or to FILE (-o):
 *
 *   cpu_s=X cpu_pct=X rss_kib=N threads=N children=N fds=N samples=N wall_s=X
 *
 * and with -c, on the same line: ctx_vol=N ctx_invol=N syscr=N syscw=N
 *
 *   cpu_s     CPU seconds (user + system) the tree consumed between the first
 *             and the last sample: C(last) - C(first) where
 *             C = sum over the tree members of utime+stime+cutime+cstime.
 *             A child that exits and is reaped by its parent in the tree
 *             disappears from the scan, and the kernel adds its times to
 *             that parent's cutime/cstime at the same moment, so its CPU
 *             stays counted (when only the root reaps, this is exactly
 *             "live members' utime+stime plus the root's cutime+cstime").
 *             Resolution: one clock tick, 1/sysconf(_SC_CLK_TCK) s (10 ms).
 *   cpu_pct   100 * cpu_s / wall_s (200 = two cores busy).
 *   rss_kib   peak over samples of the RSS summed over the tree.
 *   threads   peak over samples of the sum of num_threads.
 *   children  peak over samples of the number of descendants (not PID).
 *   fds       peak over samples of the descriptors summed over the tree.
 *   samples   number of samples taken.
 *   wall_s    time between the first and the last sample (CLOCK_MONOTONIC).
 *   ctx_vol   voluntary context switches of the tree's threads between the
 *             first and the last sample (the thread blocked: waited for
 *             I/O, a lock, a sleep). Every thread ever seen is kept with
 *             its last reading, so threads and processes that end during
 *             the run still count, up to their last sample; a thread that
 *             is born and ends between two samples is missed.
 *   ctx_invol involuntary ones (the thread was preempted: its time slice
 *             was up, or a more urgent thread woke), counted the same way.
 *   syscr, syscw  read and write system calls of the tree between the
 *             first and the last sample: C(last) - C(first), C summed over
 *             the tree like cpu_s. The kernel counts here only the calls
 *             that go through the file layer (read, readv, pread, write,
 *             writev, pwrite, sendfile ...), not recv/recvfrom/recvmsg/
 *             send/sendto/sendmsg nor io_uring operations: a server that
 *             uses those shows 0.
 *
 * Limits (see docs/methodology.md): peaks are seen only at sample instants;
 * summed RSS counts shared pages (copy-on-write pages after fork, shared
 * libraries) once per process, so it overstates the memory of a fork tree;
 * CPU of a descendant that leaves the tree (re-parented after its parent
 * exits) or that is reaped automatically (SIGCHLD ignored) is lost; a
 * process that exits between the directory scan and the read of its files
 * is skipped for that sample (that is normal: ENOENT/ESRCH are quiet).
 *
 * The interval stretches (whole intervals skipped) when one scan takes
 * more than 1/20 of it, so that the sampler stays under ~5% of one core
 * even on trees of thousands of processes; 'samples' tells how many were
 * taken.
 *
 * -v prints one line per sample to stderr (the first line also tells a
 * script that sampling has started).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct proc {
    int pid;
    int ppid;
    char state;
    unsigned long long ticks;   /* utime + stime + cutime + cstime */
    long threads;
    long rss_pages;
    int in_tree;                /* 0 unknown, 1 yes, -1 no */
    unsigned long long syscr, syscw;
};

struct sample {
    int ok;                     /* the root was found */
    int root_exited;            /* the root is a zombie */
    unsigned long long ticks;
    long long rss_kib;
    long threads;
    long children;
    long fds;
    unsigned long long syscr, syscw;
};

struct peaks {
    long long rss_kib;
    long threads, children, fds, samples;
};

static struct proc *procs;
static size_t nprocs, cap;
static int cost;                /* -c */

/* Every thread seen (-c), by tid: its first and last context-switch counts.
 * Open addressing; a tid is never 0. */
struct task_ctx {
    int tid;
    unsigned long long vol0, invol0, vol, invol;
};
static struct task_ctx *tasks;
static size_t ntasks, task_cap;
/* Counts of threads whose tid was reused by a new thread. */
static unsigned long long gone_vol, gone_invol;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: procsample -p PID [-i MS] [-o FILE] [-t SEC] [-c] [-v]\n"
        "  Samples PID and its descendants from /proc every MS ms (default 100)\n"
        "  until PID exits, SIGTERM/SIGINT, or SEC seconds (default 3600), then\n"
        "  prints one line:\n"
        "  cpu_s=X cpu_pct=X rss_kib=N threads=N children=N fds=N samples=N wall_s=X\n"
        "  -c       also count context switches and read/write system calls:\n"
        "           ctx_vol=N ctx_invol=N syscr=N syscw=N on the same line\n"
        "  -o FILE  write that line to FILE instead of stdout\n"
        "  -v       print every sample to stderr\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void account(struct peaks *pk, const struct sample *s)
{
    pk->samples++;
    if (s->rss_kib > pk->rss_kib)
        pk->rss_kib = s->rss_kib;
    if (s->threads > pk->threads)
        pk->threads = s->threads;
    if (s->children > pk->children)
        pk->children = s->children;
    if (s->fds > pk->fds)
        pk->fds = s->fds;
}

/* Read a small file into buf (NUL-terminated). Returns length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Parse /proc/PID/stat. The command name (field 2) is in parentheses and
 * may contain spaces and parentheses: the fields after it start after the
 * LAST ')'. Returns 0 on success, -1 if the process is gone or unreadable. */
static int read_stat(int pid, struct proc *p)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return -1;
    char *s = strrchr(buf, ')');
    if (!s || s[1] != ' ')
        return -1;
    s += 2;
    /* s now points at field 3 (state). Collect fields 3..24. */
    unsigned long long f[25] = {0};
    char state = *s;
    int field = 3;
    char *save = NULL;
    for (char *tok = strtok_r(s, " ", &save); tok && field <= 24;
         tok = strtok_r(NULL, " ", &save), field++) {
        if (field == 3)
            continue;
        /* cutime/cstime are signed in the kernel's format; never negative
         * in practice. rss is signed too. */
        f[field] = strtoull(tok, NULL, 10);
    }
    if (field <= 24)
        return -1;
    p->pid = pid;
    p->state = state;
    p->ppid = (int)f[4];
    p->ticks = f[14] + f[15] + f[16] + f[17];
    p->threads = (long)f[20];
    p->rss_pages = (long)f[24];
    p->in_tree = 0;
    return 0;
}

/* "key: value" in a /proc text file's contents. */
static unsigned long long text_field(const char *buf, const char *key)
{
    const char *p = strstr(buf, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void read_io(struct proc *p)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/io", p->pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return;             /* gone, or not ours to read */
    p->syscr = text_field(buf, "\nsyscr: ");
    p->syscw = text_field(buf, "\nsyscw: ");
}

static struct task_ctx *task_slot(int tid)
{
    if (2 * (ntasks + 1) > task_cap) {
        size_t ncap = task_cap ? task_cap * 2 : 1024;
        struct task_ctx *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return NULL;
        for (size_t i = 0; i < task_cap; i++) {
            if (!tasks[i].tid)
                continue;
            size_t j = (size_t)tasks[i].tid & (ncap - 1);
            while (nt[j].tid)
                j = (j + 1) & (ncap - 1);
            nt[j] = tasks[i];
        }
        free(tasks);
        tasks = nt;
        task_cap = ncap;
    }
    size_t j = (size_t)tid & (task_cap - 1);
    while (tasks[j].tid && tasks[j].tid != tid)
        j = (j + 1) & (task_cap - 1);
    if (!tasks[j].tid)
        ntasks++;
    return &tasks[j];
}

/* Read the context switches of every thread of process pid. A thread seen
 * for the first time counts from 0 (it was born during the run), except in
 * the first sample, which is the baseline. */
static void read_threads(int pid, int first)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int tid = atoi(e->d_name);
        if (tid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
        if (read_small(path, buf, sizeof buf) <= 0)
            continue;
        unsigned long long vol = text_field(buf, "\nvoluntary_ctxt_switches:");
        unsigned long long invol = text_field(buf, "\nnonvoluntary_ctxt_switches:");
        struct task_ctx *t = task_slot(tid);
        if (!t)
            break;          /* out of memory: count what we have */
        if (t->tid && (vol < t->vol || invol < t->invol)) {
            /* The tid was reused: keep what the old thread did. */
            gone_vol += t->vol - t->vol0;
            gone_invol += t->invol - t->invol0;
            t->tid = 0;
        }
        if (!t->tid) {
            t->tid = tid;
            t->vol0 = first ? vol : 0;
            t->invol0 = first ? invol : 0;
        }
        t->vol = vol;
        t->invol = invol;
    }
    closedir(d);
}

static void ctx_totals(unsigned long long *vol, unsigned long long *invol)
{
    *vol = gone_vol;
    *invol = gone_invol;
    for (size_t i = 0; i < task_cap; i++)
        if (tasks[i].tid) {
            *vol += tasks[i].vol - tasks[i].vol0;
            *invol += tasks[i].invol - tasks[i].invol0;
        }
}

static long count_fds(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;       /* gone, or not ours to read: count nothing */
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* procs is sorted by pid after each scan, for binary search. */
static int cmp_pid(const void *a, const void *b)
{
    const struct proc *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static struct proc *find_sorted(int pid)
{
    size_t lo = 0, hi = nprocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (procs[mid].pid == pid)
            return &procs[mid];
        if (procs[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Is procs[i] in the tree of root? Follow ppid links, memoised. */
static int in_tree(struct proc *p, int root)
{
    struct proc *chain[64];
    int depth = 0, verdict = -1;
    struct proc *q = p;
    while (q) {
        if (q->in_tree != 0) {
            verdict = q->in_tree;
            break;
        }
        if (q->pid == root) {
            verdict = 1;
            break;
        }
        if (q->ppid <= 1) {
            verdict = -1;
            break;
        }
        if (depth < (int)(sizeof chain / sizeof chain[0]))
            chain[depth++] = q;
        q = find_sorted(q->ppid);
    }
    for (int i = 0; i < depth; i++)
        chain[i]->in_tree = verdict;
    p->in_tree = verdict;
    return verdict == 1;
}

static void take_sample(int root, long page_kib, int first, struct sample *out)
{
    memset(out, 0, sizeof *out);
    nprocs = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        if (nprocs == cap) {
            size_t ncap = cap ? cap * 2 : 512;
            struct proc *np = realloc(procs, ncap * sizeof *np);
            if (!np)
                break;      /* sample what we have */
            procs = np;
            cap = ncap;
        }
        if (read_stat((int)pid, &procs[nprocs]) == 0)
            nprocs++;
    }
    closedir(d);
    qsort(procs, nprocs, sizeof *procs, cmp_pid);

    struct proc *r = find_sorted(root);
    if (!r)
        return;
    out->ok = 1;
    out->root_exited = (r->state == 'Z' || r->state == 'X');
    for (size_t i = 0; i < nprocs; i++) {
        struct proc *p = &procs[i];
        if (!in_tree(p, root))
            continue;
        out->ticks += p->ticks;
        out->threads += p->threads;
        out->rss_kib += (long long)p->rss_pages * page_kib;
        if (p->pid != root)
            out->children++;
        out->fds += count_fds(p->pid);
        if (cost) {
            read_io(p);
            out->syscr += p->syscr;
            out->syscw += p->syscw;
            read_threads(p->pid, first);
        }
    }
}

int main(int argc, char **argv)
{
    long pid = 0, interval_ms = 100, max_s = 3600;
    const char *outpath = NULL;
    int verbose = 0, c;
    char *end;

    while ((c = getopt(argc, argv, "p:i:o:t:cvh")) != -1) {
        switch (c) {
        case 'p':
            pid = strtol(optarg, &end, 10);
            if (*end || pid <= 0) {
                fprintf(stderr, "procsample: bad pid '%s'\n", optarg);
                return 2;
            }
            break;
        case 'i':
            interval_ms = strtol(optarg, &end, 10);
            if (*end || interval_ms < 1 || interval_ms > 60000) {
                fprintf(stderr, "procsample: -i wants 1..60000 ms\n");
                return 2;
            }
            break;
        case 't':
            max_s = strtol(optarg, &end, 10);
            if (*end || max_s < 1 || max_s > 7 * 86400) {
                fprintf(stderr, "procsample: -t wants 1..604800 s\n");
                return 2;
            }
            break;
        case 'o':
            outpath = optarg;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'c':
            cost = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (pid == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }

    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tck <= 0)
        tck = 100;
    if (page <= 0)
        page = 4096;
    long page_kib = page / 1024;

    /* SIGTERM/SIGINT are blocked and taken with sigtimedwait(): no race
     * between checking a flag and going to sleep. A background job of a
     * non-interactive shell starts with SIGINT ignored; a blocked signal
     * is queued even then, but give both a default disposition anyway. */
    sigset_t stopset;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGTERM);
    sigaddset(&stopset, SIGINT);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigprocmask(SIG_BLOCK, &stopset, NULL);

    struct sample first, cur, last;
    struct peaks pk;
    double t_first = 0, t_last = 0;
    const double interval = (double)interval_ms / 1000.0;
    int stop = 0;

    memset(&first, 0, sizeof first);
    memset(&last, 0, sizeof last);
    memset(&pk, 0, sizeof pk);
    for (long k = 0;; k++) {     /* k: index of the current time slot */
        double t = now_s();
        take_sample((int)pid, page_kib, pk.samples == 0, &cur);
        if (!cur.ok)
            break;              /* the root is gone (reaped) */
        if (pk.samples == 0) {
            first = cur;
            t_first = t;
        }
        last = cur;
        t_last = t;
        account(&pk, &cur);
        if (verbose) {
            fprintf(stderr,
                    "procsample: t=%.3f cpu_s=%.2f rss_kib=%lld threads=%ld "
                    "children=%ld fds=%ld%s\n",
                    t - t_first,
                    (double)((long long)cur.ticks - (long long)first.ticks) /
                        (double)tck,
                    cur.rss_kib, cur.threads, cur.children, cur.fds,
                    cur.root_exited ? " (exited)" : "");
            fflush(stderr);
        }
        if (stop || cur.root_exited || t - t_first >= (double)max_s)
            break;

        /* Sleep until the next slot t_first + (k+1)*interval, skipping the
         * slots a slow scan overran; on SIGTERM/SIGINT wake at once, take
         * one last sample and stop. A scan of a big tree is not free (about
         * 20 us per process here): keep the sampler under ~5% of a core by
         * waiting at least 19 scan durations after a slow scan. */
        double done = now_s(), scan = done - t;
        double next = t_first + (double)(k + 1) * interval;
        while (next <= done || next < done + 19.0 * scan) {
            k++;
            next += interval;
        }
        for (;;) {
            double wait = next - now_s();
            if (wait <= 0)
                break;
            struct timespec ts;
            ts.tv_sec = (time_t)wait;
            ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
            int sig = sigtimedwait(&stopset, NULL, &ts);
            if (sig == SIGTERM || sig == SIGINT) {
                stop = 1;
                break;
            }
            if (sig < 0 && errno == EINTR)
                continue;       /* some other signal: sleep on */
            break;              /* EAGAIN: time for the next sample */
        }
    }

    if (pk.samples == 0) {
        fprintf(stderr, "procsample: no process %ld\n", pid);
        return 1;
    }

    double cpu_s = 0;
    if (last.ticks > first.ticks)
        cpu_s = (double)(last.ticks - first.ticks) / (double)tck;
    double wall_s = t_last - t_first;
    double pct = wall_s > 0 ? 100.0 * cpu_s / wall_s : 0.0;

    FILE *out = stdout;
    if (outpath) {
        out = fopen(outpath, "w");
        if (!out) {
            fprintf(stderr, "procsample: %s: %s\n", outpath, strerror(errno));
            return 1;
        }
    }
    fprintf(out,
            "cpu_s=%.2f cpu_pct=%.1f rss_kib=%lld threads=%ld children=%ld "
            "fds=%ld samples=%ld wall_s=%.3f",
            cpu_s, pct, pk.rss_kib, pk.threads, pk.children, pk.fds,
            pk.samples, wall_s);
    if (cost) {
        unsigned long long vol, invol;
        ctx_totals(&vol, &invol);
        fprintf(out, " ctx_vol=%llu ctx_invol=%llu syscr=%llu syscw=%llu", vol, invol,
                last.syscr > first.syscr ? last.syscr - first.syscr : 0,
                last.syscw > first.syscw ? last.syscw - first.syscw : 0);
    }
    fputc('\n', out);
    if (fflush(out) != 0 || (outpath && fclose(out) != 0)) {
        fprintf(stderr, "procsample: write failed: %s\n", strerror(errno));
        return 1;
    }
    free(procs);
    free(tasks);
    return 0;
}
