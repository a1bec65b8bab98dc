/*
 * uring_bufs.c - the provided buffer ring (uring_bufs.h), with raw system
 * calls.
 *
 * The ring is an array of {addr, len, bid} entries in memory shared with
 * the kernel. We are the producer: we write an entry at our tail and then
 * publish the new tail, with a RELEASE store (the kernel must never see
 * the tail before the entry). The kernel consumes from its own head,
 * which we never read: each CQE tells us which buffer it took.
 */
#include "uring_bufs.h"
#include "common.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *map_anon(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void broken(const char *what, unsigned id)
{
    fprintf(stderr, "fatal: buffer %u %s: the buffer accounting is broken\n", id, what);
    abort();
}

/* Offer buffer id to the kernel again. */
static void ring_push(struct bufs *b, unsigned id)
{
    b->meta[id].held = 0;
    struct io_uring_buf *e = &b->ring->bufs[b->tail & (b->count - 1)];
    e->addr = (uint64_t)(uintptr_t)(b->mem + (size_t)id * b->size);
    e->len = b->size;
    e->bid = (unsigned short)id;
    b->tail++;
    __atomic_store_n(&b->ring->tail, b->tail, __ATOMIC_RELEASE);
    b->free++;
}

/* The kernel says it gave us buffer id: it must have been in the ring. */
static void handed_out(struct bufs *b, unsigned id)
{
    if (id >= b->count || b->meta[id].held)
        broken("handed out twice", id);
    b->meta[id].held = 1;
    b->free--;
}

void bufs_put(struct bufs *b, unsigned id)
{
    handed_out(b, id);
    ring_push(b, id);
}

int bufs_setup(struct bufs *b, int ring_fd, unsigned count, unsigned size)
{
    *b = (struct bufs){.count = count, .size = size};
    /* The ring must be page aligned; the buffers' pages are touched only
     * when the kernel first fills them. */
    b->ring = map_anon(count * sizeof(struct io_uring_buf));
    b->mem = map_anon((size_t)count * size);
    b->meta = calloc(count, sizeof *b->meta);
    if (!b->ring || !b->mem || !b->meta)
        return -1;
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)b->ring,
                                   .ring_entries = count, .bgid = BUF_GROUP};
    if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
        return -1;
    for (unsigned id = 0; id < count; id++)
        ring_push(b, id);
    return 0;
}

void bufs_take(struct bufs *b, struct bufq *q, unsigned id, unsigned len)
{
    handed_out(b, id);
    b->meta[id].len = len;
    b->meta[id].next = -1;
    if (q->n++ == 0)
        q->head = (int)id;
    else
        b->meta[q->tail].next = (int)id;
    q->tail = (int)id;
}

char *bufs_first(const struct bufs *b, const struct bufq *q, unsigned *len)
{
    *len = b->meta[q->head].len;
    return b->mem + (size_t)q->head * b->size;
}

void bufs_pop(struct bufs *b, struct bufq *q)
{
    unsigned id = (unsigned)q->head;
    q->head = b->meta[id].next;
    if (--q->n == 0)
        q->head = q->tail = -1;
    if (!b->meta[id].held)
        broken("given back twice", id);
    ring_push(b, id);
}

void bufs_recv_multishot(struct io_uring_sqe *sqe, unsigned limit)
{
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags |= IOSQE_BUFFER_SELECT;   /* the kernel picks when bytes come */
    sqe->buf_group = BUF_GROUP;
    sqe->file_index = limit;
}

void bufs_from_cqe(struct bufs *b, struct bufq *q, const struct io_uring_cqe *cqe, int keep)
{
    unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    if (keep && cqe->res > 0)
        bufs_take(b, q, id, (unsigned)cqe->res);
    else
        bufs_put(b, id);
}
