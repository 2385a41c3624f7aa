/*
 * sisagent profile HZ CMD [ARGS...]
 *
 * Runs CMD with a sampling perf event attached (the cpu-clock software event, which works under
 * emulation too, HZ samples a second of CPU time, inherited by its children) and records the
 * kernel call chain of every sample: each frame as the start of its kernel function (from
 * /proc/kallsyms, read before the start; the raw address where it has none), user frames as one
 * mark. Identical stacks are counted once, so what travels is small. On stderr,
 * lines starting "profile " ("profile:MARK " with SISAGENT_PROFILE_MARK=MARK in the environment,
 * which the command does not inherit, so its own output cannot pass for the report):
 *   profile unsupported ERRNO              perf_event_open refused (no CONFIG_PERF_EVENTS, say)
 *   profile comm PID NAME                  the name a process had when sampled
 *   profile stack COUNT PID K,F,...,U      leaf first; K starts the kernel frames, U stands for user
 *                                          ones; a frame F is @N (hex), the Nth sym line below, or
 *                                          the raw address where kallsyms has no function for it
 *   profile sym ADDR NAME [MODULE]         each kallsyms function a stack names, in the order of N
 *   profile ktext ADDR                     the running kernel's _stext (KASLR moves it), when kallsyms tells
 *   profile total SAMPLES LOST STACKS DROPPED
 *   profile deadline SECONDS               the command outlived SISAGENT_PROFILE_SECONDS and was
 *                                          killed (its process group); what it ran is still reported
 *   profile exit CODE | profile signal SIG
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "sisagent.h"

#define DEPTH 48            /* frames kept per sample */
#define SLOTS 8192          /* distinct stacks kept (a power of two) */
#define COMMS 256
#define RING_PAGES 64       /* data pages of each CPU's ring buffer (a power of two) */
#define MAX_CPUS 64

struct stack { uint64_t count; uint32_t pid, depth; uint64_t ips[DEPTH]; };
static struct stack *stacks;
static unsigned nstacks;
static uint64_t samples, lost, dropped;
static struct { uint32_t pid; char name[16]; } comms[COMMS];
static char tag[80] = "profile";   /* "profile:MARK" when SISAGENT_PROFILE_MARK is set: the command cannot forge it */
static unsigned ncomms;

static uint64_t hash_of(uint32_t pid, const uint64_t *ips, uint32_t depth)
{
    uint64_t h = 1469598103934665603ull ^ pid;
    for (uint32_t i = 0; i < depth; i++)
        h = (h ^ ips[i]) * 1099511628211ull;
    return h;
}

static uint64_t function_of(uint64_t ip);

/* Count one sample's chain: kernel frames as their functions, user frames as the U mark alone. */
static void count_stack(uint32_t pid, const uint64_t *chain, uint64_t nr)
{
    uint64_t ips[DEPTH];
    uint32_t depth = 0;
    int kernel = 0, user = 0;
    for (uint64_t i = 0; i < nr; i++) {
        if (chain[i] == (uint64_t)PERF_CONTEXT_USER) user = 1;
        if (depth >= DEPTH - 1) continue;         /* the last slot stays for the user mark */
        if (chain[i] >= (uint64_t)PERF_CONTEXT_MAX) {
            kernel = chain[i] == (uint64_t)PERF_CONTEXT_KERNEL;
            if (kernel) ips[depth++] = chain[i];
        } else if (kernel) {   /* a caller's frame holds its return address: the call is just before */
            int leaf = depth && ips[depth - 1] == (uint64_t)PERF_CONTEXT_KERNEL;
            ips[depth++] = function_of(leaf ? chain[i] : chain[i] - 1);
        }
    }
    if (user) ips[depth++] = (uint64_t)PERF_CONTEXT_USER;
    samples++;
    for (uint64_t h = hash_of(pid, ips, depth), probe = 0; probe < SLOTS; probe++) {
        struct stack *s = &stacks[(h + probe) & (SLOTS - 1)];
        if (s->count == 0) {
            if (nstacks >= SLOTS * 3 / 4) break;
            s->pid = pid;
            s->depth = depth;
            memcpy(s->ips, ips, depth * sizeof *ips);
            nstacks++;
        } else if (s->pid != pid || s->depth != depth || memcmp(s->ips, ips, depth * sizeof *ips)) {
            continue;
        }
        s->count++;
        return;
    }
    dropped++;     /* the table is full: counted in the total, never silently */
}

