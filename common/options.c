/* options.c - the command line every server shares (the flags: common.h, section 1). */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Descriptors a server keeps for itself: stdio, the listening socket, an
 * epoll or io_uring instance, the spare descriptor, a few for logging. */
#define FD_RESERVE 16

int default_max_conns(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1000;
    long cap = (long)rl.rlim_cur - FD_RESERVE;
    return cap < 1 ? 1 : (cap > INT_MAX ? INT_MAX : (int)cap);
}

/* Work per request is the echo servers' (parts 1 to 3). Part 4's stream
 * server, the one that takes --mode, has no request to read: it refuses. */
static int takes_work(const struct server_opts *o)
{
    return !(o->accepts & OPT_MODE);
}

static void usage(const struct server_opts *o, FILE *f)
{
    fprintf(f,
        "usage: %s [options]\n"
        "  -p PORT            port to listen on (default %d; 0 picks a free one)\n"
        "  -a ADDR            address to bind (default 127.0.0.1, loopback only)\n"
        "  -v                 log one line per closed connection (to stderr)\n"
        "  --max-conns N      connection cap (default: descriptor limit - %d = %d)\n"
        "  --idle-timeout S   close a connection silent for S seconds (default %d; 0: never)\n"
        "  --backlog N        listen queue length (default %d)\n",
        o->name, DEFAULT_PORT, FD_RESERVE, default_max_conns(),
        DEFAULT_IDLE_TIMEOUT, DEFAULT_BACKLOG);
    if (takes_work(o))
        fprintf(f,
        "  --work-us N        spin N µs of CPU per request (default 0)\n"
        "  --block-us N       block N µs per request, as a disk read would (default 0)\n"
        "  --slow-from BYTES  only requests of at least BYTES cost that (e.g. 1K; default 0)\n"
        "                     (a request is one read of the client's bytes: echo has no framing)\n");
    if (o->accepts & OPT_WORKERS)
        fprintf(f, "  -w N               %s (default %d)\n", o->accepts & OPT_GROW ?
                "workers at start, and the fewest kept" : "number of workers", o->workers);
    if (o->accepts & OPT_EDGE)
        fprintf(f, "  -e                 edge-triggered notifications\n");
    if (o->accepts & OPT_REUSEPORT)
        fprintf(f, "  --reuseport        one listening socket per worker (SO_REUSEPORT)\n");
    if (o->accepts & OPT_MODE)
        fprintf(f, "  --mode M           %s\n", o->mode ? o->mode : "");
    if (o->accepts & OPT_STACK)
        fprintf(f, "  --stack-kib K      thread stack size in KiB (default: the system's)\n");
    if (o->accepts & OPT_QUEUE)
        fprintf(f, "  --queue N          pending-connection queue length (default %d)\n",
                o->queue_len);
    if (o->accepts & OPT_GROW)
        fprintf(f, "  --max-workers M    grow to at most M workers while all are busy (default %d,\n"
                   "                     at most --max-conns; M = -w: a fixed pool)\n"
                   "  --idle-retire S    a worker idle for S seconds ends, down to -w (default %d)\n",
                DEFAULT_MAX_WORKERS, DEFAULT_IDLE_RETIRE);
    if (o->help_extra)
        fprintf(f, "%s", o->help_extra);
    fprintf(f, "  -h                 this help\n");
}

static void bad_usage(const struct server_opts *o, const char *msg, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s\n", o->name, msg, arg ? ": " : "", arg ? arg : "");
    usage(o, stderr);
    exit(2);
}

static int parse_int(const struct server_opts *o, const char *s, int min, int max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        bad_usage(o, "bad number", s);
    return (int)v;
}

enum { LONG_MAX_CONNS = 1000, LONG_IDLE, LONG_BACKLOG, LONG_REUSEPORT,
       LONG_MODE, LONG_STACK, LONG_QUEUE, LONG_MAX_WORKERS, LONG_IDLE_RETIRE,
       LONG_WORK, LONG_BLOCK, LONG_SLOW_FROM };

static void require(const struct server_opts *o, unsigned flag, const char *name)
{
    if (!(o->accepts & flag))
        bad_usage(o, "this server does not take", name);
}

static void require_work(const struct server_opts *o, const char *name)
{
    if (!takes_work(o))
        bad_usage(o, "not an echo server: no work per request", name);
}

