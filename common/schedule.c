/* schedule.c - open-loop schedules, timers, lateness, time series (schedule.h). */
#include "schedule.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- the schedule ------------------------------------------------------- */

int arrival_parse(const char *s, enum arrival *a)
{
    if (strcmp(s, "fixed") == 0)
        *a = ARRIVAL_FIXED;
    else if (strcmp(s, "poisson") == 0)
        *a = ARRIVAL_POISSON;
    else
        return -1;
    return 0;
}

const char *arrival_name(enum arrival a)
{
    return a == ARRIVAL_POISSON ? "poisson" : "fixed";
}

static uint64_t splitmix(uint64_t *state)
{
    uint64_t x = (*state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* ln(x) for x in (0, 1], without libm: x = m * 2^e with m in [1, 2), and
 * ln(m) = 2 atanh(z), z = (m - 1) / (m + 1) <= 1/3, a fast series. */
static double ln_unit(double x)
{
    int e = 0;
    while (x < 1.0) {
        x *= 2.0;
        e--;
    }
    double z = (x - 1.0) / (x + 1.0), z2 = z * z, term = z, sum = 0;
    for (int k = 1; k < 40; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return 2.0 * sum + e * 0.69314718055994530942;
}

/* An exponential gap of mean `mean`: -mean * ln(U), U uniform in (0, 1]. */
static double exp_gap(uint64_t *rng, double mean)
{
    double u = (double)((splitmix(rng) >> 11) + 1) / 9007199254740992.0;
    return -mean * ln_unit(u);
}

void schedule_init(struct schedule *s, double total_rate, long conns, uint32_t id,
                   enum arrival a, uint64_t start_ns)
{
    memset(s, 0, sizeof *s);
    s->start_ns = start_ns;
    s->arrival = a;
    s->gap_ns = 1e9 * (double)conns / total_rate;
    s->offset_ns = 1e9 * (double)id / total_rate;
    s->rng = 0x5eed0000ull + id;
    if (a == ARRIVAL_POISSON)
        s->poisson_ns = exp_gap(&s->rng, s->gap_ns);
}

uint64_t schedule_take(struct schedule *s)
{
    double at;
    if (s->arrival == ARRIVAL_POISSON) {
        at = s->poisson_ns;
        s->poisson_ns += exp_gap(&s->rng, s->gap_ns);
    } else {
        /* From k, not by adding gaps: no rounding error builds up. */
        at = s->offset_ns + (double)s->k * s->gap_ns;
    }
    s->k++;
    return s->start_ns + (uint64_t)at;
}

/* ---- timers: a binary min-heap on the due time -------------------------- */

int timers_init(struct timers *t, int cap)
{
    t->n = 0;
    t->cap = cap;
    t->e = calloc((size_t)(cap > 0 ? cap : 1), sizeof *t->e);
    return t->e ? 0 : -1;
}

void timers_free(struct timers *t)
{
    free(t->e);
    t->e = NULL;
    t->n = t->cap = 0;
}

static void swap_entries(struct timer_entry *a, struct timer_entry *b)
{
    struct timer_entry x = *a;
    *a = *b;
    *b = x;
}

int timers_push(struct timers *t, uint64_t due_ns, void *item)
{
    if (t->n == t->cap)
        return -1;
    int i = t->n++;
    t->e[i] = (struct timer_entry){due_ns, item};
    while (i > 0 && t->e[(i - 1) / 2].due_ns > t->e[i].due_ns) {
        swap_entries(&t->e[(i - 1) / 2], &t->e[i]);
        i = (i - 1) / 2;
    }
    return 0;
}

uint64_t timers_next(const struct timers *t)
{
    return t->n > 0 ? t->e[0].due_ns : UINT64_MAX;
}

void *timers_pop_due(struct timers *t, uint64_t now, uint64_t *due)
{
    if (t->n == 0 || t->e[0].due_ns > now)
        return NULL;
    void *item = t->e[0].item;
    *due = t->e[0].due_ns;
    t->e[0] = t->e[--t->n];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && t->e[l].due_ns < t->e[m].due_ns)
            m = l;
        if (r < t->n && t->e[r].due_ns < t->e[m].due_ns)
            m = r;
        if (m == i)
            break;
        swap_entries(&t->e[i], &t->e[m]);
        i = m;
    }
    return item;
}

void precise_timers(void)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);   /* best effort */
}

int wait_events(int ep, struct epoll_event *ev, int max, uint64_t timeout_ns)
{
#ifdef SYS_epoll_pwait2
    static atomic_int missing;
    if (!atomic_load(&missing)) {
        struct { long long sec, nsec; } ts = {(long long)(timeout_ns / 1000000000ULL),
                                             (long long)(timeout_ns % 1000000000ULL)};
        long n = syscall(SYS_epoll_pwait2, ep, ev, max, &ts, NULL, (size_t)0);
        if (n >= 0 || errno != ENOSYS)
            return (int)n;
        atomic_store(&missing, 1);     /* kernel older than 5.11 */
    }
#endif
    uint64_t ms = (timeout_ns + 999999) / 1000000;
    return epoll_wait(ep, ev, max, ms > INT_MAX ? INT_MAX : (int)ms);
}

