/*
 * common.h - the plumbing every server and client of this course shares.
 *
 * Nothing here is a lesson: the lessons are the server files themselves.
 * This is what every one of them needs and none of them is about: parsing
 * the common flags, making the listening socket, writing all of a buffer,
 * accepting without spinning when descriptors run out, logging, a clock,
 * a latency histogram, and the payload pattern clients check.
 *
 * Rule for the whole repository: a start-up failure may exit (die());
 * after start-up, a failure is handled where it happens and concerns one
 * client only.
 */
#ifndef COMMON_H
#define COMMON_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

/* ---- 1. Server options: the flags every server accepts --------------- */

/* Model-specific flags a server opts into (the others are refused). */
enum {
    OPT_WORKERS   = 1 << 0,   /* -w N                          */
    OPT_EDGE      = 1 << 1,   /* -e  edge-triggered            */
    OPT_REUSEPORT = 1 << 2,   /* --reuseport                   */
    OPT_MODE      = 1 << 3,   /* --mode M (part 4)             */
    OPT_STACK     = 1 << 4,   /* --stack-kib K (thread stacks) */
    OPT_QUEUE     = 1 << 5,   /* --queue N (pool queue length) */
    OPT_GROW      = 1 << 6,   /* --max-workers, --idle-retire  */
};

struct server_opts {
    const char *name;        /* printed in the banner and the logs      */
    const char *addr;        /* -a, default 127.0.0.1 (loopback only)   */
    int port;                /* -p, default 9000; 0 picks a free port   */
    int verbose;             /* -v: one log line per closed connection  */
    int max_conns;           /* --max-conns, default below the fd limit */
    int idle_timeout;        /* --idle-timeout seconds, 0 = never       */
    int backlog;             /* --backlog, listen() queue length        */
    int workers;             /* -w                                       */
    int edge;                /* -e                                       */
    int reuseport;           /* --reuseport                              */
    const char *mode;        /* --mode                                   */
    int stack_kib;           /* --stack-kib, 0 = the system default      */
    int queue_len;           /* --queue                                  */
    int max_workers;         /* --max-workers, >= -w; = -w: fixed pool   */
    int idle_retire;         /* --idle-retire seconds (growing pools)    */
    int work_us;             /* --work-us: CPU spent per request         */
    int block_us;            /* --block-us: a blocking wait per request  */
    long slow_from;          /* --slow-from: only requests this big      */
    unsigned accepts;        /* which OPT_* flags this server takes     */
    const char *help_extra;  /* extra usage text, or NULL               */
};

#define DEFAULT_PORT          9000
#define DEFAULT_IDLE_TIMEOUT  60
#define DEFAULT_BACKLOG       1024
#define DEFAULT_MAX_WORKERS   256   /* as Apache's MaxRequestWorkers */
#define DEFAULT_IDLE_RETIRE   5

/* Fill defaults, parse argv; -h prints usage and exits 0, a bad flag
 * prints usage and exits 2. */
void server_opts_parse(struct server_opts *o, int argc, char **argv);

/* The default connection cap: the descriptor limit minus a reserve. */
int default_max_conns(void);

/* ---- 2. Start-up -------------------------------------------------------- */

/* Print "fatal: what: strerror(errno)" to stderr and exit 1. Start-up only. */
void die(const char *what);

/* socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen; dies on error. */
int listen_socket(const struct server_opts *o, int reuseport);

/* The one start line: "<name>: listening on ADDR:PORT pid PID", flushed. */
void print_banner(const char *name, int listen_fd);

/* Ignore SIGPIPE; SIGINT/SIGTERM set stop_requested (no SA_RESTART, so
 * blocking calls return EINTR and the loops notice); SIGUSR1 only
 * interrupts. An atomic, not a volatile sig_atomic_t: the handler runs in
 * one thread and other threads read the flag, which only an atomic makes
 * well defined (C11 7.14.1.1 allows lock-free atomics in handlers). */
extern atomic_int stop_requested;
void install_signal_handlers(void);
/* SIG_BLOCK or SIG_UNBLOCK SIGINT and SIGTERM in the calling thread. A
 * new thread inherits its creator's mask: blocked around pthread_create,
 * they reach only the main thread, whose wait they must interrupt. */
