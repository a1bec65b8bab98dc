/*
 * part1-iterative/server.c - the iterative echo server.
 *
 * Lesson 1. One client at a time: accept a connection, echo everything it
 * sends until it is done, close it, and only then accept the next one.
 *
 * While one client is served, the others are not refused: the kernel
 * completes their TCP handshake and keeps them in the listening socket's
 * queue (up to --backlog of them). Their connect() has succeeded and what
 * they send sits in their receive buffer on our side, but nobody reads it
 * until accept() picks them. That queue is what the timing table measures.
 *
 * The echo itself - read, write all of it back, with every wait bounded by
 * the idle timeout so one silent client cannot hold the server forever -
 * is echo_session() in common/echo.c, shared with the blocking servers of
 * part 2. Read it after this file.
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

static unsigned long served, accept_errors;
static unsigned long long bytes_echoed;

static void serve_one_client(int fd, const struct sockaddr_storage *peer,
                             const struct server_opts *o)
{
    struct conn_stats c;
    conn_stats_start(&c, peer);
    const char *why = echo_session(fd, o, &c);   /* blocks until the client is done */
    log_conn(o, fd, &c, why);
    close(fd);
    served++;
    bytes_echoed += c.bytes_out;
}

int main(int argc, char **argv)
{
    struct server_opts o = {
        .name = "iterative",
        .help_extra = "  (--max-conns has no effect here: this server holds one "
                      "connection at a time)\n",
    };
    server_opts_parse(&o, argc, argv);
    install_signal_handlers();
    int listen_fd = listen_socket(&o, 0);
    print_banner(o.name, listen_fd);

    while (!stop_requested) {
        /* Wait for a client at most a second at a time, so that a stop
         * request is noticed even if it arrives just before we block. */
        if (wait_fd(listen_fd, POLLIN, 1000) <= 0)
            continue;
        struct sockaddr_storage peer;
        int fd = accept_or_back_off(listen_fd, &peer, &accept_errors);
        if (fd < 0)
            continue;
        serve_one_client(fd, &peer, &o);
    }

    close(listen_fd);
    printf("%s: stopped: connections=%lu bytes=%llu accept_errors=%lu\n",
           o.name, served, bytes_echoed, accept_errors);
    return 0;
}