/* The caller sets name, accepts and any model defaults (workers, mode,
 * queue_len) before calling; everything else gets its default here. */
void server_opts_parse(struct server_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"max-conns",    required_argument, 0, LONG_MAX_CONNS},
        {"idle-timeout", required_argument, 0, LONG_IDLE},
        {"backlog",      required_argument, 0, LONG_BACKLOG},
        {"reuseport",    no_argument,       0, LONG_REUSEPORT},
        {"mode",         required_argument, 0, LONG_MODE},
        {"stack-kib",    required_argument, 0, LONG_STACK},
        {"queue",        required_argument, 0, LONG_QUEUE},
        {"max-workers",  required_argument, 0, LONG_MAX_WORKERS},
        {"idle-retire",  required_argument, 0, LONG_IDLE_RETIRE},
        {"work-us",      required_argument, 0, LONG_WORK},
        {"block-us",     required_argument, 0, LONG_BLOCK},
        {"slow-from",    required_argument, 0, LONG_SLOW_FROM},
        {"help",         no_argument,       0, 'h'},
        {0, 0, 0, 0},
    };
    o->addr = "127.0.0.1";
    o->port = DEFAULT_PORT;
    o->max_conns = default_max_conns();
    o->idle_timeout = DEFAULT_IDLE_TIMEOUT;
    o->backlog = DEFAULT_BACKLOG;
    o->max_workers = 0;            /* not given: see the end */
    o->idle_retire = DEFAULT_IDLE_RETIRE;

    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":p:a:vw:eh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o->port = parse_int(o, optarg, 0, 65535); break;
        case 'a': o->addr = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'w': require(o, OPT_WORKERS, "-w");
                  o->workers = parse_int(o, optarg, 1, 1024); break;
        case 'e': require(o, OPT_EDGE, "-e"); o->edge = 1; break;
        case 'h': usage(o, stdout); exit(0);
        case LONG_MAX_CONNS: o->max_conns = parse_int(o, optarg, 1, INT_MAX); break;
        case LONG_IDLE:      o->idle_timeout = parse_int(o, optarg, 0, 86400); break;
        case LONG_BACKLOG:   o->backlog = parse_int(o, optarg, 1, 65535); break;
        case LONG_REUSEPORT: require(o, OPT_REUSEPORT, "--reuseport");
                             o->reuseport = 1; break;
        case LONG_MODE:      require(o, OPT_MODE, "--mode"); o->mode = optarg; break;
        case LONG_STACK:     require(o, OPT_STACK, "--stack-kib");
                             o->stack_kib = parse_int(o, optarg, 16, 1 << 20); break;
        case LONG_QUEUE:     require(o, OPT_QUEUE, "--queue");
                             o->queue_len = parse_int(o, optarg, 1, 1 << 20); break;
        case LONG_MAX_WORKERS: require(o, OPT_GROW, "--max-workers");
                             o->max_workers = parse_int(o, optarg, 1, 1 << 16); break;
        case LONG_IDLE_RETIRE: require(o, OPT_GROW, "--idle-retire");
                             o->idle_retire = parse_int(o, optarg, 1, 86400); break;
        case LONG_WORK:      require_work(o, "--work-us");
                             o->work_us = parse_int(o, optarg, 0, 10000000); break;
        case LONG_BLOCK:     require_work(o, "--block-us");
                             o->block_us = parse_int(o, optarg, 0, 10000000); break;
        case LONG_SLOW_FROM: {
            require_work(o, "--slow-from");
            long long v = parse_size(optarg);
            if (v < 0 || v > INT_MAX)
                bad_usage(o, "bad size", optarg);
            o->slow_from = (long)v;
            break;
        }
        case ':':            bad_usage(o, "missing argument for", argv[optind - 1]);
                             break;
        default:             bad_usage(o, "unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        bad_usage(o, "unexpected argument", argv[optind]);
    if (o->max_workers == 0)       /* -w above the default ceiling raises it */
        o->max_workers = o->workers > DEFAULT_MAX_WORKERS ? o->workers : DEFAULT_MAX_WORKERS;
    if ((o->accepts & OPT_GROW) && o->max_workers < o->workers)
        bad_usage(o, "--max-workers is below -w", NULL);
    request_work_set(o);
}

void die(const char *what)
{
    fprintf(stderr, "fatal: %s: %s\n", what, strerror(errno));
    exit(1);
}
