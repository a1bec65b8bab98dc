/* message.c - lesson 4's message of separately allocated fields. */
#include "message.h"
#include "stream.h"

#include <stdlib.h>

int message_alloc(struct message *m, size_t size, uint32_t tag)
{
    m->size = size;
    m->nfields = size < FIELDS ? (int)size : FIELDS;
    size_t off = 0;
    for (int k = 0; k < m->nfields; k++) {
        size_t len = size / (size_t)m->nfields + ((size_t)k < size % (size_t)m->nfields);
        m->field[k].iov_len = len;
        m->field[k].iov_base = malloc(len);
        if (!m->field[k].iov_base) {
            m->nfields = k;
            return -1;
        }
        stream_fill(m->field[k].iov_base, len, tag, off);
        off += len;
    }
    return 0;
}

void message_free(struct message *m)
{
    for (int k = 0; k < m->nfields; k++)
        free(m->field[k].iov_base);
    m->nfields = 0;
    m->size = 0;
}

void message_stamp(struct message *m, uint64_t seq)
{
    uint8_t stamp[STREAM_STAMP_LEN];
    stream_stamp(stamp, sizeof stamp, seq);
    size_t i = 0;
    for (int k = 0; k < m->nfields && i < sizeof stamp && i < m->size; k++) {
        uint8_t *f = m->field[k].iov_base;
        for (size_t j = 0; j < m->field[k].iov_len && i < sizeof stamp; j++)
            f[j] = stamp[i++];
    }
}
