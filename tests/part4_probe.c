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
 *
 * Prints what it saw; exits 0 when the server behaved, 1 otherwise.
 */
#include "common.h"
#include "stream.h"

#include <errno.h>
#include <poll.h>
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

#define USAGE "usage: part4_probe parser | -p PORT bad KIND | reset SIZE | " \
              "close SIZE | noread MS | refused\n"

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
    if (!port || (!arg && strcmp(cmd, "refused")))
        goto usage;
    if (!strcmp(cmd, "bad"))
        return bad(arg);
    if (!strcmp(cmd, "reset") || !strcmp(cmd, "close"))
        return mid_stream(parse_size(arg), !strcmp(cmd, "reset"));
    if (!strcmp(cmd, "noread"))
        return noread(parse_size(arg));
    if (!strcmp(cmd, "refused"))
        return refused();
usage:
    fprintf(stderr, USAGE);
    return 2;
}
