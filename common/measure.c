/* measure.c - clock, latency histogram, payload pattern, client summary. */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---- clock ------------------------------------------------------------ */

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);   /* never jumps with the wall clock */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double now_sec(void)
{
    return (double)now_ns() / 1e9;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- histogram -------------------------------------------------------- */
/*
 * Values below 2^SUB are counted exactly. Above, each power of two
 * [2^e, 2^(e+1)) is split into 2^SUB equal sub-buckets of width
 * 2^(e-SUB). A bucket's midpoint is then within 2^(e-SUB-1) / 2^e
 * = 1/256 (0.39%) of any value in it.
 */
#define SUB HIST_SUB_BITS

static unsigned bucket_index(uint64_t v)
{
    if (v < (1u << SUB))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - SUB;
    return ((shift + 1) << SUB) + (unsigned)((v >> shift) - (1u << SUB));
}

static uint64_t bucket_mid(unsigned i)
{
    if (i < (1u << SUB))
        return i;
    unsigned shift = (i >> SUB) - 1;
    uint64_t low = ((uint64_t)(i & ((1u << SUB) - 1)) + (1u << SUB)) << shift;
    return low + (((uint64_t)1 << shift) >> 1);
}

void hist_init(struct histogram *h)
{
    memset(h, 0, sizeof *h);
    h->min_ns = UINT64_MAX;
}

void hist_add(struct histogram *h, uint64_t ns)
{
    h->bucket[bucket_index(ns)]++;
    h->count++;
    h->sum_ns += ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void hist_merge(struct histogram *into, const struct histogram *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->bucket[i] += from->bucket[i];
    into->count += from->count;
    into->sum_ns += from->sum_ns;
    if (from->min_ns < into->min_ns)
        into->min_ns = from->min_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

uint64_t hist_quantile(const struct histogram *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min_ns;
    if (q >= 1)
        return h->max_ns;
    /* The smallest value with at least ceil(q * count) values at or below it. */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t v = bucket_mid(i);
            return v < h->min_ns ? h->min_ns : v > h->max_ns ? h->max_ns : v;
        }
    }
    return h->max_ns;
}

/* ---- payload ---------------------------------------------------------- */

/* splitmix64: a cheap, well-mixed function of the 8-byte word's index. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t pattern_word(uint32_t conn, uint32_t req, uint64_t word)
{
    uint64_t seed = ((uint64_t)conn << 32 | req) * 0xd6e8feb86659fd93ull;
    return mix64(seed ^ word);
}

static uint8_t pattern_byte(uint32_t conn, uint32_t req, uint64_t pos)
{
    return (uint8_t)(pattern_word(conn, req, pos >> 3) >> ((pos & 7) * 8));
}

void payload_fill(uint8_t *buf, size_t n, uint32_t conn, uint32_t req,
                  uint64_t offset)
{
    size_t i = 0;
    while (i < n && ((offset + i) & 7))
        buf[i] = pattern_byte(conn, req, offset + i), i++;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = pattern_word(conn, req, (offset + i) >> 3);
        for (int k = 0; k < 8; k++)
            buf[i + k] = (uint8_t)(w >> (8 * k));
    }
    for (; i < n; i++)
        buf[i] = pattern_byte(conn, req, offset + i);
}

long payload_check(const uint8_t *buf, size_t n, uint32_t conn, uint32_t req,
                   uint64_t offset)
{
    uint8_t expect[4096];
    for (size_t done = 0; done < n; done += sizeof expect) {
        size_t len = n - done < sizeof expect ? n - done : sizeof expect;
        payload_fill(expect, len, conn, req, offset + done);
        if (memcmp(expect, buf + done, len) != 0)
            for (size_t i = 0; i < len; i++)
                if (expect[i] != buf[done + i])
                    return (long)(done + i);
    }
    return -1;
}

/* ---- sizes -------------------------------------------------------------- */

long long parse_size(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    int shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -1;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end != '\0' || v > (LLONG_MAX >> shift))
        return -1;
    return v << shift;
}

long long option_number(const char *s, long long min, long long max,
                        void (*usage)(FILE *))
{
    long long v = parse_size(s);
    if (v < min || v > max) {
        fprintf(stderr, "client: bad number '%s' (from %lld to %lld)\n", s, min, max);
        usage(stderr);
        exit(2);
    }
    return v;
}

