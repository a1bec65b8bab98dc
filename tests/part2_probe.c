/*
 * part2_probe - the clients behind part 2's own checks
 * (tests/part2-process-thread.sh).
 *
 *   part2_probe -p PORT churn N [THREADS]
 *   part2_probe -p PORT overlap N
 *   part2_probe -p PORT cap SERVED WAITING EXTRA
 *   part2_probe -p PORT flood N
 *   part2_probe -p PORT lockstep C R SIZE
 *
 * Each prints one line saying what it saw; exit 0 when the server behaved,
 * 1 when it did not, 2 on bad usage. Every wait is bounded.
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int port;
static const int timeout_ms = 5000;

/* One checked request of `size` bytes; 0 when it came back intact. */
static int request(int fd, uint32_t conn, uint32_t req, size_t size, char *why, size_t n)
{
    struct exchange x = {.conn = conn, .req = req, .size = size, .timeout_ms = timeout_ms};
    enum xchg_result r = echo_exchange(fd, &x);
    if (r == XCHG_OK)
        return 0;
    exchange_error(&x, r, why, n);
    return -1;
}

/* What the server did with a connection within ms: 1 closed it (EOF or
 * reset), 2 sent data, 0 nothing. */
static int watch(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, ms);
    if (r <= 0)
        return 0;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 ? 2 : 1;
}

/* ---- churn N [THREADS]: N short connections (connect, 64 bytes, close),
 * spread over THREADS client threads, one after another in each. -------- */

struct churner { int id, n, failed; char why[160]; };

static void *churn_thread(void *arg)
{
    struct churner *c = arg;
    for (int i = 0; i < c->n && !c->failed; i++) {
        int fd = connect_to("127.0.0.1", port, NULL);
        if (fd < 0) {
            snprintf(c->why, sizeof c->why, "connect: %s", strerror(errno));
            c->failed = 1;
            break;
        }
        c->failed = request(fd, (uint32_t)(c->id * 1000000 + i), 0, 64,
                            c->why, sizeof c->why) != 0;
        close(fd);
    }
    return NULL;
}

static int churn(int argc, char **argv)
{
    if (argc < 1)
        return 2;
    int n = atoi(argv[0]), threads = argc > 1 ? atoi(argv[1]) : 1;
    if (n < 1 || threads < 1 || threads > 64)
        return 2;
    struct churner c[64];
    pthread_t t[64];
    int started = 0;
    for (int i = 0; i < threads; i++) {
        c[i] = (struct churner){.id = i, .n = n / threads + (i < n % threads)};
        if (pthread_create(&t[i], NULL, churn_thread, &c[i]) != 0)
            break;
        started++;
    }
    int failed = started < threads;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        if (c[i].failed) {
            printf("churn: %s\n", c[i].why);
            failed = 1;
        }
    }
    if (failed)
        return 1;
    printf("ok: %d short connections\n", n);
    return 0;
}

/* ---- overlap N: proof that N clients are served at the same time. ------
 * Connect N clients and get one echo on each, keeping all of them open;
 * only then does each send a second request. A server that serves one
 * client at a time cannot answer client 2 while client 1 is still
 * connected, so the first round would time out. At the end all N close
 * at the same instant. */
static int overlap(int argc, char **argv)
{
    if (argc != 1)
        return 2;
    int n = atoi(argv[0]);
    if (n < 1 || n > 5000)
        return 2;
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds)
        return 1;
    char why[160] = "";
    int ok = 1, opened = 0;
    for (int round = 0; round < 2 && ok; round++)
        for (int i = 0; i < n && ok; i++) {
            if (round == 0) {
                fds[i] = connect_to("127.0.0.1", port, NULL);
                if (fds[i] < 0) {
                    printf("client %d: connect: %s\n", i, strerror(errno));
                    ok = 0;
                    break;
                }
                opened++;
            }
            if (request(fds[i], (uint32_t)i, (uint32_t)round, 256, why, sizeof why)) {
                printf("client %d, round %d, with %d clients connected: %s\n",
                       i, round + 1, opened, why);
                ok = 0;
            }
        }
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    if (!ok)
        return 1;
    printf("ok: %d clients connected and served together, then closed at once\n", n);
    return 0;
}

/* ---- cap SERVED WAITING EXTRA: the behaviour at the connection cap. ----
 * SERVED clients are connected and served. WAITING more connect and send
 * a request: they must get no answer yet (queued, by the server or by the
 * kernel). EXTRA more must be turned away: closed within 2 s. Then the
 * SERVED clients leave, and every WAITING client must get its echo; and
 * finally a fresh client is served. */
