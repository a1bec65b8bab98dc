/*
 * uring.h - the io_uring plumbing under server_uring.c, in raw system
 * calls (no liburing), so that every step can be read in uring.c:
 *
 *   ring_setup()  io_uring_setup(), then map the two rings and the SQEs;
 *   ring_sqe()    fill the next submission queue entry (SQE);
 *   ring_enter()  io_uring_enter(): hand the kernel what was filled, and
 *                 optionally sleep until at least one completion is posted;
 *   ring_next()   take the next completion queue entry (CQE), if any.
 *
 * One thread owns a ring; nothing here is thread-safe.
 */
#ifndef URING_H
#define URING_H

#include <linux/io_uring.h>
#include <stddef.h>
#include <stdint.h>

struct ring {
    int fd;
    /* Submission queue: we fill entries at the tail, the kernel consumes
     * them from the head. sqe_tail counts the entries we filled; the
     * kernel sees them when ring_enter() publishes it as *sq_tail. */
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, sq_entries, sqe_tail;
    struct io_uring_sqe *sqes;
    /* Completion queue: the kernel posts at the tail, we take at the head. */
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
    void *maps[3];             /* the mapped regions, for ring_close() */
    size_t map_len[3];
};

/* A ring with room for `sq_entries` submissions and `cq_entries`
 * completions. When the kernel refuses io_uring, say why and exit 1. */
void ring_setup(struct ring *r, const char *name, unsigned sq_entries,
                unsigned cq_entries);

/* The next SQE, zeroed, with its opcode, descriptor, buffer (addr, len)
 * and user_data set; the caller fills in any other field. The kernel
 * gets it at the next ring_enter() (at once if the queue was full). */
struct io_uring_sqe *ring_sqe(struct ring *r, int op, int fd, const void *addr,
                              unsigned len, uint64_t user_data);

/* Submit what was filled; with `wait`, sleep until a completion is posted.
 * Returns 0 (also when a signal interrupted the wait), -1 on error. */
int ring_enter(struct ring *r, int wait);

/* Copy the next completion into *cqe and give its slot back: 1, or 0 when
 * there is none. */
int ring_next(struct ring *r, struct io_uring_cqe *cqe);

/* Unmap and close: the kernel cancels every operation still pending. */
void ring_close(struct ring *r);

/* ring_setup() for a ring made while serving (part 4 opens one per
 * connection), where a failure must not end the process: 0, or -1 with
 * errno set (EMFILE: out of descriptors; ENOMEM; EPERM: io_uring
 * disabled), with nothing left open or mapped. Prints nothing. */
int ring_try_setup(struct ring *r, unsigned sq_entries, unsigned cq_entries);

#endif