void block_stop_signals(int how);

/* ---- 3. I/O that survives EINTR and short counts ---------------------- */

/* Write all n bytes to a blocking fd (any kind: programs ignore SIGPIPE).
 * Returns 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t n);
/* Read exactly n bytes. Returns n, fewer at EOF, or -1 with errno set. */
ssize_t read_full(int fd, void *buf, size_t n);
/* send() with MSG_NOSIGNAL, retried on EINTR. */
ssize_t send_nosignal(int fd, const void *buf, size_t n, int flags);

int set_nonblocking(int fd);
/* TCP_NODELAY: send small replies at once (see net.c for the 40 ms stall).
 * accept_client() and connect_to() set it on every connection. */
void set_nodelay(int fd);
/* poll() one fd for `events` until ready, timeout or stop_requested.
 * Returns 1 ready, 0 timed out, -1 error or stop requested. */
int wait_fd(int fd, short events, int timeout_ms);

/* ---- 4. Accepting ---------------------------------------------------- */

/* accept4() one connection, non-blocking if `nonblock`. Returns the fd,
 * or -1 with errno EAGAIN when there is nothing to accept right now
 * (also after an aborted connection, a signal, or a client turned away
 * because the process is out of descriptors: see net.c). Other
 * errors return -1 with errno set. */
int accept_client(int listen_fd, struct sockaddr_storage *peer, int nonblock);

/* accept_client() for a blocking server's loop: returns the fd, or -1 when
 * there is nothing to serve; after a real error (ENOBUFS, ENOMEM) it counts
 * it in *errors (if not NULL) and backs off 10 ms, so the loop cannot spin. */
int accept_or_back_off(int listen_fd, struct sockaddr_storage *peer,
                       unsigned long *errors);

/* Turn a client away at the connection cap: accept it and close it at
 * once, so it sees EOF instead of hanging in the listen queue. */
void refuse_client(int listen_fd);

/* ---- 5. Per-connection accounting and the log line ------------------- */

struct conn_stats {
    struct sockaddr_storage peer;
    uint64_t bytes_in, bytes_out, reads;
    double start;            /* now_sec() when accepted */
};

void conn_stats_start(struct conn_stats *c, const struct sockaddr_storage *peer);
/* With -v: "name: closed peer=A:P fd=N bytes=B reads=R ms=T (why)". */
void log_conn(const struct server_opts *o, int fd, const struct conn_stats *c,
              const char *why);
/* An occasional warning (stderr), at most one per second per call site
 * (`last`, a static of the caller, 0 at first). Safe from several threads
 * at once. The newline is added here: a format that ends in one loses it. */
