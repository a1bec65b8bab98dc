/* work.c - what a request costs the server: --work-us, --block-us,
 * --slow-from (common.h, section 6).
 *
 * An echo server does nothing with a request but send it back, so every
 * model looks fast. Real servers compute something (CPU) or wait for
 * something (a disk read, a database): these two flags add either to each
 * request, so the lessons can show what each model does with them.
 *
 * A "request" is one read of the client's bytes: echo has no framing, so
 * the server cannot know where the client's request ends. A client that
 * sends 1 KiB in one write is usually read in one piece over loopback,
 * but nothing guarantees it.
 */
#include "common.h"

#include <errno.h>
#include <time.h>

/* Set once by server_opts_parse(), before any thread starts; read-only
 * afterwards, so the worker threads may read it without a lock. */
static struct { int work_us, block_us; long slow_from; } cost;

void request_work_set(const struct server_opts *o)
{
    cost.work_us = o->work_us;
    cost.block_us = o->block_us;
    cost.slow_from = o->slow_from;
}

int request_work_wanted(size_t nbytes)
{
    return (cost.work_us > 0 || cost.block_us > 0) && (long long)nbytes >= cost.slow_from;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return now_ns();       /* no CPU clock: spin on the wall clock */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spin until this thread has used us microseconds of CPU: on a busy
 * machine that takes longer than us of wall time, as real work would. */
static void spin(int us)
{
    uint64_t until = thread_cpu_ns() + (uint64_t)us * 1000u;
    while (thread_cpu_ns() < until)
        ;
}

/* Sleep us microseconds: the thread is blocked, as in a read() from a
 * disk. A stop request cuts it short (the server is leaving anyway). */
static void block(int us)
{
    struct timespec left = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
    while (nanosleep(&left, &left) != 0 && errno == EINTR && !stop_requested)
        ;
}

void do_request_work(size_t nbytes)
{
    if (!request_work_wanted(nbytes))
        return;
    if (cost.work_us > 0)
        spin(cost.work_us);
    if (cost.block_us > 0)
        block(cost.block_us);
}