static void note_comm(uint32_t pid, const char *given)
{
    char name[16];      /* a report line stays one line whatever a process calls itself */
    size_t n = strnlen(given, sizeof name - 1);
    for (size_t i = 0; i < n; i++)
        name[i] = (unsigned char)given[i] < 0x20 || given[i] == 0x7f ? '?' : given[i];
    name[n] = 0;
    for (unsigned i = 0; i < ncomms; i++)
        if (comms[i].pid == pid) {
            memcpy(comms[i].name, name, strnlen(name, sizeof comms[i].name - 1) + 1);
            return;
        }
    if (ncomms < COMMS) {
        comms[ncomms].pid = pid;
        memcpy(comms[ncomms++].name, name, strnlen(name, sizeof comms[0].name - 1) + 1);
    }
}

/* Take every record the kernel has written since the last call. */
static void drain(struct perf_event_mmap_page *meta, const unsigned char *data, size_t size)
{
    uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE), tail = meta->data_tail;
    unsigned char record[sizeof(uint64_t) * (DEPTH + 520)];
    while (tail < head) {
        struct perf_event_header hdr;
        for (size_t i = 0; i < sizeof hdr; i++)
            ((unsigned char *)&hdr)[i] = data[(tail + i) & (size - 1)];
        if (hdr.size < sizeof hdr) break;
        size_t len = hdr.size < sizeof record ? hdr.size : sizeof record;
        for (size_t i = 0; i < len; i++)
            record[i] = data[(tail + i) & (size - 1)];
        const unsigned char *p = record + sizeof hdr;
        if (hdr.type == PERF_RECORD_SAMPLE) {
            /* sample_type IP | TID | CALLCHAIN: ip, pid, tid, nr, ips[nr] */
            static uint64_t chain[sizeof record / 8];
            uint32_t pid;
            uint64_t nr;
            memcpy(&pid, p + 8, 4);
            memcpy(&nr, p + 16, 8);
            if (len < hdr.size || 24 + nr * 8 > len - sizeof hdr) {
                samples++;
                dropped++;          /* longer than the record buffer: counted, not read */
            } else {
                memcpy(chain, p + 24, nr * 8);
                count_stack(pid, chain, nr);
            }
        } else if (hdr.type == PERF_RECORD_LOST) {
            uint64_t n;
            memcpy(&n, p + 8, 8);
            lost += n;
        } else if (hdr.type == PERF_RECORD_COMM) {
            uint32_t pid;
            memcpy(&pid, p, 4);
            note_comm(pid, (const char *)p + 8);
        }
        tail += hdr.size;
    }
    __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
}

struct ksym { uint64_t addr; char *line; long index; };   /* index: in the report, or -1 */
static struct ksym *syms, **named;      /* named: the functions the report names, in their index order */
static size_t nsyms, nnamed;
static char *kallsyms;      /* the whole file; the symbols' names point into it */

static int by_addr(const void *a, const void *b)
{
    uint64_t x = ((const struct ksym *)a)->addr, y = ((const struct ksym *)b)->addr;
    return x < y ? -1 : x > y;
}

/* All of `path` in one buffer ending in a NUL, or NULL. */
static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t len = 0, cap = 1 << 20;
    char *data = f ? malloc(cap) : NULL;
    for (size_t n = 1; data && n > 0; len += n) {
        if (cap - len < 2) {
            char *more = realloc(data, cap *= 2);
            if (!more) { free(data); data = NULL; break; }
            data = more;
        }
        n = fread(data + len, 1, cap - len - 1, f);
    }
    if (data) data[len] = 0;
    if (f) fclose(f);
    return data;
}

/* The text symbols of /proc/kallsyms by address, read before sampling starts: parsed in place
 * (a large kernel has tens of thousands; this is most of a short command's sampling cost). */
