/*
 * connection.h - one connection of lesson 4 and the content it sends.
 *
 * Each mode needs its content in a different place: the fields (one-copy),
 * the fields and one flat buffer (two-copy), a pool of field sets the
 * kernel may still be reading (zero-copy; send-zc, with its ring), a
 * memory file (sendfile). The
 * content is prepared once per (tag, size) a request asks for, not once
 * per message; the sends themselves are in server.c. And the server's
 * totals, which every connection adds to.
 */
#ifndef CONNECTION_H
#define CONNECTION_H

#include "common.h"
#include "message.h"
#include "stream.h"
#include "thread_server.h"
#include "sendzc.h"
#include "zerocopy.h"

enum mode { TWO_COPY, ONE_COPY, ZERO_COPY, SENDFILE, SEND_ZC };

/* The mode called `name` ("two-copy", ...); exits 2 when there is none. */
enum mode mode_parse(const char *name);

struct conn {
    int fd;
    enum mode mode;
    struct conn_stats st;
    uint64_t seq, messages, requests;
    uint32_t tag, size;               /* the content currently prepared    */
    int ready;
    struct message msg;               /* two-copy, one-copy                */
    uint8_t *flat;                    /* two-copy: the one buffer          */
    int memfd, memfd_filled;          /* sendfile                          */
    struct message pool[ZC_POOL_MAX]; /* zero-copy, send-zc: its buffers,  */
    struct zc_pool zc;                /* which of them are still in flight */
    struct sendzc ring;               /* send-zc: the connection's ring    */
};

/* A new connection, or NULL (fd closed): out of memory, or out of
 * descriptors for its memory file (sendfile) or its ring (send-zc):
 * logged, rate-limited. */
struct conn *conn_new(int fd, const struct sockaddr_storage *peer, enum mode mode,
                      const char *name);
/* Close the socket (and memory file) and free everything. */
void conn_free(struct conn *c);

/* Content for this request's (tag, size), unless it is already there.
 * NULL when ready, else why not. Zero-copy and send-zc wait (up to 2 s)
 * until no buffer is in flight: only then may the old ones be freed. */
const char *prepare_content(struct conn *c, const struct stream_request *rq);

/* The server's totals: add a connection that ended (from its thread), and
 * print the stopped line once the threads are done. */
void totals_add(const struct conn *c);
void totals_print(const char *name, enum mode mode, const struct thread_server *t,
                  int threads_left);

#endif
