/*
 * unit_common - checks of common/ on known inputs: the histogram's
 * percentiles and error bound, the payload pattern, size parsing.
 * Prints one PASS/FAIL line per check (the runner counts them).
 */
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *name, const char *detail)
{
    if (ok)
        printf("PASS unit: %s\n", name);
    else {
        printf("FAIL unit: %s - %s\n", name, detail);
        failures++;
    }
}

static double rel_err(uint64_t got, uint64_t want)
{
    return fabs((double)got - (double)want) / (double)want;
}

static void test_histogram_exact_small(void)
{
    static struct histogram h;
    hist_init(&h);
    for (uint64_t v = 1; v <= 100; v++)          /* below 128: exact buckets */
        hist_add(&h, v);
    check(hist_quantile(&h, 0.5) == 50 && hist_quantile(&h, 0.99) == 99 &&
          hist_quantile(&h, 0.0) == 1 && hist_quantile(&h, 1.0) == 100 &&
          h.count == 100 && h.sum_ns == 5050,
          "histogram: exact percentiles of 1..100", "wrong quantile");
}

static void test_histogram_error_bound(void)
{
    static struct histogram h;
    hist_init(&h);
    /* 1..1,000,000 microseconds in ns: the true p-th value is p*1e6 us. */
    for (uint64_t us = 1; us <= 1000000; us++)
        hist_add(&h, us * 1000);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    double worst = 0;
    for (int i = 0; i < 4; i++) {
        double e = rel_err(hist_quantile(&h, qs[i]), (uint64_t)(qs[i] * 1e6) * 1000);
        if (e > worst)
            worst = e;
    }
    char d[64];
    snprintf(d, sizeof d, "worst relative error %.4f%%", worst * 100);
    check(worst <= 0.004, "histogram: percentiles within 0.4% over 6 decades", d);
    check(hist_quantile(&h, 1.0) == 1000000000ull && hist_quantile(&h, 0) == 1000,
          "histogram: min and max exact", "min/max");
}

static void test_histogram_every_bucket(void)
{
    /* Every value maps to a bucket whose midpoint is within 1/256. */
    double worst = 0;
    static struct histogram h;
    for (uint64_t v = 1; v < (1ull << 40); v = v * 3 / 2 + 1) {
        hist_init(&h);
        hist_add(&h, v);
        hist_add(&h, v);
        hist_add(&h, (1ull << 41));            /* so the max does not clamp */
        double e = rel_err(hist_quantile(&h, 0.5), v);
        if (e > worst)
            worst = e;
    }
    char d[64];
    snprintf(d, sizeof d, "worst %.5f", worst);
    check(worst <= 1.0 / 256 + 1e-12, "histogram: bucket midpoints within 1/256", d);
}

static void test_histogram_merge(void)
{
    static struct histogram a, b;
    hist_init(&a);
    hist_init(&b);
    for (uint64_t v = 1; v <= 50; v++)
        hist_add(&a, v);
    for (uint64_t v = 51; v <= 100; v++)
        hist_add(&b, v);
    hist_merge(&a, &b);
    check(a.count == 100 && hist_quantile(&a, 0.5) == 50 && a.max_ns == 100 &&
          a.min_ns == 1, "histogram: merge", "merged quantiles wrong");
    hist_init(&b);
    check(hist_quantile(&b, 0.5) == 0 && b.count == 0, "histogram: empty", "not 0");
}

static void test_payload(void)
{
    static uint8_t whole[100000], part[100000];
    payload_fill(whole, sizeof whole, 3, 4, 0);
    /* Filling in odd-sized pieces at offsets gives the same bytes. */
    size_t off = 0, step = 1;
    while (off < sizeof part) {
        size_t n = off + step > sizeof part ? sizeof part - off : step;
        payload_fill(part + off, n, 3, 4, off);
        off += n;
        step = step * 7 % 4093 + 1;
    }
    check(memcmp(whole, part, sizeof whole) == 0, "payload: same bytes at any split",
          "fill differs by offset");
    check(payload_check(whole, sizeof whole, 3, 4, 0) == -1,
          "payload: check accepts the pattern", "rejected");
    whole[54321] ^= 1;
    check(payload_check(whole, sizeof whole, 3, 4, 0) == 54321,
          "payload: check finds a flipped bit", "wrong offset");
    whole[54321] ^= 1;
    check(payload_check(whole, sizeof whole, 3, 5, 0) == 0 ||
          payload_check(whole, sizeof whole, 3, 5, 0) < 8,
          "payload: another request's bytes are caught", "not caught");
    int zeros = 0, ffs = 0;
    for (size_t i = 0; i < sizeof whole; i++) {
        zeros += whole[i] == 0;
        ffs += whole[i] == 0xff;
    }
    check(zeros > 100 && ffs > 100, "payload: contains NUL and 0xFF bytes", "missing");
}

static void test_parse_size(void)
{
    check(parse_size("64") == 64 && parse_size("16K") == 16384 &&
          parse_size("8M") == 8 << 20 && parse_size("1G") == 1 << 30 &&
          parse_size("4KiB") == 4096 && parse_size("x") == -1 &&
          parse_size("5Q") == -1 && parse_size("-1") == -1,
          "parse_size: units and errors", "wrong value");
}

int main(void)
{
    test_histogram_exact_small();
    test_histogram_error_bound();
    test_histogram_every_bucket();
    test_histogram_merge();
    test_payload();
    test_parse_size();
    return failures ? 1 : 0;
}