void log_ratelimited(double *last, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Format "1.2.3.4:5678". */
const char *peer_string(const struct sockaddr_storage *ss, char *buf, size_t n);

/* ---- 6. The blocking echo session (parts 1 and 2) -------------------- */

/* Serve one client on a blocking socket until EOF, error, timeout or stop.
 * Partial writes are finished. The connection is closed when it moves no
 * byte for --idle-timeout seconds, or moves fewer than ECHO_MIN_RATE bytes
 * a second for that long (a trickling client holds a thread as surely as
 * a silent one). Returns why it ended ("eof", "reset", "idle", "slow",
 * "stalled", "shutdown", "error"). */
#define ECHO_MIN_RATE 16
const char *echo_session(int fd, const struct server_opts *o,
                         struct conn_stats *c);

/* ---- 6b. Work per request (work.c) ------------------------------------ */

/* What each request costs, on every echo server: --work-us N spins N µs
 * of CPU, --block-us N blocks N µs in nanosleep() (a disk read, a
 * database call), both only for requests of at least --slow-from bytes.
 * A request is one read of the client's bytes (echo has no framing).
 * server_opts_parse() records the flags (request_work_set()); a server
 * calls do_request_work() between reading a request and echoing it.
 * Safe from any thread. Default: no work at all. */
void request_work_set(const struct server_opts *o);
int  request_work_wanted(size_t nbytes);   /* would a read this big cost? */
void do_request_work(size_t nbytes);

/* ---- 7. Clock ------------------------------------------------------------ */

double   now_sec(void);      /* CLOCK_MONOTONIC, seconds */
uint64_t now_ns(void);       /* CLOCK_MONOTONIC, nanoseconds */
void     sleep_ms(int ms);
/* now + ms on CLOCK_REALTIME: the absolute time pthread_cond_timedwait()
 * and pthread_timedjoin_np() want (deadline.c). */
struct timespec deadline_after_ms(int ms);

/* ---- 8. Latency histogram: log-linear, relative error < 0.4% --------- */

#define HIST_SUB_BITS 7                       /* 128 sub-buckets per octave */
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

struct histogram {
    uint64_t count, sum_ns, min_ns, max_ns;
    uint64_t bucket[HIST_BUCKETS];
};

void     hist_init(struct histogram *h);
void     hist_add(struct histogram *h, uint64_t ns);
void     hist_merge(struct histogram *into, const struct histogram *from);
/* The value at quantile q (0..1): exact at q=0 and q=1 (min, max), else the
 * midpoint of the bucket holding it. 0 when empty. */
uint64_t hist_quantile(const struct histogram *h, double q);

/* ---- 9. Payload pattern ------------------------------------------------ */

/* Byte i of request `req` on connection `conn`: a pseudo-random pattern,
 * so lost, reordered or crossed bytes are caught. */
void payload_fill(uint8_t *buf, size_t n, uint32_t conn, uint32_t req,
                  uint64_t offset);
/* Index of the first byte that differs from the pattern, or -1. */
long payload_check(const uint8_t *buf, size_t n, uint32_t conn, uint32_t req,
                   uint64_t offset);

/* ---- 10. Client side: connect, sizes, the summary and --csv ----------- */

/* Blocking connect to addr:port, optionally from source address `src`
 * (NULL: any). Returns the fd or -1 with errno set. */
int connect_to(const char *addr, int port, const char *src);

/* Parse "64", "16K", "8M", "1G" (powers of 1024). -1 on error. */
long long parse_size(const char *s);

/* A client's numeric option: parse_size(s) within [min, max], or say why,
 * print usage() to stderr and exit 2 (for command-line parsing only). */
long long option_number(const char *s, long long min, long long max,
                        void (*usage)(FILE *));

/* One request of the echo protocol: send `size` bytes of the pattern for
 * (conn, req) and read the same bytes back, checking each. It reads while
 * it writes, so a request larger than the socket buffers cannot deadlock.
 * Works on blocking and non-blocking sockets; every wait is bounded. */
enum xchg_result { XCHG_OK, XCHG_TIMEOUT, XCHG_CLOSED, XCHG_ERROR, XCHG_MISMATCH };

struct exchange {
    uint32_t conn, req;
    size_t size;
    int half_close;            /* shutdown(SHUT_WR) after the last byte   */
    int timeout_ms;            /* without progress; <= 0: 30 s            */
    /* results */
    uint64_t first_reply_ns;   /* now_ns() when the first echoed byte came */
    size_t sent, received;
    long bad_offset;           /* XCHG_MISMATCH: first wrong byte          */
    int err;                   /* XCHG_ERROR: errno                        */
};

enum xchg_result echo_exchange(int fd, struct exchange *x);
/* "timeout after 1000 of 4096 bytes", "mismatch at byte 17", ... */
const char *exchange_error(const struct exchange *x, enum xchg_result r,
                           char *buf, size_t n);

struct run_summary {
    const char *tool;
    long connections, conn_failed, requests, errors, timeouts;
    uint64_t bytes_sent, bytes_recv;
    double wall_s;
    struct histogram *latency;    /* per request; NULL if not measured  */
    double first_avg_ms, first_max_ms;   /* < 0: not measured           */
    double sess_avg_s, sess_max_s;       /* < 0: not measured           */
    double cpu_s;                        /* < 0: not measured           */
};

void run_summary_init(struct run_summary *s, const char *tool);
/* The human summary (to `f`), and the two --csv lines (header, row). */
void run_summary_print(const struct run_summary *s, FILE *f);
void run_summary_csv(const struct run_summary *s, FILE *f);
/* This process's user+system CPU seconds so far. */
double process_cpu_seconds(void);

#endif