static void load_symbols(void)
{
    size_t cap = 1 << 16;
    int sorted = 1;
    kallsyms = read_all("/proc/kallsyms");
    syms = kallsyms ? malloc(cap * sizeof *syms) : NULL;
    for (char *line = kallsyms, *next; syms && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *end;
        uint64_t addr = strtoull(line, &end, 16);
        if (end == line || end[0] != ' ' || !end[1] || end[2] != ' ' || addr == 0) continue;   /* 0: addresses hidden */
        char type = end[1], *name = end + 3;
        if (!strcmp(name, "_stext")) fprintf(stderr, "%s ktext %llx\n", tag, (unsigned long long)addr);
        if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
        if (nsyms == cap) {
            struct ksym *more = realloc(syms, (cap *= 2) * sizeof *syms);
            if (!more) break;
            syms = more;
        }
        sorted &= nsyms == 0 || syms[nsyms - 1].addr <= addr;
        syms[nsyms++] = (struct ksym){addr, name, -1};
    }
    if (syms && !sorted) qsort(syms, nsyms, sizeof *syms, by_addr);
}

/* The last symbol at or below `ip` (of several at one address, the last), or NULL. */
static struct ksym *symbol_at_or_below(uint64_t ip)
{
    size_t lo = 0, hi = nsyms;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (syms[mid].addr <= ip) lo = mid + 1;
        else hi = mid;
    }
    return lo ? &syms[lo - 1] : NULL;
}

/* The start of the kernel function holding `ip` (so samples in one function make one frame), or
 * `ip` itself where kallsyms cannot tell (the host then reads vmlinux). */
static uint64_t function_of(uint64_t ip)
{
    const struct ksym *sym = symbol_at_or_below(ip);
    return sym ? sym->addr : ip;
}

/* A frame as the report writes it: @N for the Nth function named (given its number at first use),
 * the address where kallsyms has none; a frame costs a few bytes, not sixteen. */
static void print_frame(FILE *out, uint64_t ip, int first)
{
    struct ksym *sym = symbol_at_or_below(ip);     /* the one function_of chose */
    if (sym && sym->addr != ip) sym = NULL;
    if (sym && sym->index < 0 && named) {
        sym->index = (long)nnamed;
        named[nnamed++] = sym;
    }
    if (sym && sym->index >= 0) fprintf(out, "%s@%lx", first ? "" : ",", sym->index);
    else fprintf(out, "%s%llx", first ? "" : ",", (unsigned long long)ip);
}

static void print_symbols(FILE *out)
{
    for (size_t n = 0; n < nnamed; n++) {
        const struct ksym *sym = named[n];
        fprintf(out, "%s sym %llx %s\n", tag, (unsigned long long)sym->addr, sym->line);
    }
}

static int child_exited[2];

static void note_child_exit(int sig)
{
    int saved = errno;
    (void)sig;
    if (write(child_exited[1], "x", 1) < 0) { /* full: a wake-up is already pending */ }
    errno = saved;
}

