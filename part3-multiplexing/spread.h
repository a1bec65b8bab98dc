/*
 * part3-multiplexing/spread.h - small pieces for the part 3 servers that
 * spread connections over several loops (server_epoll_workers.c, and
 * server_epoll.c --procs, whose processes procs.c runs): their own flags,
 * the port the first listening socket got, and the per-loop accept counts
 * of the stop line.
 */
#ifndef SPREAD_H
#define SPREAD_H

#include "common.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

/* A flag only this server takes (--exclusive, --procs P): found and taken
 * out of argv before the shared parser (common/options.c) reads the rest.
 * With `value`, the next argument is its value. Returns 1 if found. */
static inline int take_flag(int *argc, char **argv, const char *flag, const char **value)
{
    for (int i = 1; i < *argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], flag) != 0)
            continue;
        int used = value ? 2 : 1;
        if (i + used > *argc) {
            fprintf(stderr, "%s: missing argument for %s\n", argv[0], flag);
            exit(2);
        }
        if (value)
            *value = argv[i + 1];
        memmove(&argv[i], &argv[i + used], (size_t)(*argc - i - used + 1) * sizeof *argv);
        *argc -= used;
        return 1;
    }
    return 0;
}

/* The options with -p set to the port `listen_fd` got (it may have asked
 * for 0): the others then bind the same one, with SO_REUSEPORT. */
static inline struct server_opts same_port(const struct server_opts *o, int listen_fd)
{
    struct server_opts same = *o;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char port[8];
    if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, NULL, 0, port, sizeof port, NI_NUMERICSERV))
        die("getsockname");
    same.port = atoi(port);
    return same;
}

/* The stop line's spread of new connections over `count` loops (workers
 * or processes), appended to `out`: " accepts=A/B/C", then the largest
 * and smallest loop's share of them, in %: " max_share_pct=M min_share_pct=m". */
static inline void append_spread(char *out, size_t size, const unsigned long *n, int count)
{
    unsigned long sum = 0, max = 0, min = count > 0 ? n[0] : 0;
    size_t used = strlen(out);
    for (int i = 0; i < count && used < size; i++) {
        int w = snprintf(out + used, size - used, "%s%lu", i ? "/" : " accepts=", n[i]);
        used += w > 0 ? (size_t)w : 0;
        sum += n[i];
        max = n[i] > max ? n[i] : max;
        min = n[i] < min ? n[i] : min;
    }
    if (used < size && sum > 0)
        snprintf(out + used, size - used, " max_share_pct=%.1f min_share_pct=%.1f",
                 100.0 * (double)max / (double)sum, 100.0 * (double)min / (double)sum);
}

#endif
