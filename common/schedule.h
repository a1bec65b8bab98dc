/*
 * schedule.h - open-loop load: when each request is due, how late it went
 * out, and a per-interval time series. Part 3's client uses it with
 * --rate, --arrival and --series (docs/methodology.md, "Closed loop and
 * open loop").
 *
 * A closed-loop client sends a connection's next request when the previous
 * reply is back, so a server that stalls is simply asked less while it
 * stalls. An open-loop client follows a schedule fixed in advance: request
 * k of a connection is due at a time that does not depend on the server.
 * A request whose connection is still busy waits for it (it is late, never
 * skipped), and its latency is counted from the time it was due.
 */
#ifndef SCHEDULE_H
#define SCHEDULE_H

#include "common.h"

#include <sys/epoll.h>

/* ---- the schedule of one connection ---------------------------------- */

enum arrival { ARRIVAL_FIXED, ARRIVAL_POISSON };

/* "fixed" or "poisson" -> 0 and *a set; anything else -> -1. */
int arrival_parse(const char *s, enum arrival *a);
const char *arrival_name(enum arrival a);

/* A connection's share of a total rate: with C connections each gets rate/C
 * requests/s. Fixed arrival staggers the connections so that all together
 * send at evenly spaced instants; Poisson arrival draws independent
 * exponential gaps (the sum of C Poisson streams is a Poisson stream). */
struct schedule {
    uint64_t start_ns;     /* when the schedule begins                  */
    double gap_ns;         /* mean gap between this connection's sends  */
    double offset_ns;      /* fixed: this connection's stagger           */
    double poisson_ns;     /* poisson: due time of the next, from start */
    uint64_t k;            /* requests taken so far                      */
    uint64_t rng;
    enum arrival arrival;
};

void schedule_init(struct schedule *s, double total_rate, long conns, uint32_t id,
                   enum arrival a, uint64_t start_ns);
/* The due time of this connection's next request (and move on to the one
 * after). Due times only grow: requests go out in schedule order. */
uint64_t schedule_take(struct schedule *s);

/* ---- keeping it: timers and a precise wait ----------------------------- */

/* A min-heap of (due time, item): the connections waiting for a time (their
 * next scheduled send, or the end of a think). Each item is in it at most
 * once, so a capacity of one entry per connection is enough. */
struct timer_entry {
    uint64_t due_ns;
    void *item;
};
struct timers {
    struct timer_entry *e;
    int n, cap;
};

int   timers_init(struct timers *t, int cap);       /* 0, or -1 (ENOMEM) */
void  timers_free(struct timers *t);
int   timers_push(struct timers *t, uint64_t due_ns, void *item);  /* -1 if full */
/* The earliest entry if it is due at `now` (its due time in *due), or NULL. */
void *timers_pop_due(struct timers *t, uint64_t now, uint64_t *due);
/* The earliest due time, or UINT64_MAX when empty. */
uint64_t timers_next(const struct timers *t);

/* epoll_wait with a timeout in nanoseconds (epoll_pwait2, Linux 5.11): a
 * schedule of one request every 50 us cannot be kept with epoll_wait's
 * milliseconds. Falls back to epoll_wait, rounding up, where the kernel
 * lacks it (sends may then go out up to 1 ms late, and are counted late). */
int wait_events(int ep, struct epoll_event *ev, int max, uint64_t timeout_ns);
/* Ask the kernel to wake this thread on time: by default a timer may fire
 * up to 50 us late so that wake-ups can be batched (timer slack). */
void precise_timers(void);

/* ---- what an open-loop run reports ------------------------------------- */

/* A request is late when it is sent more than LATE_NS after it was due:
 * its connection was still busy with earlier requests (the server was
 * slow), or the client's own loop woke up late (the client was slow). */
#define LATE_NS 1000000ULL

struct openloop {
    struct histogram raw;     /* latency from the actual send (uncorrected) */
    long sent, late;
    long timed_sends;         /* sent when their timer fired: the connection
                                 was idle, so any lateness is the client's */
    long woke_late;           /* ... of which more than LATE_NS late */
    uint64_t start_ns;        /* the schedule's start                      */
    uint64_t last_done_ns;    /* the last reply                            */
};

void openloop_init(struct openloop *o, uint64_t start_ns);
void openloop_merge(struct openloop *into, const struct openloop *from);
/* A request goes out `now`; it was due at `due`. */
void openloop_sent(struct openloop *o, uint64_t due, uint64_t now, int from_timer);
/* Its reply is complete: record the uncorrected latency. */
void openloop_done(struct openloop *o, uint64_t raw_ns, uint64_t now);

struct openloop_report {
    const struct openloop *o;  /* NULL: closed loop */
    double rate;               /* offered, requests/s */
    enum arrival arrival;
    long requests;             /* completed */
    double cpu_s, wall_s;      /* the client's CPU and wall time ...        */
    int threads;               /* ... and its threads (all processes)       */
};

/* Requests completed per second of the schedule's span (start to last reply). */
double openloop_achieved(const struct openloop_report *r);
/* The open-loop lines of the human summary (corrected is the summary's own
 * latency histogram), and a warning when the client could not keep its own
 * schedule. */
void openloop_print(const struct openloop_report *r, const struct histogram *corrected,
                    FILE *f);
/* run_summary_csv() with raw_p50_us, raw_p99_us, raw_p999_us, offered_rps,
 * achieved_rps and late appended: empty in closed loop. */
void openloop_csv(const struct run_summary *s, const struct openloop_report *r, FILE *f);

/* ---- a time series: per interval, throughput and latency --------------- */

/* Replies counted by the interval they completed in; a small log-linear
 * histogram per interval (16 sub-buckets per octave: within 3%). */
#define SERIES_SUB   4
#define SERIES_SLOTS ((64 - SERIES_SUB + 1) << SERIES_SUB)
#define SERIES_MAX   10000                /* intervals kept at most */

struct series_slot {
    uint64_t count, max_ns;
    uint32_t bucket[SERIES_SLOTS];
};
struct series {
    uint64_t t0_ns, step_ns;
    size_t n;                  /* slots in use */
    struct series_slot *slot;
    long dropped;              /* replies past SERIES_MAX intervals */
};

void series_init(struct series *s, uint64_t t0_ns, uint64_t step_ns);
void series_add(struct series *s, uint64_t done_ns, uint64_t lat_ns);
void series_merge(struct series *into, const struct series *from);
void series_free(struct series *s);
/* t_s,requests,req_per_s,p50_us,p99_us,max_us: one line per interval.
 * Returns 0, or -1 with errno set. */
int  series_write(const struct series *s, const char *path);

#endif
