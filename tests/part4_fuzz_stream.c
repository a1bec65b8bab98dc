/*
 * part4_fuzz_stream.c - a fuzz target for stream_parse_request() (common/stream.c).
 *
 * libFuzzer (clang only):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -DFUZZ_WITH_LIBFUZZER -Icommon tests/part4_fuzz_stream.c common/stream.c \
 *       common/measure.c -o /tmp/fuzz_stream -lm
 *   /tmp/fuzz_stream -max_total_time=30
 * Any compiler (built by tests/Makefile): a replay main that runs the
 * built-in seeds and every file named on the command line:
 *   tests/bin/part4_fuzz_stream [FILE...]
 *
 * What it checks, for any bytes: the parser answers need-more, a header, or
 * an error with a reason; it reads nothing past the length it is given (the
 * input sits in an exact-size allocation, for AddressSanitizer); and it is
 * consistent as bytes arrive: once a prefix is refused, every longer input
 * is refused, and a prefix that is "need more" never contradicts the answer
 * for the whole header.
 */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "part4_fuzz_stream: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int refused_at = -1;
    for (size_t n = 0; n <= size && n <= STREAM_REQ_LEN; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        if (!copy)
            return 0;
        memcpy(copy, data, n);
        struct stream_request rq;
        const char *err = NULL;
        int r = stream_parse_request(copy, n, &rq, &err);
        free(copy);
        check(r == -1 || r == 0 || r == STREAM_REQ_LEN, "unexpected result");
        check(r != -1 || (err && *err), "refused without a reason");
        check(r != STREAM_REQ_LEN || n == STREAM_REQ_LEN, "a header from too few bytes");
        if (r == STREAM_REQ_LEN)
            check(rq.size >= 1 && rq.size <= STREAM_MAX_SIZE && rq.version == STREAM_VERSION &&
                  rq.flags == 0, "accepted a header outside the limits");
        if (refused_at >= 0)
            check(r == -1, "refused a prefix, then accepted more bytes");
        if (r == -1 && refused_at < 0)
            refused_at = (int)n;
    }
    return 0;
}

#ifndef FUZZ_WITH_LIBFUZZER
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

int main(int argc, char **argv)
{
    /* Seeds: a valid header, its edges, and the usual garbage. */
    uint8_t h[STREAM_REQ_LEN];
    struct stream_request rq = {.version = STREAM_VERSION, .size = 65536, .tag = 7,
                                .count = 1000};
    stream_encode_request(h, &rq);
    LLVMFuzzerTestOneInput(h, sizeof h);
    rq.size = STREAM_MAX_SIZE, rq.count = 0;
    stream_encode_request(h, &rq);
    LLVMFuzzerTestOneInput(h, sizeof h);
    rq.size = STREAM_MAX_SIZE + 1;
    stream_encode_request(h, &rq);
    LLVMFuzzerTestOneInput(h, sizeof h);
    LLVMFuzzerTestOneInput((const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18);
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    int failed = 0, files = 0;
    for (int i = 1; i < argc; i++, files++)
        failed |= run_file(argv[i]);
    printf("part4_fuzz_stream: 5 seeds and %d file(s) replayed, no failure\n", files);
    return failed;
}
#endif