/* ---- lateness and the report -------------------------------------------- */

void openloop_init(struct openloop *o, uint64_t start_ns)
{
    memset(o, 0, sizeof *o);
    hist_init(&o->raw);
    o->start_ns = start_ns;
}

void openloop_merge(struct openloop *into, const struct openloop *from)
{
    hist_merge(&into->raw, &from->raw);
    into->sent += from->sent;
    into->late += from->late;
    into->timed_sends += from->timed_sends;
    into->woke_late += from->woke_late;
    if (from->last_done_ns > into->last_done_ns)
        into->last_done_ns = from->last_done_ns;
    if (!into->start_ns || (from->start_ns && from->start_ns < into->start_ns))
        into->start_ns = from->start_ns;
}

void openloop_sent(struct openloop *o, uint64_t due, uint64_t now, int from_timer)
{
    int late = now > due && now - due > LATE_NS;
    o->sent++;
    o->late += late;
    o->timed_sends += from_timer;
    o->woke_late += from_timer && late;
}

void openloop_done(struct openloop *o, uint64_t raw_ns, uint64_t now)
{
    hist_add(&o->raw, raw_ns);
    if (now > o->last_done_ns)
        o->last_done_ns = now;
}

double openloop_achieved(const struct openloop_report *r)
{
    const struct openloop *o = r->o;
    if (!o || o->last_done_ns <= o->start_ns)
        return 0;
    return (double)r->requests / ((double)(o->last_done_ns - o->start_ns) / 1e9);
}

static void latency_line(FILE *f, const char *label, const struct histogram *h)
{
    if (h->count == 0) {
        fprintf(f, "  %s: none\n", label);
        return;
    }
    fprintf(f, "  %s: avg %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
            label, (double)h->sum_ns / (double)h->count / 1000.0,
            (double)hist_quantile(h, 0.50) / 1000.0, (double)hist_quantile(h, 0.90) / 1000.0,
            (double)hist_quantile(h, 0.99) / 1000.0, (double)hist_quantile(h, 0.999) / 1000.0,
            (double)hist_quantile(h, 1.0) / 1000.0);
}

/* The client is the bottleneck when its loop wakes up late for more than
 * 1% of the sends it timed, or when it used nearly all the CPU its threads
 * could get. */
#define WOKE_LATE_SHARE 0.01
#define CPU_SHARE       0.90

void openloop_print(const struct openloop_report *r, const struct histogram *corrected,
                    FILE *f)
{
    const struct openloop *o = r->o;
    double pct = o->sent ? 100.0 * (double)o->late / (double)o->sent : 0;
    fprintf(f, "  open loop (%s arrivals): offered %.1f requests/s, achieved %.1f requests/s\n",
            arrival_name(r->arrival), r->rate, openloop_achieved(r));
    fprintf(f, "  sent late (more than %llu ms after its scheduled time): %ld of %ld (%.2f%%)\n",
            LATE_NS / 1000000ULL, o->late, o->sent, pct);
    latency_line(f, "latency us, corrected (from the schedule)", corrected);
    latency_line(f, "latency us, uncorrected (from the send)", &o->raw);

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int usable = cores > 0 && cores < r->threads ? (int)cores : r->threads;
    double cpu_share = r->wall_s > 0 && usable > 0 ? r->cpu_s / (r->wall_s * usable) : 0;
    double woke_share = o->timed_sends ? (double)o->woke_late / (double)o->timed_sends : 0;
    int lagging = woke_share > WOKE_LATE_SHARE && o->woke_late >= 10;
    if (lagging || cpu_share > CPU_SHARE)
        fprintf(f, "client: WARNING: this client could not keep its own schedule (%ld of %ld "
                   "timed sends went out more than 1 ms late; CPU %.0f%% of what its %d "
                   "thread(s) could use): the latencies above measure the client, not the "
                   "server. Lower --rate, add threads (-t), or use a quieter machine.\n",
                o->woke_late, o->timed_sends, 100.0 * cpu_share, usable);
    else
        fprintf(f, "  client kept its schedule: %ld of %ld timed sends woke more than 1 ms "
                   "late, CPU %.0f%% of what its %d thread(s) could use\n",
                o->woke_late, o->timed_sends, 100.0 * cpu_share, usable);
}

