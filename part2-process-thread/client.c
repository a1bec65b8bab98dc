/*
 * part2-process-thread/client.c - N clients that each hold a session.
 *
 *   ./client -p 9000 -c 10 -n 3 --think 100    10 sessions of 3 requests,
 *                                             100 ms apart, started together
 *   ./client -p 9000 -c 4 -k 250 -n 1          4 sessions of 250 short
 *                                             connections each (table b)
 *
 * The client side of lesson 2: experiment E1 starts N clients at the same
 * instant, each holding its connection for a while (R requests with think
 * time T between them), and measures the total wall time. A server that
 * serves one client at a time needs N sessions' worth of time; a server
 * that serves them together needs about one.
 *
 * Each session is a thread (run_sessions() in common/session.c, shared
 * with part 1's client): the sessions spend their life waiting, so threads
 * cost the client almost nothing, and the client's cost stays out of the
 * server's measurements. docs/part2.md explains the choice.
 *
 * Output: one line per session (its first-reply wait and its duration),
 * then the total wall time and the summary; with --csv the summary is the
 * two CSV lines on stdout and everything else goes to stderr.
 */
#include "common.h"
#include "session.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: client [options]\n"
        "  -a ADDR         server address (default 127.0.0.1)\n"
        "  -p PORT         server port (default %d)\n"
        "  -c N            N sessions started together (default 1)\n"
        "  -k K            connections per session, one after another (default 1)\n"
        "  -n R            requests per connection (default 3)\n"
        "  -s SIZE         bytes per request, e.g. 64, 16K, 8M (default 64)\n"
        "  --think MS      pause between two requests (default 0)\n"
        "  --timeout MS    give up a request after MS without progress (default 60000)\n"
        "  --csv           machine-readable summary on stdout (header + one row)\n"
        "  -h              this help\n", DEFAULT_PORT);
}

int main(int argc, char **argv)
{
    enum { THINK = 1000, TIMEOUT, CSV };
    static const struct option longopts[] = {
        {"think", required_argument, 0, THINK},
        {"timeout", required_argument, 0, TIMEOUT},
        {"csv", no_argument, 0, CSV},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct session_config cfg = {.addr = "127.0.0.1", .port = DEFAULT_PORT,
                                 .sessions = 1, .conns = 1, .requests = 3,
                                 .size = 64, .timeout_ms = 60000};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "a:p:c:k:n:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': cfg.addr = optarg; break;
        case 'p': cfg.port = (int)option_number(optarg, 1, 65535, usage); break;
        case 'c': cfg.sessions = (int)option_number(optarg, 1, 10000, usage); break;
        case 'k': cfg.conns = (int)option_number(optarg, 1, 10000000, usage); break;
        case 'n': cfg.requests = (long)option_number(optarg, 1, 1000000000, usage); break;
        case 's': cfg.size = option_number(optarg, 1, 1LL << 32, usage); break;
        case THINK: cfg.think_ms = (int)option_number(optarg, 0, 3600000, usage); break;
        case TIMEOUT: cfg.timeout_ms = (int)option_number(optarg, 1, 3600000, usage); break;
        case CSV: cfg.csv = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "client: unknown or incomplete option: %s\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "client: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    return run_sessions(&cfg, "client");
}
