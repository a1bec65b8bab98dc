/*
 * part2-process-thread/scoreboard.c - server_prefork.c's scoreboard in
 * shared memory. See scoreboard.h.
 */
#include "scoreboard.h"

#include <stddef.h>
#include <sys/mman.h>

struct scoreboard *scoreboard_map(int slots)
{
    /* MAP_ANONYMOUS memory starts zeroed: alive = 0, every slot SLOT_FREE. */
    struct scoreboard *b = mmap(NULL, sizeof *b + (size_t)slots * sizeof b->slot[0],
                                PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED)
        return NULL;
    b->slots = slots;
    return b;
}

int scoreboard_free_slot(struct scoreboard *b)
{
    for (int i = 0; i < b->slots; i++)
        if (atomic_load(&b->slot[i].state) == SLOT_FREE)
            return i;
    return -1;
}

void scoreboard_count(struct scoreboard *b, int *live, int *busy)
{
    *live = *busy = 0;
    for (int i = 0; i < b->slots; i++) {
        int state = atomic_load(&b->slot[i].state);
        *live += state != SLOT_FREE;
        *busy += state == SLOT_BUSY;
    }
}

unsigned long scoreboard_served(struct scoreboard *b)
{
    unsigned long served = 0;
    for (int i = 0; i < b->slots; i++)
        served += atomic_load(&b->slot[i].served);
    return served;
}
