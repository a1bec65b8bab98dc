/*
 * part3-multiplexing/procs.h - server_epoll.c's --procs P: the same
 * one-thread loop in P processes on one port, to hold more clients than
 * one process's descriptor limit allows.
 *
 * Each process has its own listening socket, bound to the same port with
 * SO_REUSEPORT (the kernel spreads the connections over them), and its own
 * descriptor limit, raised to the hard one. The parent serves nobody: it
 * forks them, forwards the stop, reaps them and prints one stop line for
 * all, with each process's accept count; it also watches the kernel's
 * socket memory, which the processes' RSS leaves out.
 */
#ifndef PROCS_H
#define PROCS_H

#include "common.h"
#include "step.h"

/* One process's loop: serve on `listen_fd` (non-blocking) until a stop,
 * close it, return the counts. */
typedef struct conn_counts (*serve_fn)(const struct server_opts *o, int listen_fd);

/* Each process may hold as many descriptors as the hard limit lets it.
 * Call it before the options are parsed: --max-conns defaults to it. */
void raise_descriptor_limit(void);

/* The parent of P processes, each running `serve` on its own listening
 * socket of o's port; returns when they have all stopped, with main's
 * exit status (1 if a child died on its own, or had to be killed because
 * it did not stop within 3 s). */
int run_processes(const struct server_opts *o, int procs, serve_fn serve);

#endif
