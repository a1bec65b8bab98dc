/*
 * uring_probe - can this process use io_uring? (tools/doctor.sh asks)
 *
 *   tools/bin/uring_probe      prints "io_uring: available" and exits 0,
 *                              or says why not and exits 1
 *
 * It makes one io_uring_setup() call through syscall(), as server_uring
 * does, and closes the ring. The sysctl kernel.io_uring_disabled, a
 * seccomp filter (containers often block io_uring) or a kernel built
 * without it all show up here as the error the server would get.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425 /* the same number on every architecture */
#endif

/* struct io_uring_params is 120 bytes; zeroed, it asks for defaults. */
union uring_params {
    unsigned char bytes[120];
    unsigned long long align;
};

static const char *why(int err)
{
    switch (err) {
    case ENOSYS:
        return "the kernel has no io_uring (built without it, or older than 5.1)";
    case EPERM:
        return "not permitted (kernel.io_uring_disabled, or a seccomp filter as in many containers)";
    case ENOMEM:
        return "no memory for the ring (RLIMIT_MEMLOCK on kernels before 5.12)";
    default:
        return strerror(err);
    }
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        puts("usage: uring_probe   (exit 0 if io_uring_setup() works here)");
        return 0;
    }
    union uring_params params;
    memset(&params, 0, sizeof params);
    long fd = syscall(__NR_io_uring_setup, 4u, &params);
    if (fd < 0) {
        int err = errno;
        printf("io_uring: unavailable: %s (errno %d)\n", why(err), err);
        return 1;
    }
    if (close((int)fd) != 0)
        perror("uring_probe: close");
    puts("io_uring: available");
    return 0;
}
