/* session.c - N scripted echo sessions run together (see session.h).
 *
 * Threads, not processes: a session spends its life blocked in poll() or
 * sleeping, so a thread costs the client next to nothing, every result
 * lands in memory the main thread reads after pthread_join(), and the
 * client's own cost stays out of what the server-side tables measure. */
#include "common.h"
#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct session {
    int id;
    const struct session_config *cfg;
    pthread_barrier_t *start_line;
    struct histogram latency;
    long requests, errors, timeouts, connected, conn_failed;
    int got_reply;
    uint64_t sent, received;
    double first_reply_ms, duration_s;
    char error[160];
};

/* One request; returns 0, or -1 after recording why in the session. */
static int one_request(int fd, struct session *s, uint32_t conn, long req, double t0)
{
    struct exchange x = {.conn = conn, .req = (uint32_t)req,
                         .size = (size_t)s->cfg->size,
                         .timeout_ms = s->cfg->timeout_ms};
    uint64_t t = now_ns();
    enum xchg_result r = echo_exchange(fd, &x);
    s->sent += x.sent;
    s->received += x.received;
    if (x.first_reply_ns && !s->got_reply) {
        s->got_reply = 1;
        s->first_reply_ms = ((double)x.first_reply_ns / 1e9 - t0) * 1000.0;
    }
    if (r != XCHG_OK) {
        s->errors++;
        s->timeouts += r == XCHG_TIMEOUT;
        exchange_error(&x, r, s->error, sizeof s->error);
        return -1;
    }
    hist_add(&s->latency, now_ns() - t);
    s->requests++;
    return 0;
}

/* One connection of a session: connect, R requests, close. */
static int one_connection(struct session *s, int k, double t0)
{
    const struct session_config *cfg = s->cfg;
    int fd = connect_to(cfg->addr, cfg->port, NULL);
    if (fd < 0) {
        snprintf(s->error, sizeof s->error, "connect: %s", strerror(errno));
        s->errors++;
        s->conn_failed++;
        return -1;
    }
    uint32_t conn = (uint32_t)s->id * (uint32_t)cfg->conns + (uint32_t)k;
    uint64_t received_before = s->received;
    int rc = 0;
    for (long r = 0; r < cfg->requests && rc == 0; r++) {
        rc = one_request(fd, s, conn, r, t0);
        if (rc == 0 && cfg->think_ms > 0 && r + 1 < cfg->requests)
            sleep_ms(cfg->think_ms);
    }
    close(fd);
    /* A connection counts as served once any echo came back on it. */
    if (s->received > received_before)
        s->connected++;
    else
        s->conn_failed++;
    return rc;
}

static void *run_session(void *arg)
{
    struct session *s = arg;
    pthread_barrier_wait(s->start_line);
    double t0 = now_sec();
    for (int k = 0; k < s->cfg->conns; k++)
        if (one_connection(s, k, t0) != 0)
            break;
    s->duration_s = now_sec() - t0;
    return NULL;
}

static void summarise(struct session *ss, int n, double wall,
                      const struct session_config *cfg, const char *tool)
{
    FILE *human = cfg->csv ? stderr : stdout;
    static struct histogram all;
    struct run_summary sum;
    run_summary_init(&sum, tool);
    hist_init(&all);
    double first_total = 0, sess_total = 0;
    int replied = 0;
    sum.first_max_ms = sum.sess_max_s = 0;
    for (int i = 0; i < n; i++) {
        struct session *s = &ss[i];
        hist_merge(&all, &s->latency);
        sum.connections += s->connected;
        sum.conn_failed += s->conn_failed;
        sum.requests += s->requests;
        sum.errors += s->errors;
        sum.timeouts += s->timeouts;
        sum.bytes_sent += s->sent;
        sum.bytes_recv += s->received;
        if (s->got_reply) {
            replied++;
            first_total += s->first_reply_ms;
            sess_total += s->duration_s;
            if (s->first_reply_ms > sum.first_max_ms)
                sum.first_max_ms = s->first_reply_ms;
            if (s->duration_s > sum.sess_max_s)
                sum.sess_max_s = s->duration_s;
        }
        if (n > 1 || s->error[0])
            fprintf(human, "session %d: first reply after %.1f ms, %.3f s in all, "
                           "%ld requests%s%s\n", i, s->first_reply_ms, s->duration_s,
                    s->requests, s->error[0] ? ", error: " : "", s->error);
    }
    if (replied > 0) {
        sum.first_avg_ms = first_total / replied;
        sum.sess_avg_s = sess_total / replied;
    } else {
        sum.first_max_ms = sum.sess_max_s = -1;
    }
    sum.wall_s = wall;
    sum.latency = &all;
    sum.cpu_s = process_cpu_seconds();
    run_summary_print(&sum, human);
    if (cfg->csv)
        run_summary_csv(&sum, stdout);
}

int run_sessions(const struct session_config *cfg, const char *tool)
{
    struct session *ss = calloc((size_t)cfg->sessions, sizeof *ss);
    pthread_t *tids = calloc((size_t)cfg->sessions, sizeof *tids);
    pthread_barrier_t start_line;
    if (!ss || !tids || pthread_barrier_init(&start_line, NULL,
                                             (unsigned)cfg->sessions + 1) != 0)
        die("allocating sessions");
    /* Small stacks: a session needs a few KiB, and -c 1000 must not
     * reserve 8 GiB of address space. */
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, 256 * 1024) != 0)
        die("pthread_attr");
    for (int i = 0; i < cfg->sessions; i++) {
        ss[i] = (struct session){.id = i, .cfg = cfg, .start_line = &start_line};
        hist_init(&ss[i].latency);
        if (pthread_create(&tids[i], &attr, run_session, &ss[i]) != 0)
            die("pthread_create");    /* before any session ran: start-up */
    }
    pthread_attr_destroy(&attr);
    pthread_barrier_wait(&start_line);
    double t0 = now_sec();
    for (int i = 0; i < cfg->sessions; i++)
        pthread_join(tids[i], NULL);
    summarise(ss, cfg->sessions, now_sec() - t0, cfg, tool);
    int failed = 0;
    for (int i = 0; i < cfg->sessions; i++)
        failed |= ss[i].errors != 0;
    pthread_barrier_destroy(&start_line);
    free(ss);
    free(tids);
    return failed ? 1 : 0;
}
