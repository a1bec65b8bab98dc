/*
 * part4_probe.c - the part 4 stream protocol under bad input and faults.
 *
 *   part4_probe parser                 unit checks of stream_parse_request()
 *   part4_probe -p PORT bad KIND       send a bad header; expect "S4ER" + reason, then EOF
 *        KIND: magic version flags reserved zero oversized truncated garbage
 *   part4_probe -p PORT reset SIZE     stream, read a little, then reset (RST)
 *   part4_probe -p PORT close SIZE     stream, read a little, then close
 *   part4_probe -p PORT noread MS      ask for an endless stream, never read, hold MS
 *   part4_probe -p PORT refused        expect to be turned away (EOF, no reply)
 *   part4_probe -p PORT admit TOTAL    TOTAL clients, one after another, all held:
 *                                      each served or turned away within 1 s
 *   part4_probe -p PORT churn N [T]    N connections from T threads, ending
 *                                      gracefully, by reset, or mid-header
 *   part4_probe -p PORT retag          one connection, requests of other sizes
 *                                      and tags sent at once: every byte right
 *
 * Prints what it saw; exits 0 when the server behaved, 1 otherwise.
 */
#include "common.h"
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int port;

static int connect_or_die(void)
{
    int fd = connect_to("127.0.0.1", port, NULL);
    if (fd < 0) {
        printf("connect: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

static void header(uint8_t *buf, uint32_t size, uint64_t count)
{
    struct stream_request rq = {.version = STREAM_VERSION, .size = size, .tag = 7,
                                .count = count};
    stream_encode_request(buf, &rq);
}

/* Read everything until EOF (bounded: 3 s without progress). */
static ssize_t read_to_eof(int fd, uint8_t *buf, size_t cap)
{
    size_t have = 0;
    while (have < cap) {
        if (wait_fd(fd, POLLIN, 3000) <= 0)
            return -2;                         /* no EOF in time */
        ssize_t n = recv(fd, buf + have, cap - have, 0);
        if (n == 0)
            return (ssize_t)have;
        if (n < 0)
            return errno == ECONNRESET ? -3 : -1;
        have += (size_t)n;
    }
    return (ssize_t)have;
}

/* ---- parser unit checks --------------------------------------------------- */

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { printf(__VA_ARGS__); putchar('\n'); failures++; } } while (0)

static int parse(const uint8_t *b, size_t n, struct stream_request *rq, const char **err)
{
    /* Copy into an exact-size allocation so that a sanitizer build catches
     * any read past `n`. */
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, b, n);
    int r = stream_parse_request(copy, n, rq, err);
    free(copy);
    return r;
}

static int parser_checks(void)
{
    uint8_t h[STREAM_REQ_LEN];
    struct stream_request rq;
    const char *err;
    header(h, 65536, 1000);
    CHECK(parse(h, sizeof h, &rq, &err) == STREAM_REQ_LEN && rq.size == 65536 &&
          rq.count == 1000 && rq.tag == 7, "a valid header does not parse back");
    for (size_t n = 0; n < sizeof h; n++)
        CHECK(parse(h, n, &rq, &err) == 0, "a valid %zu-byte prefix is not 'need more'", n);
    header(h, STREAM_MAX_SIZE, 0);
    CHECK(parse(h, sizeof h, &rq, &err) == STREAM_REQ_LEN && rq.count == 0,
          "the maximum size is refused");
    header(h, STREAM_MAX_SIZE + 1, 1);
    CHECK(parse(h, sizeof h, &rq, &err) == -1 && err, "an oversized header is accepted");
    header(h, 0, 1);
    CHECK(parse(h, sizeof h, &rq, &err) == -1 && err, "size 0 is accepted");
    /* Each fixed byte corrupted: refused as soon as that byte is there. */
    for (size_t i = 0; i < 8; i++) {
        header(h, 100, 1);
        h[i] ^= 0x5a;
        CHECK(parse(h, i + 1, &rq, &err) == -1 && err,
              "corrupt byte %zu is not refused as soon as it arrives", i);
    }
    /* Random bytes: the answer is always one of the three, never a crash. */
    srand(1);
    long accepted = 0;
    for (int t = 0; t < 200000; t++) {
        uint8_t r[STREAM_REQ_LEN + 8];
        size_t n = (size_t)rand() % sizeof r;
        for (size_t i = 0; i < n; i++)
            r[i] = (uint8_t)rand();
        if (t & 1)
            memcpy(r, STREAM_MAGIC "\x01\0\0\0", n < 8 ? n : 8);
        int v = parse(r, n, &rq, &err);
        CHECK(v == -1 || v == 0 || v == STREAM_REQ_LEN, "odd result %d", v);
        CHECK(v != -1 || err, "refused without a reason");
        if (v == STREAM_REQ_LEN) {
            accepted++;
            CHECK(rq.size >= 1 && rq.size <= STREAM_MAX_SIZE, "accepted size %u", rq.size);
        }
    }
    printf("parser: %d failure(s); %ld random headers accepted, all within limits\n",
           failures, accepted);
    return failures ? 1 : 0;
}

/* ---- against a server ------------------------------------------------------- */

static int bad(const char *kind)
{
    uint8_t h[STREAM_REQ_LEN];
    size_t len = sizeof h;
    header(h, 1024, 1);
    if (!strcmp(kind, "magic")) h[0] = 'X';
    else if (!strcmp(kind, "version")) h[4] = 9;
    else if (!strcmp(kind, "flags")) h[5] = 0x80;
    else if (!strcmp(kind, "reserved")) h[7] = 1;
    else if (!strcmp(kind, "zero")) header(h, 0, 1);
    else if (!strcmp(kind, "oversized")) header(h, 0xffffffffu, 1);
    else if (!strcmp(kind, "truncated")) len = 10;
    else if (!strcmp(kind, "garbage")) memcpy(h, "GET / HTTP/1.0\r\n\r\n", 18), len = 18;
    else {
        printf("unknown kind %s\n", kind);
        return 2;
    }
    int fd = connect_or_die();
    if (write_all(fd, h, len) != 0) {
        printf("send: %s\n", strerror(errno));
        return 1;
    }
    if (!strcmp(kind, "truncated"))
        shutdown(fd, SHUT_WR);           /* "that is all you get" */
    uint8_t buf[512];
    ssize_t n = read_to_eof(fd, buf, sizeof buf);
    close(fd);
    if (n < 0) {
        printf("%s: %s\n", kind, n == -2 ? "no reply and no close within 3 s"
                                         : "connection reset instead of a reply");
        return 1;
    }
    uint32_t tlen;
    if ((size_t)n < STREAM_REPLY_LEN || stream_parse_reply(buf, &tlen) != 0 ||
        (size_t)n != STREAM_REPLY_LEN + tlen || tlen == 0) {
        printf("%s: expected an S4ER reply with a reason, got %zd bytes\n", kind, n);
        return 1;
    }
    printf("%s: refused: %.*s\n", kind, (int)tlen, (const char *)buf + STREAM_REPLY_LEN);
    return 0;
}

static int mid_stream(long long size, int reset)
{
    int fd = connect_or_die();
    uint8_t h[STREAM_REQ_LEN], buf[65536];
    header(h, (uint32_t)size, 0);
    if (write_all(fd, h, sizeof h) != 0)
        return printf("send: %s\n", strerror(errno)), 1;
    size_t got = 0;
    while (got < 256 * 1024) {
        if (wait_fd(fd, POLLIN, 3000) <= 0)
            return printf("no data within 3 s\n"), 1;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return printf("stream ended early\n"), 1;
        got += (size_t)n;
    }
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};   /* close = RST */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
    printf("%s after %zu bytes\n", reset ? "reset" : "closed", got);
    return 0;
}