/* ---- client summary ----------------------------------------------------- */

void run_summary_init(struct run_summary *s, const char *tool)
{
    memset(s, 0, sizeof *s);
    s->tool = tool;
    s->first_avg_ms = s->first_max_ms = -1;
    s->sess_avg_s = s->sess_max_s = -1;
    s->cpu_s = -1;
}

double process_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double per_sec(double x, double wall)
{
    return wall > 0 ? x / wall : 0;
}

static double lat_us(const struct run_summary *s, double q)
{
    return (double)hist_quantile(s->latency, q) / 1000.0;
}

void run_summary_print(const struct run_summary *s, FILE *f)
{
    fprintf(f, "%s: %ld connections (%ld failed), %ld requests, %ld errors, "
               "%ld timeouts in %.3f s\n",
            s->tool, s->connections, s->conn_failed, s->requests, s->errors,
            s->timeouts, s->wall_s);
    fprintf(f, "  %.1f requests/s, sent %.2f MB/s, received %.2f MB/s\n",
            per_sec((double)s->requests, s->wall_s),
            per_sec((double)s->bytes_sent / 1e6, s->wall_s),
            per_sec((double)s->bytes_recv / 1e6, s->wall_s));
    if (s->latency && s->latency->count > 0)
        fprintf(f, "  latency us: avg %.1f  p50 %.1f  p90 %.1f  p99 %.1f  "
                   "p99.9 %.1f  max %.1f\n",
                (double)s->latency->sum_ns / (double)s->latency->count / 1000.0,
                lat_us(s, 0.50), lat_us(s, 0.90), lat_us(s, 0.99),
                lat_us(s, 0.999), lat_us(s, 1.0));
    if (s->first_avg_ms >= 0)
        fprintf(f, "  wait for first reply ms: avg %.1f  max %.1f\n",
                s->first_avg_ms, s->first_max_ms);
    if (s->sess_avg_s >= 0)
        fprintf(f, "  session s: avg %.3f  max %.3f\n", s->sess_avg_s, s->sess_max_s);
}

/* An unmeasured value is an empty field, never a made-up zero. */
static void csv_num(FILE *f, double v, int measured)
{
    if (measured)
        fprintf(f, ",%.6g", v);
    else
        fputc(',', f);
}

void run_summary_csv(const struct run_summary *s, FILE *f)
{
    fprintf(f, "connections,conn_failed,requests,errors,timeouts,bytes_sent,"
               "bytes_recv,wall_s,req_per_s,mb_s_sent,mb_s_recv,lat_avg_us,"
               "lat_p50_us,lat_p90_us,lat_p99_us,lat_p999_us,lat_max_us,"
               "first_avg_ms,first_max_ms,sess_avg_s,sess_max_s,cpu_s\n");
    fprintf(f, "%ld,%ld,%ld,%ld,%ld,%llu,%llu,%.6g", s->connections,
            s->conn_failed, s->requests, s->errors, s->timeouts,
            (unsigned long long)s->bytes_sent, (unsigned long long)s->bytes_recv,
            s->wall_s);
    csv_num(f, per_sec((double)s->requests, s->wall_s), 1);
    csv_num(f, per_sec((double)s->bytes_sent / 1e6, s->wall_s), 1);
    csv_num(f, per_sec((double)s->bytes_recv / 1e6, s->wall_s), 1);
    int lat = s->latency && s->latency->count > 0;
    csv_num(f, lat ? (double)s->latency->sum_ns / (double)s->latency->count / 1000.0 : 0, lat);
    const double qs[] = {0.50, 0.90, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        csv_num(f, lat ? lat_us(s, qs[i]) : 0, lat);
    csv_num(f, s->first_avg_ms, s->first_avg_ms >= 0);
    csv_num(f, s->first_max_ms, s->first_max_ms >= 0);
    csv_num(f, s->sess_avg_s, s->sess_avg_s >= 0);
    csv_num(f, s->sess_max_s, s->sess_max_s >= 0);
    csv_num(f, s->cpu_s, s->cpu_s >= 0);
    fputc('\n', f);
    fflush(f);
}