static int cap(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int served = atoi(argv[0]), waiting = atoi(argv[1]), extra = atoi(argv[2]);
    int total = served + waiting + extra;
    if (served < 0 || waiting < 0 || extra < 0 || total < 1 || total > 2000)
        return 2;
    int *fds = calloc((size_t)total, sizeof *fds);
    if (!fds)
        return 1;
    char why[160];
    int rc = 1, opened = 0;
    for (; opened < total; opened++) {
        fds[opened] = connect_to("127.0.0.1", port, NULL);
        if (fds[opened] < 0) {
            printf("client %d: connect: %s\n", opened, strerror(errno));
            goto out;
        }
        int i = opened;
        if (i < served) {
            if (request(fds[i], (uint32_t)i, 0, 256, why, sizeof why)) {
                printf("served client %d: %s\n", i, why);
                goto out;
            }
        } else if (i < served + waiting) {
            uint8_t req[256];
            payload_fill(req, sizeof req, (uint32_t)i, 0, 0);
            if (write_all(fds[i], req, sizeof req) != 0) {
                printf("waiting client %d: send: %s\n", i, strerror(errno));
                goto out;
            }
        } else if (watch(fds[i], 2000) != 1) {
            printf("extra client %d (cap %d): not turned away within 2 s\n",
                   i - served - waiting, served + waiting);
            goto out;
        }
    }
    for (int i = served; i < served + waiting; i++)
        if (watch(fds[i], i == served ? 300 : 0) != 0) {
            printf("waiting client %d got an answer or a close while the cap was reached\n",
                   i - served);
            goto out;
        }
    for (int i = 0; i < served; i++) {
        close(fds[i]);
        fds[i] = -1;
    }
    for (int i = served; i < served + waiting; i++) {
        uint8_t got[256];
        if (watch(fds[i], timeout_ms) != 2 || read_full(fds[i], got, sizeof got) != 256 ||
            payload_check(got, sizeof got, (uint32_t)i, 0, 0) >= 0) {
            printf("waiting client %d not served after the others left\n", i - served);
            goto out;
        }
    }
    for (int i = served; i < served + waiting; i++) {
        close(fds[i]);
        fds[i] = -1;
    }
    /* A slot frees when the server notices the leaver (a child reaped, a
     * thread ended): a fresh client may be refused for a moment. */
    for (int attempt = 0;; attempt++) {
        int fd = connect_to("127.0.0.1", port, NULL);
        int bad = fd < 0 || request(fd, 99999, 0, 256, why, sizeof why) != 0;
        if (fd >= 0)
            close(fd);
        if (!bad)
            break;
        if (attempt == 40) {
            printf("no fresh client served within 2 s after the cap freed\n");
            goto out;
        }
        sleep_ms(50);
    }
    printf("ok: %d served, %d waited and were served next, %d turned away at once\n",
           served, waiting, extra);
    rc = 0;
out:
    for (int i = 0; i < opened; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    return rc;
}

/* ---- flood N: N clients connect and each sends one request, all kept
 * open. Each must be either served or turned away (closed) within 3 s,
 * never left hanging; at least one is served. Then all leave and a fresh
 * client is served. */
static int flood(int argc, char **argv)
{
    if (argc != 1)
        return 2;
    int n = atoi(argv[0]);
    if (n < 1 || n > 2000)
        return 2;
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds)
        return 1;
    int served = 0, turned = 0, hanging = 0, opened = 0;
    for (; opened < n; opened++) {
        fds[opened] = connect_to("127.0.0.1", port, NULL);
        if (fds[opened] < 0)
            break;
        char why[160];
        struct exchange x = {.conn = (uint32_t)opened, .size = 256, .timeout_ms = 3000};
        enum xchg_result r = echo_exchange(fds[opened], &x);
        if (r == XCHG_OK)
            served++;
        else if (r == XCHG_CLOSED || r == XCHG_ERROR)
            turned++;
        else {
            hanging++;
            printf("client %d: %s\n", opened, exchange_error(&x, r, why, sizeof why));
        }
    }
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    int fresh_ok = 0;
    for (int attempt = 0; attempt < 40 && !fresh_ok; attempt++) {
        char why[160];
        int fd = connect_to("127.0.0.1", port, NULL);
        fresh_ok = fd >= 0 && request(fd, 99999, 0, 64, why, sizeof why) == 0;
        if (fd >= 0)
            close(fd);
        if (!fresh_ok)
            sleep_ms(50);
    }
    printf("%s: %d clients: %d served, %d turned away, %d left hanging%s\n",
           opened == n && !hanging && served && fresh_ok ? "ok" : "failed", n,
           served, turned, hanging, fresh_ok ? "" : "; no fresh client served after");
    return opened == n && !hanging && served && fresh_ok ? 0 : 1;
}

