/*
 * part1-iterative/client.c - a blocking echo client.
 *
 *   ./client -p 9000                      interactive: type lines, see them echoed
 *   ./client -p 9000 -n 10 -s 1K          scripted: 10 requests of 1 KiB, timed
 *   ./client -p 9000 -c 4 -n 3 --think 100
 *                                         4 sessions that start together
 *
 * The client side of lesson 1. A request is S bytes written and the same S
 * bytes read back; the client must read while it writes, or a request
 * larger than the two socket buffers would deadlock (the server blocks
 * writing to us while we block writing to it). echo_exchange() in
 * common/exchange.c does exactly that and checks every byte.
 *
 * With -c N, N sessions start at the same instant (one thread each, held
 * at a barrier) so that they reach the server together: against the
 * iterative server, session k waits for the k-1 before it, and "wait for
 * first reply" shows the listen queue. The sessions are run_sessions() in
 * common/session.c, shared with part 2's client.
 */
#include "common.h"
#include "session.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- interactive mode ---------------------------------------------------- */

/* Copy stdin to the socket and the socket to stdout, never blocking on one
 * while the other has data waiting. At the end of stdin, half-close and
 * print what is still coming back until the server closes. */
static int interactive(const struct session_config *cfg)
{
    int fd = connect_to(cfg->addr, cfg->port, NULL);
    if (fd < 0) {
        fprintf(stderr, "client: connect to %s:%d: %s\n", cfg->addr, cfg->port,
                strerror(errno));
        return 1;
    }
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "connected to %s:%d; type lines, Ctrl-D to finish\n",
                cfg->addr, cfg->port);
    char pending[4096], buf[4096];
    size_t len = 0, off = 0;
    int stdin_open = 1;
    for (;;) {
        struct pollfd p[2] = {
            {.fd = stdin_open && len == 0 ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = fd, .events = POLLIN | (len ? POLLOUT : 0)},
        };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (p[0].revents) {
            ssize_t n = read(STDIN_FILENO, pending, sizeof pending);
            if (n <= 0) {
                stdin_open = 0;
                shutdown(fd, SHUT_WR);      /* "I am done sending" */
            } else {
                len = (size_t)n;
                off = 0;
            }
        }
        if (p[1].revents & POLLOUT) {
            ssize_t w = send_nosignal(fd, pending + off, len - off, MSG_DONTWAIT);
            if (w < 0 && errno != EAGAIN) {
                perror("client: send");
                break;
            }
            if (w > 0 && (off += (size_t)w) == len)
                len = 0;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0)
                break;                      /* the server closed: all echoed */
            if (n < 0 && errno != EAGAIN) {
                perror("client: recv");
                break;
            }
            if (n > 0 && write_all(STDOUT_FILENO, buf, (size_t)n) != 0)
                break;
        }
    }
    close(fd);
    return 0;
}

/* ---- options ---------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: client [options]\n"
        "  -a ADDR         server address (default 127.0.0.1)\n"
        "  -p PORT         server port (default %d)\n"
        "without -n: interactive, stdin to the server and its echo to stdout\n"
        "  -n R            scripted: R requests per session\n"
        "  -s SIZE         bytes per request, e.g. 64, 16K, 8M (default 64)\n"
        "  -c N            N sessions started together (default 1)\n"
        "  --think MS      pause between requests (default 0)\n"
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
                                 .sessions = 1, .conns = 1, .size = 64,
                                 .timeout_ms = 60000};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "a:p:n:s:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': cfg.addr = optarg; break;
        case 'p': cfg.port = (int)option_number(optarg, 1, 65535, usage); break;
        case 'n': cfg.requests = (long)option_number(optarg, 1, 1000000000, usage); break;
        case 's': cfg.size = option_number(optarg, 1, 1LL << 32, usage); break;
        case 'c': cfg.sessions = (int)option_number(optarg, 1, 10000, usage); break;
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
    return cfg.requests > 0 ? run_sessions(&cfg, "client") : interactive(&cfg);
}
