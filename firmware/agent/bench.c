/*
 * sisagent bench WORKLOAD [N] [DIR]
 *
 * Kernel micro-benchmarks, each measured with CLOCK_MONOTONIC and a set of
 * perf_event_open counters (cycles, instructions, task-clock) that follow the
 * workload into its children. One line per figure on stdout:
 *   bench WORKLOAD ops N
 *   bench WORKLOAD ns T                   elapsed, whole workload
 *   bench WORKLOAD cycles C | bench WORKLOAD cycles unsupported ERRNO
 *   bench WORKLOAD instructions I | ... unsupported ERRNO
 *   bench WORKLOAD task_clock_ns K | ... unsupported ERRNO
 *   bench WORKLOAD p50_ns L / p99_ns L    per-operation latency (fsync_4k)
 *   bench WORKLOAD bytes B                bytes moved (seq_write, seq_read)
 *   bench WORKLOAD commits C / commit_us U   jbd2: journal commits the workload caused and
 *                                         jbd2's running average commit time after them
 *   bench WORKLOAD skipped REASON...      the workload cannot run on this machine (exit 0)
 * A counter that cannot count is reported as unsupported, never as 0.
 *
 * Workloads: pipe_pingpong N (both ends pinned to one CPU), pipe_pingpong_cross N
 * (the ends pinned to two CPUs), null_syscall N, fork_exit N, exec N,
 * mmap_touch PAGES, create_unlink N DIR, fsync_4k N DIR, seq_write MIB DIR,
 * seq_read MIB DIR, jbd2 N DIR [KIB] (N appending writes of KIB KiB, default 4, each
 * fsync'd: a journal commit each). `sisagent bench kernel` names the running kernel
 * (build_id from /sys/kernel/notes, release, online CPUs).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "journal.h"
#include "sisagent.h"

struct counter { const char *name; uint32_t type; uint64_t config; int fd; int err; };

static struct counter counters[] = {
    {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, -1, 0},
    {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, -1, 0},
    {"task_clock_ns", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, -1, 0},
};
#define NCOUNTERS (sizeof counters / sizeof counters[0])

static const char *workload;
static long long started_ns;

static void open_counters(void)
{
    for (size_t i = 0; i < NCOUNTERS; i++) {   /* children (fork, exec, ping-pong peer) count too */
        counters[i].fd = open_counter(counters[i].type, counters[i].config, 0, 0);
        counters[i].err = counters[i].fd < 0 ? errno : 0;
    }
}

static void start(void)
{
    open_counters();
    for (size_t i = 0; i < NCOUNTERS; i++)
        if (counters[i].fd >= 0) ioctl(counters[i].fd, PERF_EVENT_IOC_ENABLE, 0);
    started_ns = mono_ns();
}

static void stop(long long ops)
{
    long long elapsed = mono_ns() - started_ns;
    printf("bench %s ops %lld\n", workload, ops);
    printf("bench %s ns %lld\n", workload, elapsed);
    for (size_t i = 0; i < NCOUNTERS; i++) {
        long long v;
        if (counters[i].fd < 0) {
            printf("bench %s %s unsupported %d\n", workload, counters[i].name, counters[i].err);
            continue;
        }
        ioctl(counters[i].fd, PERF_EVENT_IOC_DISABLE, 0);
        if (read_counter(counters[i].fd, &v) <= 0)
            printf("bench %s %s unsupported %d\n", workload, counters[i].name, EIO);
        else
            printf("bench %s %s %lld\n", workload, counters[i].name, v);
        close(counters[i].fd);
    }
}

static int fail(const char *what)
{
    fprintf(stderr, "bench %s: %s: %s\n", workload, what, strerror(errno));
    return 1;
}

static int pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

/* The first two CPUs this process may run on; -1 where there is none. */
static void two_cpus(int cpu[2])
{
    cpu_set_t set;
    cpu[0] = cpu[1] = -1;
    if (sched_getaffinity(0, sizeof set, &set)) return;
    for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; c++)
        if (CPU_ISSET(c, &set)) cpu[k++] = c;
}

/* One byte there and back through two pipes, n times. Both ends on one CPU (every round trip
 * is two context switches there) or, with `cross`, on two CPUs (a wake-up of the other CPU). */
