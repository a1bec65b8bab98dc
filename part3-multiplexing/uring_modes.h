/*
 * uring_modes.h - the flags that turn on server_uring's modern io_uring
 * features one at a time (docs/part3.md, "io_uring as it is used today").
 */
#ifndef URING_MODES_H
#define URING_MODES_H

struct uring_mode {
    int multishot;             /* multishot ACCEPT and RECV, provided buffers */
    int defer_taskrun;         /* SINGLE_ISSUER | DEFER_TASKRUN */
    int fixed_files;           /* direct descriptors */
    unsigned bufs, buf_size;   /* the buffer ring of --multishot */
};

#define URING_MODE_HELP \
    "  --multishot        one ACCEPT and one RECV per connection that keep completing,\n" \
    "                     receiving into a ring of buffers shared by all connections\n" \
    "  --bufs N           buffers in that ring (a power of 2; default 1024)\n" \
    "  --buf-size B       bytes per buffer (default 4096)\n" \
    "  --defer-taskrun    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN\n" \
    "  --fixed-files      direct descriptors: accept into the ring's own file table\n"

/* Take the mode flags out of argv (the rest is for server_opts_parse());
 * a bad value prints why and exits 2. */
void uring_mode_parse(struct uring_mode *m, const char *name, int *argc, char **argv);

/* Does this kernel have what the mode needs? If not, say which feature and
 * which kernel version, and exit 1. The IORING_SETUP_* flags to use. */
unsigned uring_mode_check(const struct uring_mode *m, const char *name);

/* A mode's set-up call failed (errno set): say so, as "io_uring is not
 * available here", and exit 1. */
void uring_mode_refused(const char *name, const char *what);

#endif
