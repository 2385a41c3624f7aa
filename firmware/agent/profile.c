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
 *   profile stack COUNT PID K,ADDR,...,U   leaf first; K starts the kernel frames, U stands for user ones
 *   profile sym ADDR NAME [MODULE]         each kallsyms function a stack names
 *   profile ktext ADDR                     the running kernel's _stext (KASLR moves it), when kallsyms tells
 *   profile total SAMPLES LOST STACKS DROPPED
 *   profile exit CODE | profile signal SIG
 */
#define _GNU_SOURCE
#include <errno.h>
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

static void note_comm(uint32_t pid, const char *name)
{
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

struct ksym { uint64_t addr; char *line; int used; };
static struct ksym *syms;
static size_t nsyms;

static int by_addr(const void *a, const void *b)
{
    uint64_t x = ((const struct ksym *)a)->addr, y = ((const struct ksym *)b)->addr;
    return x < y ? -1 : x > y;
}

/* The text symbols of /proc/kallsyms by address, read before sampling starts. */
static void load_symbols(void)
{
    FILE *f = fopen("/proc/kallsyms", "r");
    size_t cap = 1 << 16;
    char line[512];
    syms = f ? malloc(cap * sizeof *syms) : NULL;
    while (syms && fgets(line, sizeof line, f)) {
        char type;
        unsigned long long addr;
        int at;
        if (sscanf(line, "%llx %c %n", &addr, &type, &at) != 2 || addr == 0) continue;   /* 0: addresses hidden */
        line[strcspn(line, "\n")] = 0;
        if (!strcmp(line + at, "_stext")) fprintf(stderr, "%s ktext %llx\n", tag, addr);
        if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
        if (nsyms == cap) {
            struct ksym *more = realloc(syms, (cap *= 2) * sizeof *syms);
            if (!more) break;
            syms = more;
        }
        syms[nsyms].addr = addr;
        syms[nsyms].used = 0;
        syms[nsyms++].line = strdup(line + at);
    }
    if (f) fclose(f);
    if (syms) qsort(syms, nsyms, sizeof *syms, by_addr);
}

/* The start of the kernel function holding `ip` (so samples in one function make one frame), or
 * `ip` itself where kallsyms cannot tell (the host then reads vmlinux). */
static uint64_t function_of(uint64_t ip)
{
    size_t lo = 0, hi = nsyms;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (syms[mid].addr <= ip) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return ip;
    syms[lo - 1].used = 1;
    return syms[lo - 1].addr;
}

static void print_symbols(void)
{
    for (size_t i = 0; i < nsyms; i++)
        if (syms[i].used)
            fprintf(stderr, "%s sym %llx %s\n", tag, (unsigned long long)syms[i].addr, syms[i].line);
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
    const char *mark = getenv("SISAGENT_PROFILE_MARK");
    if (mark && *mark) snprintf(tag, sizeof tag, "profile:%.64s", mark);
    unsetenv("SISAGENT_PROFILE_MARK");    /* the command never sees it */
    stacks = calloc(SLOTS, sizeof *stacks);
    load_symbols();
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
    if (start_held(gate)) return 2;
    int status = 0;
    for (int running = 1; running;) {
        struct pollfd p[MAX_CPUS];
        for (long c = 0; c < ncpus; c++)
            p[c] = (struct pollfd){rings[c].fd, POLLIN, 0};
        poll(p, (nfds_t)ncpus, 50);
        pid_t done = waitpid(pid, &status, WNOHANG);
        running = !(done == pid || (done < 0 && errno != EINTR));
        for (long c = 0; c < ncpus; c++)
            drain(rings[c].meta, (const unsigned char *)rings[c].meta + page, size);
    }
    fputc('\n', stderr);     /* the command's last line may lack its newline: the report starts on its own */
    for (unsigned i = 0; i < ncomms; i++)
        fprintf(stderr, "%s comm %u %s\n", tag, comms[i].pid, comms[i].name);
    for (unsigned i = 0; i < SLOTS; i++) {
        const struct stack *s = &stacks[i];
        if (!s->count) continue;
        fprintf(stderr, "%s stack %llu %u ", tag, (unsigned long long)s->count, s->pid);
        for (uint32_t d = 0; d < s->depth; d++) {
            uint64_t ip = s->ips[d];
            if (ip == (uint64_t)PERF_CONTEXT_KERNEL) fprintf(stderr, "%sK", d ? "," : "");
            else if (ip == (uint64_t)PERF_CONTEXT_USER) fprintf(stderr, "%sU", d ? "," : "");
            else if (ip < (uint64_t)PERF_CONTEXT_MAX) fprintf(stderr, "%s%llx", d ? "," : "", (unsigned long long)ip);
        }
        fprintf(stderr, "\n");
    }
    print_symbols();
    fprintf(stderr, "%s total %llu %llu %u %llu\n", tag, (unsigned long long)samples, (unsigned long long)lost,
            nstacks, (unsigned long long)dropped);
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "%s signal %d\n", tag, WTERMSIG(status));
        return 128 + WTERMSIG(status);
    }
    fprintf(stderr, "%s exit %d\n", tag, WEXITSTATUS(status));
    return WEXITSTATUS(status);
}