static int pipe_pingpong(long n, int cross)
{
    int ab[2], ba[2], cpu[2];
    char c = 'x';
    two_cpus(cpu);
    if (cross && cpu[1] < 0) {
        printf("bench %s skipped needs 2 CPUs, this machine runs it on %ld\n", workload,
               sysconf(_SC_NPROCESSORS_ONLN));
        return 0;
    }
    if (cpu[0] < 0 || pin(cpu[0])) return fail("sched_setaffinity");
    if (pipe(ab) || pipe(ba)) return fail("pipe");
    start();
    pid_t pid = fork();
    if (pid < 0) return fail("fork");
    if (pid == 0) {
        if (cross && pin(cpu[1])) _exit(3);
        for (long i = 0; i < n; i++)
            if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    for (long i = 0; i < n; i++)
        if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) return fail("ping-pong");
    int status;
    waitpid(pid, &status, 0);
    stop(n);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) { errno = EINVAL; return fail("pinning the peer"); }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int null_syscall(long n)
{
    start();
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    stop(n);
    return 0;
}

static int fork_exit(long n)
{
    start();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) return fail("fork");
        if (pid == 0) _exit(0);
        waitpid(pid, NULL, 0);
    }
    stop(n);
    return 0;
}

static int exec_loop(long n)
{
    char self[256];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return fail("readlink /proc/self/exe");
    self[len] = 0;
    start();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) return fail("fork");
        if (pid == 0) {
            execl(self, "sisagent", "bench", "noop", (char *)NULL);
            _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { errno = ENOEXEC; return fail("exec"); }
    }
    stop(n);
    return 0;
}

static int mmap_touch(long pages)
{
    long page = sysconf(_SC_PAGESIZE);
    start();
    char *p = mmap(NULL, (size_t)(pages * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return fail("mmap");
    for (long i = 0; i < pages; i++)
        p[i * page] = 1;
    munmap(p, (size_t)(pages * page));
    stop(pages);
    return 0;
}

static int create_unlink(long n, const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bench-create", dir);
    start();
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0) return fail(path);
        close(fd);
        if (unlink(path)) return fail("unlink");
    }
    stop(n);
    return 0;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static int fsync_4k(long n, const char *dir)
{
    char path[512], block[4096];
    long long *lat = calloc((size_t)n, sizeof *lat);
    snprintf(path, sizeof path, "%s/bench-fsync", dir);
    memset(block, 0x5a, sizeof block);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0 || !lat) return fail(path);
    start();
    for (long i = 0; i < n; i++) {
        long long t0 = mono_ns();
        if (pwrite(fd, block, sizeof block, (off_t)i * 4096) != sizeof block) return fail("pwrite");
        if (fdatasync(fd)) return fail("fdatasync");
        lat[i] = mono_ns() - t0;
    }
    stop(n);
    close(fd);
    unlink(path);
    qsort(lat, (size_t)n, sizeof *lat, cmp_ll);
    printf("bench %s p50_ns %lld\n", workload, lat[(n - 1) / 2]);
    printf("bench %s p99_ns %lld\n", workload, lat[(n * 99 + 99) / 100 - 1]);
    free(lat);
    return 0;
}

#define CHUNK (1 << 20)

static int seq_io(long mib, const char *dir, int writing)
{
    char path[512];
    char *buf = malloc(CHUNK);
    snprintf(path, sizeof path, "%s/bench-seq", dir);
    if (!buf) return fail("malloc");
    memset(buf, 0xa5, CHUNK);
    if (!writing) {   /* a file to read, then out of the page cache */
        int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        if (fd < 0) return fail(path);
        for (long i = 0; i < mib; i++)
            if (write(fd, buf, CHUNK) != CHUNK) return fail("write");
        if (fsync(fd)) return fail("fsync");
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    int fd = open(path, writing ? O_CREAT | O_TRUNC | O_WRONLY : O_RDONLY, 0644);
    if (fd < 0) return fail(path);
    start();
    for (long i = 0; i < mib; i++)
        if ((writing ? write(fd, buf, CHUNK) : read(fd, buf, CHUNK)) != CHUNK) return fail(writing ? "write" : "read");
    if (writing && fsync(fd)) return fail("fsync");
    stop(mib);
    printf("bench %s bytes %lld\n", workload, (long long)mib * CHUNK);
    close(fd);
    unlink(path);
    free(buf);
    return 0;
}

/* n appending writes of `kib` KiB to a fresh file, each followed by fsync: each fsync commits a
 * transaction (the file's size changed), which in data=ordered mode first writes the new data.
 * Reports the commits seen and jbd2's running average commit time after them: with n >= 20 what
 * came before weighs under 0.4 %. */
static int jbd2_commits(long n, const char *dir, long kib)
{
    char info[600], path[512];
    long long t0, t1, avg0, avg1;
    size_t size = (size_t)kib << 10;
    char *block = malloc(size);
    if (!block) return fail("malloc");
    if (journal_info(dir, info, sizeof info)) return fail("no jbd2 journal for the directory's disk");
    if (journal_stats(info, &t0, &avg0)) return fail(info);
    snprintf(path, sizeof path, "%s/bench-jbd2", dir);
    memset(block, 0x3c, size);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0 || fsync(fd)) return fail(path);
    start();
    for (long i = 0; i < n; i++)
        if (pwrite(fd, block, size, (off_t)(i * size)) != (ssize_t)size || fsync(fd)) return fail("write+fsync");
    stop(n);
    close(fd);
    free(block);
    unlink(path);
    if (journal_stats(info, &t1, &avg1) || t1 < 0 || avg1 < 0) { errno = EPROTO; return fail(info); }
    printf("bench %s commits %lld\n", workload, t1 - t0);
    if (t1 > t0)   /* without a commit the average is older than this run: no figure */
        printf("bench %s commit_us %lld\n", workload, avg1);
    return 0;
}

