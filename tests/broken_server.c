/*
 * broken_server - an echo server with one classic bug, chosen by the
 * environment variable BROKEN_FAULT. tests/meta.sh runs the conformance
 * suite against it to prove that each scenario can fail: a suite that
 * passes a broken server proves nothing.
 *
 *   drop-byte        loses byte 5,000 of every connection
 *   ignore-eof       after the client's half-close, never closes
 *   leak-fd          forgets to close a connection that ended in an error
 *   sigpipe          does not ignore SIGPIPE and goes on after a failed
 *                    write, as servers that never check write() do: a
 *                    client that leaves mid-echo kills it
 *   ignore-sigterm   keeps running after SIGTERM
 *   no-idle-timeout  waits for a silent client forever
 *   per-read-timeout the idle timeout restarts at every read, the classic
 *                    way: a client trickling a byte at a time is never
 *                    dropped (every variant has this bug; the control run
 *                    of tests/meta.sh leaves the trickle scenario out)
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fault = "";

static int is(const char *f) { return strcmp(fault, f) == 0; }

/* Returns 1 when the connection ended in an error (the leak-fd bug path). */
static int naive_echo(int fd, const struct server_opts *o)
{
    char buf[16384];
    uint64_t total = 0;
    int timeout = is("no-idle-timeout") || o->idle_timeout == 0 ? -1
                                                               : o->idle_timeout * 1000;
    for (;;) {
        int r = wait_fd(fd, POLLIN, timeout);
        if (r <= 0)
            return 0;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) {
            if (is("ignore-eof"))
                while (!stop_requested)
                    sleep_ms(50);
            return 0;
        }
        if (n < 0)
            return errno != EINTR;
        size_t len = (size_t)n;
        if (is("drop-byte") && total <= 5000 && total + len > 5000) {
            size_t at = 5000 - (size_t)total;
            memmove(buf + at, buf + at + 1, len - at - 1);
            len--;
        }
        total += (uint64_t)n;
        if (write_all(fd, buf, len) != 0 && !is("sigpipe"))
            return 1;
    }
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "broken"};
    const char *f = getenv("BROKEN_FAULT");
    fault = f ? f : "";
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();
    if (is("sigpipe"))
        signal(SIGPIPE, SIG_DFL);
    if (is("ignore-sigterm"))
        signal(SIGTERM, SIG_IGN);
    int lfd = listen_socket(&o, 0);
    print_banner(o.name, lfd);
    while (!stop_requested) {
        if (wait_fd(lfd, POLLIN, 1000) <= 0)
            continue;
        struct sockaddr_storage peer;
        int fd = accept_client(lfd, &peer, 0);
        if (fd < 0)
            continue;
        if (naive_echo(fd, &o) && is("leak-fd"))
            continue;
        close(fd);
    }
    printf("%s: stopped: fault=%s\n", o.name, fault[0] ? fault : "none");
    return 0;
}