static int noread(long long ms)
{
    int fd = connect_or_die();
    uint8_t h[STREAM_REQ_LEN];
    header(h, 65536, 0);
    if (write_all(fd, h, sizeof h) != 0)
        return printf("send: %s\n", strerror(errno)), 1;
    sleep_ms((int)ms);
    close(fd);
    printf("held an unread stream for %lld ms\n", ms);
    return 0;
}

static int refused(void)
{
    int fd = connect_or_die();
    uint8_t h[STREAM_REQ_LEN], buf[64];
    header(h, 16, 1);
    (void)!write(fd, h, sizeof h);       /* may fail: the server may have closed */
    ssize_t n = read_to_eof(fd, buf, sizeof buf);
    close(fd);
    if (n == 0 || n == -3)
        return printf("turned away (%s)\n", n ? "reset" : "EOF"), 0;
    return printf("expected to be turned away, got %zd\n", n), 1;
}

/* Read exactly n bytes, waiting at most ms for each piece. Returns n, 0 on
 * EOF before anything, -1 on an error or a reset, -2 on a timeout, -4 on EOF
 * after a part. */
static ssize_t read_exact(int fd, uint8_t *buf, size_t n, int ms)
{
    size_t have = 0;
    while (have < n) {
        if (wait_fd(fd, POLLIN, ms) <= 0)
            return -2;
        ssize_t r = recv(fd, buf + have, n - have, 0);
        if (r == 0)
            return have ? -4 : 0;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        have += (size_t)r;
    }
    return (ssize_t)n;
}