/* profile HZ CMD [ARGS...] */
int tool_profile(int argc, char **argv)
{
    int hz = atoi(argv[0]);
    char **cmd = argv + 1;
    (void)argc;
    if (hz <= 0) {
        fprintf(stderr, "sisagent profile: HZ must be a positive number\n");
        return 2;
    }
    const char *mark = getenv("SISAGENT_PROFILE_MARK"), *limit = getenv("SISAGENT_PROFILE_SECONDS");
    if (mark && *mark) snprintf(tag, sizeof tag, "profile:%.64s", mark);
    double seconds = limit ? atof(limit) : 0;
    unsetenv("SISAGENT_PROFILE_MARK");    /* the command never sees them */
    unsetenv("SISAGENT_PROFILE_SECONDS");
    stacks = calloc(SLOTS, sizeof *stacks);
    load_symbols();
    /* The command's end wakes the loop at once (a pipe its SIGCHLD writes to), not at the next poll */
    struct sigaction on_exit = {.sa_handler = note_child_exit, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
    if (pipe2(child_exited, O_CLOEXEC | O_NONBLOCK) || sigaction(SIGCHLD, &on_exit, NULL)) return 2;
    int gate;
    pid_t pid = stacks ? spawn_held(cmd, &gate) : -1;
    if (pid < 0) return 2;
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;
    attr.sample_freq = (uint64_t)hz;
    attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_CALLCHAIN;
    attr.disabled = 1;
    attr.inherit = 1;
    attr.enable_on_exec = 1;
    attr.comm = 1;
    attr.wakeup_events = 64;
    /* One event and ring per CPU: the kernel maps no ring of an inherited event on every CPU. */
    long page = sysconf(_SC_PAGESIZE), ncpus = sysconf(_SC_NPROCESSORS_CONF);
    size_t size = (size_t)RING_PAGES * page;
    if (ncpus < 1 || ncpus > MAX_CPUS) ncpus = ncpus < 1 ? 1 : MAX_CPUS;
    struct ring { int fd; struct perf_event_mmap_page *meta; } rings[MAX_CPUS];
    for (long c = 0; c < ncpus; c++) {
        rings[c].fd = (int)syscall(SYS_perf_event_open, &attr, pid, (int)c, -1, 0);
        void *ring = rings[c].fd < 0 ? MAP_FAILED
                   : mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_SHARED, rings[c].fd, 0);
        if (ring == MAP_FAILED) {
            fprintf(stderr, "%s unsupported %d\n", tag, errno);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return 3;
        }
        rings[c].meta = ring;
    }
    /* With a deadline the command gets a process group of its own, killed whole at the deadline,
     * so a command that hangs still gives its samples (the agent's own timeout would take both) */
    long long deadline = seconds > 0 ? mono_ns() + (long long)(seconds * 1e9) : 0;
    if (deadline) setpgid(pid, pid);
    if (start_held(gate)) return 2;
    int status = 0, killed = 0;
    for (int running = 1; running;) {
        if (deadline && !killed && mono_ns() >= deadline) {
            kill(-pid, SIGKILL);
            killed = 1;
        }
        struct pollfd p[MAX_CPUS + 1];
        for (long c = 0; c < ncpus; c++)
            p[c] = (struct pollfd){rings[c].fd, POLLIN, 0};
        p[ncpus] = (struct pollfd){child_exited[0], POLLIN, 0};
        poll(p, (nfds_t)ncpus + 1, 50);
        pid_t done = waitpid(pid, &status, WNOHANG);
        running = !(done == pid || (done < 0 && errno != EINTR));
        for (long c = 0; c < ncpus; c++)
            drain(rings[c].meta, (const unsigned char *)rings[c].meta + page, size);
    }
    /* The report in large writes, not one per field (each a system call, slow under emulation) */
    int copy = dup(STDERR_FILENO);
    FILE *out = copy >= 0 ? fdopen(copy, "w") : NULL;
    if (out) setvbuf(out, NULL, _IOFBF, 1 << 16);
    else out = stderr;
    named = calloc(nsyms + 1, sizeof *named);
    fputc('\n', out);     /* the command's last line may lack its newline: the report starts on its own */
    for (unsigned i = 0; i < ncomms; i++)
        fprintf(out, "%s comm %u %s\n", tag, comms[i].pid, comms[i].name);
    for (unsigned i = 0; i < SLOTS; i++) {
        const struct stack *s = &stacks[i];
        if (!s->count) continue;
        fprintf(out, "%s stack %llu %u ", tag, (unsigned long long)s->count, s->pid);
        for (uint32_t d = 0; d < s->depth; d++) {
            uint64_t ip = s->ips[d];
            if (ip == (uint64_t)PERF_CONTEXT_KERNEL) fprintf(out, "%sK", d ? "," : "");
            else if (ip == (uint64_t)PERF_CONTEXT_USER) fprintf(out, "%sU", d ? "," : "");
            else if (ip < (uint64_t)PERF_CONTEXT_MAX) print_frame(out, ip, d == 0);
        }
        fprintf(out, "\n");
    }
    print_symbols(out);
    fprintf(out, "%s total %llu %llu %u %llu\n", tag, (unsigned long long)samples, (unsigned long long)lost,
            nstacks, (unsigned long long)dropped);
    if (killed)
        fprintf(out, "%s deadline %g\n", tag, seconds);
    if (WIFSIGNALED(status))
        fprintf(out, "%s signal %d\n", tag, WTERMSIG(status));
    else
        fprintf(out, "%s exit %d\n", tag, WEXITSTATUS(status));
    if (out != stderr) fclose(out);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
