/*
 * uring.c - set up an io_uring and move entries through its two rings
 * (uring.h), with the raw system calls.
 *
 * Both rings are memory shared with the kernel. Each has a head and a
 * tail: the producer writes entries and then moves the tail, the consumer
 * reads entries and then moves the head. The two sides run at once, so
 * the order of those stores matters: an index is published with a
 * RELEASE store (everything written before it is visible first) and read
 * with an ACQUIRE load (nothing after it is read before it).
 */
#include "uring.h"
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- set-up ----------------------------------------------------------------- */

static void unavailable(const char *name, int err)
{
    char why[64] = "";
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    int v;
    if (f && fscanf(f, "%d", &v) == 1 && v != 0)
        snprintf(why, sizeof why, " (kernel.io_uring_disabled=%d)", v);
    if (f)
        fclose(f);
    fprintf(stderr, "%s: io_uring is not available here: io_uring_setup: %s%s\n",
            name, strerror(err), why);
    exit(1);
}

static void *map(struct ring *r, int i, size_t len, off_t what)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                   r->fd, what);
    if (p == MAP_FAILED)
        die("mmap of the io_uring rings");
    r->maps[i] = p;
    r->map_len[i] = len;
    return p;
}

void ring_setup(struct ring *r, const char *name, unsigned sq_entries,
                unsigned cq_entries)
{
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = cq_entries};
    memset(r, 0, sizeof *r);
    r->fd = (int)syscall(__NR_io_uring_setup, sq_entries, &p);
    if (r->fd < 0)
        unavailable(name, errno);
    if (!(p.features & IORING_FEAT_NODROP))
        fprintf(stderr, "%s: warning: old kernel, completions may be dropped "
                        "if the queue overflows\n", name);
    /* Three regions of the ring's file: the SQ ring (indices into the SQE
     * array), the CQ ring (with the CQEs inline), and the SQE array. The
     * kernel says where each field lies (p.sq_off, p.cq_off). */
    char *sq = map(r, 0, p.sq_off.array + p.sq_entries * sizeof(unsigned),
                   IORING_OFF_SQ_RING);
    char *cq = map(r, 1, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
                   IORING_OFF_CQ_RING);
    r->sqes = map(r, 2, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
    r->sq_head = (unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->sq_entries = p.sq_entries;
    r->sqe_tail = *r->sq_tail;
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

void ring_close(struct ring *r)
{
    for (int i = 0; i < 3; i++)
        if (r->maps[i])
            munmap(r->maps[i], r->map_len[i]);
    close(r->fd);
}

/* ---- submissions -------------------------------------------------------------- */

int ring_enter(struct ring *r, int wait)
{
    /* Publish the filled SQEs: the release store orders their contents
     * before the new tail, so the kernel never reads a half-written one. */
    __atomic_store_n(r->sq_tail, r->sqe_tail, __ATOMIC_RELEASE);
    unsigned to_submit = r->sqe_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
    unsigned flags = wait ? IORING_ENTER_GETEVENTS : 0;
    if (syscall(__NR_io_uring_enter, r->fd, to_submit, wait ? 1 : 0, flags, NULL, 0) < 0)
        /* EINTR: a signal (the caller checks for a stop); EAGAIN, EBUSY:
         * the kernel is short of memory or of CQ room; try again later. */
        return errno == EINTR || errno == EAGAIN || errno == EBUSY ? 0 : -1;
    return 0;
}

/* The SQ is full only when one batch of completions asks for more than
 * SQ entries; submitting frees them at once. Bounded: if the kernel still
 * takes none after a second of trying, the ring itself is broken. */
static void wait_for_room(struct ring *r)
{
    for (int tries = 0;
         r->sqe_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) >= r->sq_entries;
         tries++) {
        if (tries > 0)
            sleep_ms(1);
        if (tries == 1000 || ring_enter(r, 0) != 0)
            die("io_uring_enter: the submission queue does not drain");
    }
}

struct io_uring_sqe *ring_sqe(struct ring *r, int op, int fd, const void *addr,
                              unsigned len, uint64_t user_data)
{
    wait_for_room(r);
    unsigned idx = r->sqe_tail & *r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = (uint8_t)op;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)addr;
    sqe->len = len;
    sqe->user_data = user_data;
    r->sq_array[idx] = idx;
    r->sqe_tail++;
    return sqe;
}

/* ---- completions ------------------------------------------------------------- */

int ring_next(struct ring *r, struct io_uring_cqe *cqe)
{
    /* Only we move the head; the acquire load of the tail makes the CQEs
     * before it visible, and the release store of the head hands the slot
     * back only after we copied it. */
    unsigned head = *r->cq_head;
    if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
        return 0;
    *cqe = r->cqes[head & *r->cq_mask];
    __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
    return 1;
}

/* ---- a ring made while serving -------------------------------------------------- */

int ring_try_setup(struct ring *r, unsigned sq_entries, unsigned cq_entries)
{
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = cq_entries};
    memset(r, 0, sizeof *r);
    r->fd = (int)syscall(__NR_io_uring_setup, sq_entries, &p);
    if (r->fd < 0)
        return -1;
    const size_t len[3] = {p.sq_off.array + p.sq_entries * sizeof(unsigned),
                           p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
                           p.sq_entries * sizeof(struct io_uring_sqe)};
    const off_t what[3] = {IORING_OFF_SQ_RING, IORING_OFF_CQ_RING, IORING_OFF_SQES};
    for (int i = 0; i < 3; i++) {
        void *m = mmap(NULL, len[i], PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                       r->fd, what[i]);
        if (m == MAP_FAILED) {
            int err = errno;
            ring_close(r);              /* unmaps what was mapped */
            errno = err;
            return -1;
        }
        r->maps[i] = m;
        r->map_len[i] = len[i];
    }
    char *sq = r->maps[0], *cq = r->maps[1];
    r->sqes = r->maps[2];
    r->sq_head = (unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->sq_entries = p.sq_entries;
    r->sqe_tail = *r->sq_tail;
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}