/* One message of `size` bytes on a fresh connection: request it, then check
 * the "S4OK" reply and message 0 of tag `tag`. 1 served, 0 turned away
 * (EOF or reset before any byte), -1 something else (printed). */
static int one_message(int fd, uint32_t size, uint32_t tag, int ms)
{
    uint8_t h[STREAM_REQ_LEN], got[STREAM_REPLY_LEN + 1024], want[1024];
    struct stream_request rq = {.version = STREAM_VERSION, .size = size, .tag = tag,
                                .count = 1};
    uint32_t tlen;
    stream_encode_request(h, &rq);
    if (send_nosignal(fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return 0;                          /* closed on us: turned away */
    ssize_t r = read_exact(fd, got, STREAM_REPLY_LEN + size, ms);
    if (r == 0 || r == -1)
        return 0;
    if (r < 0) {
        printf("tag %u: %s\n", tag, r == -2 ? "neither served nor turned away in time"
                                            : "the stream ended in the middle");
        return -1;
    }
    stream_fill(want, size, tag, 0);
    stream_stamp(want, size, 0);
    if (stream_parse_reply(got, &tlen) != 1 || memcmp(got + STREAM_REPLY_LEN, want, size)) {
        printf("tag %u: a wrong reply or wrong bytes\n", tag);
        return -1;
    }
    return 1;
}

/* admit TOTAL: TOTAL clients connect one after another and stay connected;
 * each must be served (its message) or turned away within a second. */
static int admit(int total)
{
    if (total < 1 || total > 10000)
        return 2;
    int *fds = calloc((size_t)total, sizeof *fds), served = 0, turned_away = 0, rc = 0;
    if (!fds)
        return printf("out of memory\n"), 1;
    for (int i = 0; i < total && rc == 0; i++) {
        fds[i] = connect_to("127.0.0.1", port, NULL);
        if (fds[i] < 0) {
            turned_away++;
            continue;
        }
        int v = one_message(fds[i], 64, (uint32_t)i, 1000);
        if (v < 0)
            rc = 1;
        else if (v)
            served++;
        else
            turned_away++;
    }
    for (int i = 0; i < total; i++)
        if (fds[i] > 0)
            close(fds[i]);
    free(fds);
    if (rc == 0)
        printf("ok: %d served, %d turned away cleanly\n", served, turned_away);
    return rc;
}

/* churn N [THREADS]: connections ending every way. */
struct churn { int from, to, failed; };

static void *churn_worker(void *arg)
{
    struct churn *c = arg;
    uint8_t h[STREAM_REQ_LEN], buf[4096];
    for (int i = c->from; i < c->to && !c->failed; i++) {
        int fd = connect_to("127.0.0.1", port, NULL);
        if (fd < 0) {
            printf("connection %d: connect: %s\n", i, strerror(errno));
            c->failed = 1;
            break;
        }
        switch (i % 3) {
        case 0:                            /* a whole message, then a close */
            c->failed = one_message(fd, 1024, (uint32_t)i, 3000) != 1;
            break;
        case 1:                            /* an endless stream, reset after 4 KiB */
            header(h, 1024, 0);
            c->failed = write_all(fd, h, sizeof h) != 0 ||
                        read_exact(fd, buf, sizeof buf, 3000) != (ssize_t)sizeof buf;
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            break;
        case 2:                            /* half a header, then a close */
            header(h, 1024, 1);
            (void)send_nosignal(fd, h, sizeof h / 2, 0);
            break;
        }
        if (c->failed)
            printf("connection %d (kind %d) failed\n", i, i % 3);
        close(fd);
    }
    return NULL;
}

static int churn(int n, int t)
{
    if (n < 1 || t < 1 || t > 16)
        return 2;
    pthread_t tid[16];
    struct churn cs[16];
    int failed = 0, started = 0;
    for (int i = 0; i < t; i++) {
        cs[i] = (struct churn){.from = n * i / t, .to = n * (i + 1) / t};
        if (pthread_create(&tid[i], NULL, churn_worker, &cs[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        failed += cs[i].failed;
    }
    if (failed || started < t)
        return printf("churn: some connections failed\n"), 1;
    printf("ok: %d connections: whole messages, resets and half headers\n", n);
    return 0;
}

/* retag: one connection, requests for other sizes and tags all sent at
 * once, so that the server prepares new content while the previous
 * messages may still be in flight (zero-copy's pinned buffers, sendfile's
 * file pages). Every message must carry its own tag and sequence number. */
static int retag(void)
{
    static const struct { uint32_t size, tag, count; } plan[] = {
        {262144, 1, 4}, {1024, 2, 3}, {262144, 1, 2}, {65536, 3, 3}, {16, 4, 5},
        {262144, 5, 2}};
    enum { STEPS = sizeof plan / sizeof plan[0], BIG = 262144 };
    uint8_t h[STREAM_REQ_LEN], reply[STREAM_REPLY_LEN];
    uint8_t *got = malloc(BIG), *want = malloc(BIG);
    int fd = connect_or_die(), rc = 0;
    uint32_t tlen;
    for (int k = 0; k < STEPS && got && want; k++) {
        struct stream_request rq = {.version = STREAM_VERSION, .size = plan[k].size,
                                    .tag = plan[k].tag, .count = plan[k].count};
        stream_encode_request(h, &rq);
        if (write_all(fd, h, sizeof h) != 0) {
            printf("send: %s\n", strerror(errno));
            rc = 1;
            break;
        }
    }
    uint64_t seq = 0;
    for (int k = 0; k < STEPS && rc == 0 && got && want; k++) {
        if (read_exact(fd, reply, sizeof reply, 3000) != (ssize_t)sizeof reply ||
            stream_parse_reply(reply, &tlen) != 1) {
            printf("request %d: no S4OK reply\n", k);
            rc = 1;
        }
        for (uint32_t m = 0; m < plan[k].count && rc == 0; m++, seq++) {
            size_t size = plan[k].size;
            stream_fill(want, size, plan[k].tag, 0);
            stream_stamp(want, size, seq);
            if (read_exact(fd, got, size, 3000) != (ssize_t)size) {
                printf("request %d, message %u: short or late\n", k, m);
                rc = 1;
            } else if (memcmp(got, want, size) != 0) {
                printf("request %d, message %u: wrong bytes (tag %u, seq %llu)\n", k, m,
                       plan[k].tag, (unsigned long long)seq);
                rc = 1;
            }
        }
    }
    close(fd);
    if (!got || !want)
        printf("out of memory\n"), rc = 1;
    free(got);
    free(want);
    if (rc == 0)
        printf("ok: %d requests, %llu messages, each with its own tag and number\n",
               (int)STEPS, (unsigned long long)seq);
    return rc;
}

#define USAGE "usage: part4_probe parser | -p PORT bad KIND | reset SIZE | " \
              "close SIZE | noread MS | refused | admit TOTAL | churn N [THREADS] | " \
              "retag\n"

int main(int argc, char **argv)
{
    int a = 1;
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf(USAGE);
        return 0;
    }
    if (a + 1 < argc && !strcmp(argv[a], "-p"))
        port = atoi(argv[a + 1]), a += 2;
    if (a >= argc)
        goto usage;
    const char *cmd = argv[a], *arg = a + 1 < argc ? argv[a + 1] : NULL;
    install_signal_handlers();
    if (!strcmp(cmd, "parser"))
        return parser_checks();
    if (!port || (!arg && strcmp(cmd, "refused") && strcmp(cmd, "retag")))
        goto usage;
    if (!strcmp(cmd, "bad"))
        return bad(arg);
    if (!strcmp(cmd, "reset") || !strcmp(cmd, "close"))
        return mid_stream(parse_size(arg), !strcmp(cmd, "reset"));
    if (!strcmp(cmd, "noread"))
        return noread(parse_size(arg));
    if (!strcmp(cmd, "refused"))
        return refused();
    if (!strcmp(cmd, "admit"))
        return admit(atoi(arg));
    if (!strcmp(cmd, "retag"))
        return retag();
    if (!strcmp(cmd, "churn"))
        return churn(atoi(arg), a + 2 < argc ? atoi(argv[a + 2]) : 4);
usage:
    fprintf(stderr, USAGE);
    return 2;
}
