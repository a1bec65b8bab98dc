/*
 * session.h - N scripted echo sessions run together (the clients of parts
 * 1 and 2).
 *
 * A session is one thread: it waits at a start line with the others, then
 * makes `conns` connections one after another; on each it does R requests
 * of S bytes with T ms of think time between them, then closes. At the end
 * each session's first-reply wait and duration are printed, then the
 * summary (and with --csv the two machine-readable lines on stdout).
 */
#ifndef SESSION_H
#define SESSION_H

struct session_config {
    const char *addr;
    int port;
    int sessions;        /* -c: sessions started together                */
    int conns;           /* connections per session, in turn (>= 1)      */
    long requests;       /* requests per connection                      */
    long long size;      /* bytes per request                            */
    int think_ms;        /* pause between two requests of a connection   */
    int timeout_ms;      /* give up a request after this without progress */
    int csv;             /* summary as CSV on stdout, the rest on stderr */
};

/* Run the sessions, print the per-session lines and the summary.
 * Returns 0 when every request succeeded, 1 otherwise. */
int run_sessions(const struct session_config *cfg, const char *tool);

#endif
