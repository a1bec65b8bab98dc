/*
 * stream.h - the stream protocol of part 4: the request header and the
 * reply header, their encoding, and a parser with no socket calls (so that
 * a fuzzer, a test or a reader can call it on any bytes).
 *
 * The conversation on one connection:
 *
 *   client -> server   request header (24 bytes)
 *   server -> client   reply header (8 bytes): "S4OK" + 0, or "S4ER" + length,
 *                      then that many bytes of error text, then close
 *   server -> client   `count` messages of `size` bytes (count 0: until the
 *                      client closes the connection)
 *   ...                after the last message the client may send the next
 *                      request on the same connection (latency mode does)
 *
 * Request header, every integer big-endian (network order):
 *
 *   offset  size  field
 *   0       4     magic    "S4RQ"
 *   4       1     version  1
 *   5       1     flags    0 (no flag is defined in version 1; any bit set is an error)
 *   6       2     reserved 0
 *   8       4     size     message size in bytes, 1 .. STREAM_MAX_SIZE
 *   12      4     tag      chosen by the client; seeds the content pattern
 *   16      8     count    number of messages, 0 = until the client closes
 *
 * Message n on a connection (n counts from 0 over all the connection's
 * requests) is checkable by the client without any trailer:
 *   bytes [0, min(8, size))  n, little-endian (truncated for tiny messages)
 *   bytes [8, size)          payload_fill(tag, 0, offset) - the pattern of
 *                            common.h at the same offset
 * The sequence number is what changes from one message to the next, so a
 * buffer that a server reuses too early shows up as a wrong number.
 */
#ifndef STREAM_H
#define STREAM_H

#include <stddef.h>
#include <stdint.h>

#define STREAM_MAGIC        "S4RQ"
#define STREAM_VERSION      1
#define STREAM_REQ_LEN      24
#define STREAM_MAX_SIZE     (16u << 20)    /* 16 MiB: the largest message */
#define STREAM_STAMP_LEN    8              /* the sequence number at the front */

#define STREAM_REPLY_OK     "S4OK"
#define STREAM_REPLY_ERR    "S4ER"
#define STREAM_REPLY_LEN    8              /* 4-byte tag + 4-byte text length */
#define STREAM_ERR_MAX      200            /* longest error text we send */

struct stream_request {
    uint8_t  version, flags;
    uint32_t size;
    uint32_t tag;
    uint64_t count;           /* 0 = until the client closes */
};

/* Encode a request into buf (STREAM_REQ_LEN bytes). */
void stream_encode_request(uint8_t *buf, const struct stream_request *rq);

/* Parse the first `len` bytes received. Returns
 *   STREAM_REQ_LEN (bytes used) and fills *out when a whole valid header is there,
 *   0  when more bytes are needed (what is there is a valid beginning),
 *   -1 when the bytes can never become a valid header; *err says why.
 * It decides as early as it can: a wrong magic is refused after one byte. */
int stream_parse_request(const uint8_t *buf, size_t len,
                         struct stream_request *out, const char **err);

/* The reply header: ok, or an error whose text (text_len bytes) follows. */
void stream_encode_reply(uint8_t *buf, const char *err_or_null, uint32_t *text_len);
/* Parse a reply header: 1 ok, 0 error (*text_len bytes of text follow),
 * -1 not a reply header at all. */
int stream_parse_reply(const uint8_t *buf, uint32_t *text_len);

/* Message content (see above). stream_fill writes the bytes [off, off+n) of
 * every message of this tag except the stamp; stream_stamp writes message
 * number `seq` into its first bytes. */
void stream_fill(uint8_t *buf, size_t n, uint32_t tag, uint64_t off);
void stream_stamp(uint8_t *msg_start, size_t size, uint64_t seq);

#endif
