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
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
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
    ring_setup_flags(r, name, sq_entries, cq_entries, 0);
}

void ring_setup_flags(struct ring *r, const char *name, unsigned sq_entries,
                      unsigned cq_entries, unsigned flags)
{
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | flags,
                                .cq_entries = cq_entries};
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

int ring_register_files(struct ring *r, unsigned n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n)
        n = (unsigned)rl.rlim_cur;   /* the kernel refuses a bigger table */
    struct io_uring_rsrc_register reg = {.nr = n, .flags = IORING_RSRC_REGISTER_SPARSE};
    return syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_FILES2, &reg,
                   sizeof reg) < 0 ? -1 : 0;
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

/* ---- server_uring's modes ------------------------------------------------------ */

/* "--flag N" or "--flag=N": the value, with argv[*i] moved past it; NULL
 * when argv[*i] is not that flag. */
static const char *flag_value(const char *flag, int argc, char **argv, int *i)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    return *i + 1 < argc ? argv[++*i] : "";
}

static unsigned mode_number(const char *name, const char *flag, const char *v,
                            long long min, long long max)
{
    long long n = parse_size(v);
    if (n < min || n > max || (strcmp(flag, "--bufs") == 0 && (n & (n - 1)))) {
        fprintf(stderr, "%s: bad value for %s: %s (see -h)\n", name, flag, v);
        exit(2);
    }
    return (unsigned)n;
}

void uring_mode_parse(struct uring_mode *m, const char *name, int *argc, char **argv)
{
    const char *v;
    int kept = 1;
    *m = (struct uring_mode){.bufs = 1024, .buf_size = 4096};
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--multishot") == 0)
            m->multishot = 1;
        else if (strcmp(argv[i], "--defer-taskrun") == 0)
            m->defer_taskrun = 1;
        else if (strcmp(argv[i], "--fixed-files") == 0)
            m->fixed_files = 1;
        else if ((v = flag_value("--bufs", *argc, argv, &i)))
            m->bufs = mode_number(name, "--bufs", v, 1, 32768);
        else if ((v = flag_value("--buf-size", *argc, argv, &i)))
            m->buf_size = mode_number(name, "--buf-size", v, 64, 1 << 20);
        else
            argv[kept++] = argv[i];
    }
    argv[kept] = NULL;
    *argc = kept;
}

/* The features, each with the kernel that brought it. There is no cheap
 * probe for most of them (an unknown flag is often ignored, not refused),
 * so the release number decides. */
static int kernel_at_least(unsigned major, unsigned minor)
{
    struct utsname u;
    unsigned a = 0, b = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &a, &b) != 2)
        return 1;              /* unknown: try, and let the system calls say */
    return a > major || (a == major && b >= minor);
}

static void need(const char *name, int have, const char *what)
{
    struct utsname u;
    if (have)
        return;
    fprintf(stderr, "%s: io_uring is not available here: %s; this kernel is %s\n", name,
            what, uname(&u) == 0 ? u.release : "unknown");
    exit(1);
}

unsigned uring_mode_check(const struct uring_mode *m, const char *name)
{
    if (m->multishot)
        need(name, kernel_at_least(6, 0),
             "--multishot needs multishot receive (kernel 6.0) and buffer rings (5.19)");
    if (m->defer_taskrun)
        need(name, kernel_at_least(6, 1),
             "--defer-taskrun needs IORING_SETUP_DEFER_TASKRUN (kernel 6.1)");
    if (m->fixed_files)
        need(name, kernel_at_least(5, 19),
             "--fixed-files needs accept into a direct descriptor (kernel 5.19)");
    /* DEFER_TASKRUN: completions are posted only when the one thread that
     * submits (SINGLE_ISSUER) asks for them (IORING_ENTER_GETEVENTS), not
     * by interrupting it whenever the kernel likes. */
    return m->defer_taskrun ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : 0;
}

void uring_mode_refused(const char *name, const char *what)
{
    fprintf(stderr, "%s: io_uring is not available here: %s: %s\n", name, what,
            strerror(errno));
    exit(1);
}
