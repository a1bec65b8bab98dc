/*
 * uring_bufs.h - a provided buffer ring (IORING_REGISTER_PBUF_RING, kernel
 * 5.19): receive buffers shared by every connection of server_uring
 * --multishot.
 *
 * A RECV with IOSQE_BUFFER_SELECT holds no buffer while it waits. When
 * bytes arrive, the kernel takes the next buffer of the ring, fills it and
 * names it in the CQE (IORING_CQE_F_BUFFER, the id in the high bits of
 * cqe.flags). From then on the buffer is the server's, until bufs_put()
 * or bufs_pop() gives it back. So memory follows the data in flight, not
 * the number of connections. When the ring is empty, a RECV ends with
 * ENOBUFS.
 *
 * Each connection queues the buffers it still owes its client (struct
 * bufq), linked through the pool's own table: nothing is allocated per
 * buffer. Every buffer is always in exactly one place, the ring or one
 * queue; a buffer handed out twice, or given back twice, is a bug, and
 * the server stops with a message rather than echo someone else's bytes.
 */
#ifndef URING_BUFS_H
#define URING_BUFS_H

#include <linux/io_uring.h>

#define BUF_GROUP 0            /* the group id a RECV names (sqe->buf_group) */

struct buf_meta {
    unsigned len;              /* bytes the kernel put in it */
    int next;                  /* the next buffer in its queue, or -1 */
    int held;                  /* 1: out of the ring, in some queue */
};

struct bufs {
    struct io_uring_buf_ring *ring;   /* shared with the kernel */
    char *mem;                 /* count * size bytes */
    struct buf_meta *meta;
    unsigned count, size;
    unsigned free;             /* buffers in the ring, for the kernel to take */
    unsigned short tail;       /* our index in the ring: where the next one goes */
};

struct bufq {                  /* what one connection owes, oldest first */
    int head, tail;            /* buffer ids, -1 when empty */
    unsigned n;
};

/* Map count buffers of size bytes (count a power of 2), register the ring
 * with the io_uring ring_fd as BUF_GROUP, and put every buffer in it.
 * 0, or -1 with errno set. */
int bufs_setup(struct bufs *b, int ring_fd, unsigned count, unsigned size);

/* The kernel filled buffer `id` with len bytes (a CQE said so): it goes to
 * the tail of q. */
void bufs_take(struct bufs *b, struct bufq *q, unsigned id, unsigned len);

/* Make sqe a multishot RECV into buffers of the ring. Recent kernels end
 * it after `limit` bytes (sqe->optlen, file_index's place; older ones
 * ignore it): one fast sender cannot then empty the ring at once. */
void bufs_recv_multishot(struct io_uring_sqe *sqe, unsigned limit);

/* The buffer a CQE names (IORING_CQE_F_BUFFER): to the tail of q when
 * `keep` and bytes came, else straight back into the ring. */
void bufs_from_cqe(struct bufs *b, struct bufq *q, const struct io_uring_cqe *cqe, int keep);

/* The oldest buffer of q (q->n > 0) and its length. */
char *bufs_first(const struct bufs *b, const struct bufq *q, unsigned *len);

/* The oldest buffer of q is done with: back into the ring. */
void bufs_pop(struct bufs *b, struct bufq *q);

/* Buffer `id`, not in any queue (an empty or failed RECV), back into the
 * ring. */
void bufs_put(struct bufs *b, unsigned id);

#endif