void openloop_csv(const struct run_summary *s, const struct openloop_report *r, FILE *f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) {
        fprintf(stderr, "client: open_memstream: %s\n", strerror(errno));
        return;
    }
    run_summary_csv(s, m);
    fclose(m);
    char *row = text ? strchr(text, '\n') : NULL;
    if (!row) {
        free(text);
        return;
    }
    *row++ = '\0';
    char *end = strchr(row, '\n');
    if (end)
        *end = '\0';
    fprintf(f, "%s,raw_p50_us,raw_p99_us,raw_p999_us,offered_rps,achieved_rps,late\n%s",
            text, row);
    const struct openloop *o = r ? r->o : NULL;
    if (o && o->raw.count > 0)
        fprintf(f, ",%.6g,%.6g,%.6g", (double)hist_quantile(&o->raw, 0.50) / 1000.0,
                (double)hist_quantile(&o->raw, 0.99) / 1000.0,
                (double)hist_quantile(&o->raw, 0.999) / 1000.0);
    else
        fputs(",,,", f);
    if (o)
        fprintf(f, ",%.6g,%.6g,%ld\n", r->rate, openloop_achieved(r), o->late);
    else
        fputs(",,,\n", f);
    fflush(f);
    free(text);
}

/* ---- the time series --------------------------------------------------- */

static unsigned slot_index(uint64_t v)
{
    if (v < (1u << SERIES_SUB))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v), shift = e - SERIES_SUB;
    return ((shift + 1) << SERIES_SUB) + (unsigned)((v >> shift) - (1u << SERIES_SUB));
}

static uint64_t slot_mid(unsigned i)
{
    if (i < (1u << SERIES_SUB))
        return i;
    unsigned shift = (i >> SERIES_SUB) - 1;
    uint64_t low = ((uint64_t)(i & ((1u << SERIES_SUB) - 1)) + (1u << SERIES_SUB)) << shift;
    return low + (((uint64_t)1 << shift) >> 1);
}

void series_init(struct series *s, uint64_t t0_ns, uint64_t step_ns)
{
    memset(s, 0, sizeof *s);
    s->t0_ns = t0_ns;
    s->step_ns = step_ns;
}

/* Make slots 0..n-1 exist (zeroed). -1 when out of memory or past the cap. */
static int series_grow(struct series *s, size_t n)
{
    if (n <= s->n)
        return 0;
    if (n > SERIES_MAX)
        return -1;
    struct series_slot *p = realloc(s->slot, n * sizeof *p);
    if (!p)
        return -1;
    memset(p + s->n, 0, (n - s->n) * sizeof *p);
    s->slot = p;
    s->n = n;
    return 0;
}

void series_add(struct series *s, uint64_t done_ns, uint64_t lat_ns)
{
    size_t i = done_ns > s->t0_ns ? (size_t)((done_ns - s->t0_ns) / s->step_ns) : 0;
    if (series_grow(s, i + 1) != 0) {
        s->dropped++;
        return;
    }
    struct series_slot *sl = &s->slot[i];
    sl->count++;
    sl->bucket[slot_index(lat_ns)]++;
    if (lat_ns > sl->max_ns)
        sl->max_ns = lat_ns;
}

void series_merge(struct series *into, const struct series *from)
{
    into->dropped += from->dropped;
    if (series_grow(into, from->n) != 0) {
        for (size_t i = 0; i < from->n; i++)
            into->dropped += (long)from->slot[i].count;
        return;
    }
    for (size_t i = 0; i < from->n; i++) {
        struct series_slot *a = &into->slot[i];
        const struct series_slot *b = &from->slot[i];
        a->count += b->count;
        if (b->max_ns > a->max_ns)
            a->max_ns = b->max_ns;
        for (unsigned k = 0; k < SERIES_SLOTS; k++)
            a->bucket[k] += b->bucket[k];
    }
}

void series_free(struct series *s)
{
    free(s->slot);
    s->slot = NULL;
    s->n = 0;
}

static double slot_quantile_us(const struct series_slot *sl, double q)
{
    uint64_t rank = (uint64_t)(q * (double)sl->count), seen = 0;
    if ((double)rank < q * (double)sl->count)
        rank++;
    if (rank == 0)
        rank = 1;
    for (unsigned k = 0; k < SERIES_SLOTS; k++) {
        seen += sl->bucket[k];
        if (seen >= rank) {
            uint64_t v = slot_mid(k);
            return (double)(v > sl->max_ns ? sl->max_ns : v) / 1000.0;
        }
    }
    return (double)sl->max_ns / 1000.0;
}

int series_write(const struct series *s, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    double step_s = (double)s->step_ns / 1e9;
    fprintf(f, "t_s,requests,req_per_s,p50_us,p99_us,max_us\n");
    for (size_t i = 0; i < s->n; i++) {
        const struct series_slot *sl = &s->slot[i];
        fprintf(f, "%.3f,%llu,%.6g", (double)i * step_s, (unsigned long long)sl->count,
                (double)sl->count / step_s);
        if (sl->count)
            fprintf(f, ",%.6g,%.6g,%.6g\n", slot_quantile_us(sl, 0.50),
                    slot_quantile_us(sl, 0.99), (double)sl->max_ns / 1000.0);
        else
            fputs(",,,\n", f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return -1;
    return 0;
}
