/* deadline.c - an absolute time for the pthread calls that want one. */
#include "common.h"

#include <time.h>

/*
 * pthread_cond_timedwait() and pthread_timedjoin_np() take an absolute
 * CLOCK_REALTIME time, not a duration. Everything else here measures with
 * CLOCK_MONOTONIC (now_sec()), which never jumps; these waits are short
 * and bounded again by their callers, so a wall-clock step costs at most
 * one early or late wake-up.
 */
struct timespec deadline_after_ms(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}
