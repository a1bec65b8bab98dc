/*
 * stream.c - the part 4 request header: encode and parse, no sockets here.
 * The format is in stream.h.
 */
#include "stream.h"
#include "common.h"

#include <string.h>

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8),  p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void stream_encode_request(uint8_t *buf, const struct stream_request *rq)
{
    memcpy(buf, STREAM_MAGIC, 4);
    buf[4] = rq->version;
    buf[5] = rq->flags;
    buf[6] = buf[7] = 0;
    put_be32(buf + 8, rq->size);
    put_be32(buf + 12, rq->tag);
    put_be32(buf + 16, (uint32_t)(rq->count >> 32));
    put_be32(buf + 20, (uint32_t)rq->count);
}

int stream_parse_request(const uint8_t *buf, size_t len,
                         struct stream_request *out, const char **err)
{
    /* Check each field as soon as its bytes are there: garbage is refused
     * at once instead of after waiting for 24 bytes that may never come. */
    size_t m = len < 4 ? len : 4;
    if (memcmp(buf, STREAM_MAGIC, m) != 0) {
        *err = "bad magic (expected \"S4RQ\")";
        return -1;
    }
    if (len > 4 && buf[4] != STREAM_VERSION) {
        *err = "unsupported version (this server speaks version 1)";
        return -1;
    }
    if (len > 5 && buf[5] != 0) {
        *err = "unknown flags (version 1 defines none)";
        return -1;
    }
    if ((len > 6 && buf[6] != 0) || (len > 7 && buf[7] != 0)) {
        *err = "reserved bytes must be zero";
        return -1;
    }
    if (len < STREAM_REQ_LEN)
        return 0;
    uint32_t size = get_be32(buf + 8);
    if (size == 0) {
        *err = "message size 0 (must be 1 .. 16777216)";
        return -1;
    }
    if (size > STREAM_MAX_SIZE) {
        *err = "message size too large (the maximum is 16777216 bytes)";
        return -1;
    }
    out->version = buf[4];
    out->flags = buf[5];
    out->size = size;
    out->tag = get_be32(buf + 12);
    out->count = (uint64_t)get_be32(buf + 16) << 32 | get_be32(buf + 20);
    *err = NULL;
    return STREAM_REQ_LEN;
}

void stream_encode_reply(uint8_t *buf, const char *err_or_null, uint32_t *text_len)
{
    size_t n = 0;
    if (err_or_null) {
        n = strlen(err_or_null);
        if (n > STREAM_ERR_MAX)
            n = STREAM_ERR_MAX;
    }
    memcpy(buf, err_or_null ? STREAM_REPLY_ERR : STREAM_REPLY_OK, 4);
    put_be32(buf + 4, (uint32_t)n);
    *text_len = (uint32_t)n;
}

int stream_parse_reply(const uint8_t *buf, uint32_t *text_len)
{
    *text_len = get_be32(buf + 4);
    if (memcmp(buf, STREAM_REPLY_OK, 4) == 0)
        return *text_len == 0 ? 1 : -1;
    if (memcmp(buf, STREAM_REPLY_ERR, 4) == 0)
        return *text_len <= STREAM_ERR_MAX ? 0 : -1;
    return -1;
}

void stream_fill(uint8_t *buf, size_t n, uint32_t tag, uint64_t off)
{
    payload_fill(buf, n, tag, 0, off);
}

void stream_stamp(uint8_t *msg_start, size_t size, uint64_t seq)
{
    for (size_t i = 0; i < STREAM_STAMP_LEN && i < size; i++)
        msg_start[i] = (uint8_t)(seq >> (8 * i));
}
