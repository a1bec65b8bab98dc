/* zerocopy.c - MSG_ZEROCOPY's completions, per buffer (see zerocopy.h). */
#include "zerocopy.h"
#include "common.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static void collect_error_queue(void *arg);

void zc_open(struct zc_pool *z, int fd, const char *name)
{
    memset(z, 0, sizeof *z);
    z->fd = fd;
    /* poll() reports POLLERR while the error queue holds notifications,
     * so a wait for no event at all wakes for completions. */
    z->src = (struct zc_source){.label = "zero-copy", .collect = collect_error_queue,
                                .arg = z, .wait_fd = fd, .events = 0};
    int one = 1;
    z->on = setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) == 0;
    if (!z->on) {
        static double last;
        z->n.refused++;
        log_ratelimited(&last, "%s: SO_ZEROCOPY refused (%s): this connection "
                        "sends with ordinary copies", name, strerror(errno));
    }
}

void zc_attach(struct zc_pool *z, int fd, const struct zc_source *src)
{
    memset(z, 0, sizeof *z);
    z->fd = fd;
    z->on = 1;
    z->src = *src;
}

void zc_reset(struct zc_pool *z, int nslots)
{
    memset(z->slot, 0, sizeof z->slot);
    z->nslots = nslots;
}

static int in_flight(const struct zc_pool *z, int s)
{
    return z->slot[s].done != z->slot[s].ids;
}

int zc_take_free(struct zc_pool *z)
{
    for (int s = 0; s < z->nslots; s++)
        if (!in_flight(z, s)) {
            z->slot[s].ids = z->slot[s].done = 0;
            return s;
        }
    return -1;
}

void zc_sent(struct zc_pool *z, int slot)
{
    if (z->slot[slot].ids++ == 0)
        z->slot[slot].first_id = z->next_id;
    z->next_id++;
    z->n.sends++;
}

/* Credit the completed id range [lo, hi] to the buffers it covers. Ids
 * are 32-bit and wrap; differences are taken in that arithmetic. */
void zc_complete(struct zc_pool *z, uint32_t lo, uint32_t hi, int copied)
{
    uint32_t n = hi - lo + 1;
    z->n.completions += n;
    z->n.copied += copied ? n : 0;
    if (lo != z->expect_id)
        z->n.gaps++;                  /* out of order, or an id never seen */
    z->expect_id = hi + 1;
    for (int s = 0; s < z->nslots; s++) {
        if (!in_flight(z, s))
            continue;
        int64_t a = (int32_t)(lo - z->slot[s].first_id);
        int64_t b = (int32_t)(hi - z->slot[s].first_id);
        if (a < 0)
            a = 0;
        if (b > (int64_t)z->slot[s].ids - 1)
            b = (int64_t)z->slot[s].ids - 1;
        if (b >= a)
            z->slot[s].done += (uint32_t)(b - a + 1);
    }
}

void zc_collect(struct zc_pool *z)
{
    z->src.collect(z->src.arg);
}

static void collect_error_queue(void *arg)
{
    struct zc_pool *z = arg;
    for (;;) {
        char control[128];
        struct msghdr mh = {.msg_control = control, .msg_controllen = sizeof control};
        if (recvmsg(z->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;                   /* EAGAIN: nothing (more) to read */
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            int ip = (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
                     (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR);
            if (!ip)
                continue;
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(cm), sizeof ee);
            if (ee.ee_origin == SO_EE_ORIGIN_ZEROCOPY && ee.ee_errno == 0)
                zc_complete(z, ee.ee_info, ee.ee_data, ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED);
        }
    }
}

static int pending(const struct zc_pool *z)
{
    int n = 0;
    for (int s = 0; s < z->nslots; s++)
        n += in_flight(z, s);
    return n;
}

const char *zc_wait_below(struct zc_pool *z, int limit, int timeout_ms)
{
    double deadline = now_sec() + timeout_ms / 1000.0;
    zc_collect(z);
    while (pending(z) >= limit) {
        if (timeout_ms >= 0 && now_sec() > deadline)
            return "not reading (idle timeout)";
        int r = wait_fd(z->src.wait_fd, z->src.events, timeout_ms);
        if (r < 0)
            return "stopped";
        uint64_t before = z->n.completions;
        zc_collect(z);
        if (r > 0 && z->n.completions == before)
            sleep_ms(5);    /* POLLHUP of a closed peer, a ring's other completions: no spin */
    }
    return NULL;
}

void zc_finish(struct zc_pool *z)
{
    /* A peer that does not read leaves its data, and so the completions,
     * queued for good: when the server is stopping, wait only briefly, so
     * that SIGTERM still ends it within two seconds. */
    for (int i = 0; i < (stop_requested ? 4 : 20) && pending(z) > 0; i++) {
        zc_collect(z);
        if (pending(z) > 0)
            sleep_ms(50);
    }
    z->n.unfinished = z->n.sends - z->n.completions;
}

void zc_log(const struct zc_pool *z, const char *name)
{
    const struct zc_counters *n = &z->n;
    fprintf(stderr, "%s: %s fd=%d sends=%llu completions=%llu copied=%llu "
            "enobufs=%llu gaps=%llu unfinished=%llu\n", name, z->src.label,
            z->fd, (unsigned long long)n->sends, (unsigned long long)n->completions,
            (unsigned long long)n->copied, (unsigned long long)n->enobufs,
            (unsigned long long)n->gaps, (unsigned long long)n->unfinished);
}

void zc_add(struct zc_counters *into, const struct zc_counters *from)
{
    into->sends += from->sends;
    into->completions += from->completions;
    into->copied += from->copied;
    into->enobufs += from->enobufs;
    into->gaps += from->gaps;
    into->unfinished += from->unfinished;
    into->refused += from->refused;
}

void zc_print_totals(const struct zc_counters *t)
{
    double pct = t->completions ? 100.0 * (double)t->copied / (double)t->completions : 0;
    printf(" zc_sends=%llu zc_completions=%llu zc_copied=%llu zc_copied_pct=%.1f "
           "zc_enobufs=%llu zc_gaps=%llu zc_unfinished=%llu zc_refused=%llu",
           (unsigned long long)t->sends, (unsigned long long)t->completions,
           (unsigned long long)t->copied, pct, (unsigned long long)t->enobufs,
           (unsigned long long)t->gaps, (unsigned long long)t->unfinished,
           (unsigned long long)t->refused);
}
