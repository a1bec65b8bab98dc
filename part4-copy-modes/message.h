/*
 * message.h - lesson 4's message: a struct of separately allocated fields,
 * like the header, body parts and trailer of a real reply. Their content
 * is the stream pattern of a tag (common/stream.h); only the first bytes,
 * the message's sequence number, change from one message to the next.
 */
#ifndef MESSAGE_H
#define MESSAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define FIELDS 8

struct message {
    size_t size;
    int nfields;
    struct iovec field[FIELDS];     /* iov_base: its own malloc'd block */
};

/* Split `size` into up to FIELDS fields, each allocated on its own, and
 * fill them with the content of messages of this tag. -1: out of memory
 * (what was allocated stays counted in nfields, for message_free). */
int message_alloc(struct message *m, size_t size, uint32_t tag);
void message_free(struct message *m);
/* Write message number `seq` into the first bytes, which may span fields
 * when the fields are tiny. */
void message_stamp(struct message *m, uint64_t seq);

#endif
