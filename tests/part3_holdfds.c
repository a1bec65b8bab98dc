/*
 * part3_holdfds LOWEST COMMAND [ARGS...] - run COMMAND with descriptors 3 up
 * to LOWEST-1 already open (on /dev/null, inherited: no close-on-exec), so
 * the first descriptor COMMAND opens itself is LOWEST.
 *
 * tests/part3-multiplexing.sh uses it to push server_select's client
 * descriptors past FD_SETSIZE without opening a thousand connections.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: part3_holdfds LOWEST COMMAND [ARGS...]\n");
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: part3_holdfds LOWEST COMMAND [ARGS...]\n");
        return 2;
    }
    int lowest = atoi(argv[1]);
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);     /* inherited on purpose */
        if (fd < 0) {
            perror("part3_holdfds: open");
            return 1;
        }
        if (fd >= lowest - 1)
            break;
    }
    execvp(argv[2], argv + 2);
    perror("part3_holdfds: exec");
    return 127;
}
