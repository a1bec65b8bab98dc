/*
 * uring_modes.c - server_uring's modes (uring_modes.h): their flags, and
 * whether this kernel has what each needs.
 */
#include "uring_modes.h"
#include "common.h"
#include "uring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

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
