/* log.c - the connection log line and rate-limited warnings. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

const char *peer_string(const struct sockaddr_storage *ss, char *buf, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        port = ntohs(s4->sin_port);
        snprintf(buf, n, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        port = ntohs(s6->sin6_port);
        snprintf(buf, n, "[%s]:%d", ip, port);
    } else {
        snprintf(buf, n, "?");
    }
    return buf;
}

void conn_stats_start(struct conn_stats *c, const struct sockaddr_storage *peer)
{
    memset(c, 0, sizeof *c);
    if (peer)
        c->peer = *peer;
    c->start = now_sec();
}

/* One write() per line: lines from several threads or processes never mix,
 * and nothing sits in a stdio buffer that fork() would duplicate. */
static void write_line(const char *line, size_t len)
{
    ssize_t unused = write(STDERR_FILENO, line, len);
    (void)unused;    /* a log line we cannot write is not worth failing for */
}

void log_conn(const struct server_opts *o, int fd, const struct conn_stats *c,
              const char *why)
{
    if (!o->verbose)
        return;
    char peer[INET6_ADDRSTRLEN + 8], line[256];
    int len = snprintf(line, sizeof line,
        "%s: closed peer=%s fd=%d bytes_in=%llu bytes_out=%llu reads=%llu ms=%.1f (%s)\n",
        o->name, peer_string(&c->peer, peer, sizeof peer), fd,
        (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
        (unsigned long long)c->reads, (now_sec() - c->start) * 1000.0, why);
    if (len > 0)
        write_line(line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
}

/* One lock for every call site: the check and the update of *last must be
 * one step, or two threads that both see an old time both print (and the
 * plain read and write of a double is a data race). The lock is taken
 * only when something goes wrong, so it costs nothing in normal running. */
static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

static int may_log_now(double *last)
{
    double now = now_sec();
    pthread_mutex_lock(&ratelimit_lock);
    int ok = *last == 0 || now - *last >= 1.0;
    if (ok)
        *last = now;
    pthread_mutex_unlock(&ratelimit_lock);
    return ok;
}

void log_ratelimited(double *last, const char *fmt, ...)
{
    if (!may_log_now(last))
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    if ((size_t)len > sizeof line - 2)
        len = (int)sizeof line - 2;
    /* The newline is ours to add: one that the format brings too would
     * leave a blank line on stderr. */
    while (len > 0 && line[len - 1] == '\n')
        len--;
    line[len++] = '\n';
    write_line(line, (size_t)len);
}
