/*
 * part2-process-thread/scoreboard.h - server_prefork.c's scoreboard, as
 * Apache's prefork parent keeps one: a slot per child, where the child
 * marks itself idle or busy and counts its clients, and the parent reads
 * them all to decide when to fork more.
 *
 * It lives in memory that fork() SHARES instead of copying (MAP_SHARED),
 * mapped before the first fork. Its fields are C11 atomics, because two
 * processes use them at the same time and share no lock.
 */
#ifndef SCOREBOARD_H
#define SCOREBOARD_H

#include <stdatomic.h>

enum { SLOT_FREE, SLOT_IDLE, SLOT_BUSY, SLOT_RETIRED };

struct scoreboard {
    atomic_int alive;              /* children forked and not retired */
    int slots;                     /* the most children there may be */
    struct slot {
        atomic_int state;          /* SLOT_* */
        atomic_ulong served;       /* clients served from this slot */
    } slot[];
};

/* A board of `slots` free slots in shared memory (mmap MAP_SHARED |
 * MAP_ANONYMOUS), or NULL with errno set. */
struct scoreboard *scoreboard_map(int slots);

/* The first free slot, or -1 if every slot holds a child. */
int scoreboard_free_slot(struct scoreboard *b);

/* How many slots hold a child (`live`), and how many of those are busy. */
void scoreboard_count(struct scoreboard *b, int *live, int *busy);

/* The clients served, summed over every slot. */
unsigned long scoreboard_served(struct scoreboard *b);

#endif
