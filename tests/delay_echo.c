/*
 * delay_echo - an echo server that holds every reply for a fixed time, for
 * tests/part3-openloop.sh: a server whose latency is known, to check that
 * an open-loop client keeps its schedule against it.
 *
 *   delay_echo [-p PORT] [-d MS] [-l FILE]
 *
 * One thread per connection: each read is echoed back MS milliseconds
 * later (default 20). With -l, one line per read: "conn t_us bytes" (t_us
 * since the server started), so a test can see when each request arrived.
 * Prints the usual banner; SIGTERM or SIGINT ends it. A connection silent
 * for 30 s is closed.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int delay_ms = 20, log_fd = -1;
static uint64_t t_start;
static atomic_uint next_conn;

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    unsigned conn = atomic_fetch_add(&next_conn, 1);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (log_fd >= 0) {
            char line[64];
            int len = snprintf(line, sizeof line, "%u %llu %zd\n", conn,
                               (unsigned long long)((now_ns() - t_start) / 1000), n);
            if (write_all(log_fd, line, (size_t)len) != 0)
                break;
        }
        sleep_ms(delay_ms);
        if (write_all(fd, buf, (size_t)n) != 0)
            break;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct server_opts o = {.name = "delay_echo", .addr = "127.0.0.1", .port = 0,
                            .backlog = 128};
    int c;
    while ((c = getopt(argc, argv, "p:d:l:h")) != -1) {
        switch (c) {
        case 'p': o.port = atoi(optarg); break;
        case 'd': delay_ms = atoi(optarg); break;
        case 'l':
            log_fd = open(optarg, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
            if (log_fd < 0)
                die(optarg);
            break;
        default:
            fprintf(c == 'h' ? stdout : stderr, "usage: delay_echo [-p PORT] [-d MS] [-l FILE]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (delay_ms < 0 || delay_ms > 10000 || o.port < 0 || o.port > 65535) {
        fprintf(stderr, "delay_echo: -d 0..10000, -p 0..65535\n");
        return 2;
    }
    install_signal_handlers();
    t_start = now_ns();
    int lfd = listen_socket(&o, 0);
    print_banner(o.name, lfd);
    while (!atomic_load(&stop_requested)) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno != EINTR)
                sleep_ms(10);       /* out of descriptors: do not spin */
            continue;
        }
        set_nodelay(fd);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&attr);
    }
    close(lfd);
    return 0;
}
