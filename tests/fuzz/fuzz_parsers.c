/*
 * fuzz_parsers - every parser of the repository, on arbitrary bytes.
 *
 * Built two ways from this one file:
 *   make fuzz         clang -fsanitize=fuzzer,address,undefined: libFuzzer
 *                     drives LLVMFuzzerTestOneInput for a bounded time;
 *   make test         any compiler, with main() below: replays every file
 *                     of tests/fuzz/corpus/ (and whatever paths it is given).
 *
 * Besides "no crash, no sanitizer report", it checks what each parser
 * promises: the stream request parser returns 24, 0 or -1; a header it
 * accepts re-encodes to the same 24 bytes and has a size within bounds; a
 * prefix of an accepted header is "need more", never "invalid".
 */
#include "common.h"
#include "stream.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_parsers: broken promise: %s\n", what);
        abort();
    }
}

/* Each prefix of the input, as the bytes would arrive, in an allocation of
 * exactly its size (AddressSanitizer catches a read one byte past it).
 * Once a prefix is refused, every longer one must be refused too. */
static void fuzz_request_prefixes(const uint8_t *data, size_t len)
{
    int refused = 0;
    for (size_t n = 0; n <= len && n <= STREAM_REQ_LEN; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        if (!copy)
            return;
        memcpy(copy, data, n);
        struct stream_request rq;
        const char *err = NULL;
        int r = stream_parse_request(copy, n, &rq, &err);
        free(copy);
        check(!refused || r == -1, "request: refused a prefix, then accepted more bytes");
        refused |= r == -1;
    }
}

static void fuzz_request(const uint8_t *data, size_t len)
{
    fuzz_request_prefixes(data, len);
    struct stream_request rq;
    const char *err = NULL;
    int r = stream_parse_request(data, len, &rq, &err);
    check(r == -1 || r == 0 || r == STREAM_REQ_LEN, "request: result is 24, 0 or -1");
    if (r == -1)
        check(err != NULL && strlen(err) < STREAM_ERR_MAX, "request: an error says why");
    if (r == 0)
        check(len < STREAM_REQ_LEN, "request: 'need more' only before 24 bytes");
    if (r != STREAM_REQ_LEN)
        return;
    check(rq.size >= 1 && rq.size <= STREAM_MAX_SIZE && rq.version == STREAM_VERSION &&
          rq.flags == 0, "request: an accepted header is within the limits");
    uint8_t again[STREAM_REQ_LEN];
    stream_encode_request(again, &rq);
    check(memcmp(again, data, STREAM_REQ_LEN) == 0, "request: re-encodes to the same bytes");
    for (size_t n = 0; n < STREAM_REQ_LEN; n++)
        check(stream_parse_request(data, n, &rq, &err) == 0,
              "request: a prefix of a valid header needs more");
}

static void fuzz_reply(const uint8_t *data, size_t len)
{
    if (len < STREAM_REPLY_LEN)
        return;
    uint32_t text_len = 0;
    int r = stream_parse_reply(data, &text_len);
    check(r == 1 || r == 0 || r == -1, "reply: result is 1, 0 or -1");
}

static void fuzz_size(const uint8_t *data, size_t len)
{
    char text[32];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    long long v = parse_size(text);
    check(v >= -1, "parse_size: a size or -1");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_request(data, len);
    fuzz_reply(data, len);
    fuzz_size(data, len);
    return 0;
}

#ifndef FUZZING_WITH_LIBFUZZER
/* ---- replay: run the corpus through the same checks ----------------------- */

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

static int replay(const char *path, int *count)
{
    DIR *d = opendir(path);
    if (!d) {
        (*count)++;
        return replay_file(path);
    }
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        bad |= replay(child, count);
    }
    closedir(d);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0, count = 0;
    for (int i = 1; i < argc; i++)
        bad |= replay(argv[i], &count);
    printf("fuzz_parsers: %d inputs replayed, every promise kept\n", count);
    return bad;
}
#endif