/* ---- lockstep C R SIZE: C connections opened at once and kept open,
 * then R rounds: in round k every connection sends request k, and every
 * reply is read back, before any connection sends request k+1. A server
 * that serves fewer than C clients at once cannot finish round 1. Each
 * round has 10 s; every reply must be intact. ----------------------------- */

/* Read `size` echoed bytes of (conn, req) by `deadline`; 0 when intact. */
static int read_reply(int fd, uint32_t conn, uint32_t req, uint8_t *buf, size_t size,
                      double deadline, char *why, size_t n)
{
    size_t got = 0;
    while (got < size) {
        int ms = (int)((deadline - now_sec()) * 1000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (ms <= 0 || poll(&p, 1, ms) == 0) {
            snprintf(why, n, "timeout after %zu of %zu bytes", got, size);
            return -1;
        }
        ssize_t r = recv(fd, buf + got, size - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(why, n, "%s after %zu of %zu bytes", r == 0 ? "closed" : strerror(errno),
                     got, size);
            return -1;
        }
        got += (size_t)r;
    }
    long bad = payload_check(buf, size, conn, req, 0);
    if (bad >= 0)
        snprintf(why, n, "mismatch at byte %ld", bad);
    return bad >= 0 ? -1 : 0;
}

static int lockstep(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int c = atoi(argv[0]), r = atoi(argv[1]);
    long long size = parse_size(argv[2]);
    if (c < 1 || c > 5000 || r < 1 || r > 1000 || size < 1 || size > 65536)
        return 2;
    int *fds = calloc((size_t)c, sizeof *fds);
    uint8_t *buf = malloc((size_t)size);
    if (!fds || !buf)
        return 1;
    int opened = 0, errors = 0;
    char why[160];
    for (; opened < c; opened++)
        if ((fds[opened] = connect_to("127.0.0.1", port, NULL)) < 0) {
            printf("connection %d: connect: %s\n", opened, strerror(errno));
            errors++;
            break;
        }
    double start = now_sec(), first_round = 0;
    /* A round with errors is counted to its end (at most 10 s: the reads
     * share one deadline), and is the last. */
    for (int k = 0; k < r && errors == 0; k++) {
        int sent = 0;
        for (; sent < c; sent++) {
            payload_fill(buf, (size_t)size, (uint32_t)sent, (uint32_t)k, 0);
            if (write_all(fds[sent], buf, (size_t)size) != 0) {
                printf("connection %d, request %d: send: %s\n", sent, k + 1, strerror(errno));
                errors++;
                break;
            }
        }
        double deadline = now_sec() + 10;
        for (int i = 0; i < sent; i++)
            if (read_reply(fds[i], (uint32_t)i, (uint32_t)k, buf, (size_t)size, deadline,
                           why, sizeof why) != 0 && ++errors <= 3)
                printf("connection %d, request %d of %d: %s\n", i, k + 1, r, why);
        if (k == 0)
            first_round = now_sec() - start;
    }
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    free(buf);
    printf("%s: %d connections x %d requests of %lld B in lockstep, %d errors; "
           "first round %.3f s, all %.3f s\n", errors ? "failed" : "ok", c, r, size,
           errors, first_round, now_sec() - start);
    return errors ? 1 : 0;
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: part2_probe -p PORT churn N [THREADS] | overlap N |"
               " cap SERVED WAITING EXTRA | flood N | lockstep C R SIZE\n");
    return status;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
        return usage(stdout, 0);
    if (argc < 4 || strcmp(argv[1], "-p") != 0 || (port = atoi(argv[2])) <= 0)
        return usage(stderr, 2);
    static const struct { const char *name; int (*run)(int, char **); } sc[] = {
        {"churn", churn}, {"overlap", overlap}, {"cap", cap}, {"flood", flood},
        {"lockstep", lockstep},
    };
    for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++)
        if (strcmp(argv[3], sc[i].name) == 0) {
            int rc = sc[i].run(argc - 4, argv + 4);
            if (rc == 2)
                fprintf(stderr, "part2_probe: bad arguments for %s\n", sc[i].name);
            return rc;
        }
    fprintf(stderr, "part2_probe: unknown scenario %s\n", argv[3]);
    return 2;
}