/* The GNU build id among the running kernel's ELF notes (4-byte aligned name and descriptor). */
static void print_build_id(void)
{
    unsigned char buf[4096];
    int fd = open("/sys/kernel/notes", O_RDONLY);
    ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof buf);
    if (fd >= 0) close(fd);
    for (ssize_t at = 0; len > 0 && at + (ssize_t)sizeof(Elf64_Nhdr) <= len;) {
        Elf64_Nhdr h;
        memcpy(&h, buf + at, sizeof h);
        ssize_t name = at + sizeof h, desc = name + ((h.n_namesz + 3) & ~3u);
        if ((size_t)desc + h.n_descsz > (size_t)len) break;
        if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 && !memcmp(buf + name, "GNU", 4)) {
            printf("bench kernel build_id ");
            for (unsigned i = 0; i < h.n_descsz; i++) printf("%02x", buf[desc + i]);
            printf("\n");
            return;
        }
        at = desc + ((h.n_descsz + 3) & ~3u);
    }
    printf("bench kernel build_id unsupported %d\n", ENOENT);
}

static int kernel_identity(void)
{
    struct utsname u;
    print_build_id();
    if (!uname(&u)) printf("bench kernel release %s\n", u.release);
    printf("bench kernel cpus %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    return 0;
}

int tool_bench(int argc, char **argv)
{
    workload = argc > 0 ? argv[0] : "";
    long n = argc > 1 ? atol(argv[1]) : 0;
    const char *dir = argc > 2 ? argv[2] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(workload, "noop")) return 0;
    if (!strcmp(workload, "kernel")) return kernel_identity();
    if (n <= 0) goto usage;
    if (!strcmp(workload, "pipe_pingpong")) return pipe_pingpong(n, 0);
    if (!strcmp(workload, "pipe_pingpong_cross")) return pipe_pingpong(n, 1);
    if (!strcmp(workload, "null_syscall")) return null_syscall(n);
    if (!strcmp(workload, "fork_exit")) return fork_exit(n);
    if (!strcmp(workload, "exec")) return exec_loop(n);
    if (!strcmp(workload, "mmap_touch")) return mmap_touch(n);
    if (!dir) goto usage;
    if (!strcmp(workload, "create_unlink")) return create_unlink(n, dir);
    if (!strcmp(workload, "fsync_4k")) return fsync_4k(n, dir);
    if (!strcmp(workload, "seq_write")) return seq_io(n, dir, 1);
    if (!strcmp(workload, "seq_read")) return seq_io(n, dir, 0);
    if (!strcmp(workload, "jbd2")) {
        long kib = argc > 3 ? atol(argv[3]) : 4;
        if (kib > 0 && kib <= 4096) return jbd2_commits(n, dir, kib);
    }
usage:
    fprintf(stderr, "usage: sisagent bench pipe_pingpong|pipe_pingpong_cross|null_syscall|fork_exit|exec|"
                    "mmap_touch N | create_unlink|fsync_4k|seq_write|seq_read N DIR | jbd2 N DIR [KIB 1-4096]"
                    " | kernel\n");
    return 2;
}
