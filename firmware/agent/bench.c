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
 *   bench WORKLOAD commit_us U            jbd2 average commit time
 * A counter that cannot count is reported as unsupported, never as 0.
 *
 * Workloads: pipe_pingpong N, null_syscall N, fork_exit N, exec N,
 * mmap_touch PAGES, create_unlink N DIR, fsync_4k N DIR, seq_write MIB DIR,
 * seq_read MIB DIR, jbd2 (reads /proc/fs/jbd2/<dev>/info).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
        uint64_t v[3];   /* value, time enabled, time running */
        if (counters[i].fd < 0) {
            printf("bench %s %s unsupported %d\n", workload, counters[i].name, counters[i].err);
            continue;
        }
        ioctl(counters[i].fd, PERF_EVENT_IOC_DISABLE, 0);
        if (read(counters[i].fd, v, sizeof v) != sizeof v || v[2] == 0)
            printf("bench %s %s unsupported %d\n", workload, counters[i].name, EIO);
        else
            printf("bench %s %s %lld\n", workload, counters[i].name,
                   (long long)(v[2] < v[1] ? (double)v[0] * v[1] / v[2] : v[0]));
        close(counters[i].fd);
    }
}

static int fail(const char *what)
{
    fprintf(stderr, "bench %s: %s: %s\n", workload, what, strerror(errno));
    return 1;
}

static int pipe_pingpong(long n)
{
    int ab[2], ba[2];
    char c = 'x';
    if (pipe(ab) || pipe(ba)) return fail("pipe");
    start();
    pid_t pid = fork();
    if (pid < 0) return fail("fork");
    if (pid == 0) {
        for (long i = 0; i < n; i++)
            if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    for (long i = 0; i < n; i++)
        if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) return fail("ping-pong");
    int status;
    waitpid(pid, &status, 0);
    stop(n);
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

/* The average commit time of every journal (jbd2 keeps it since mount):
 * the line "  NNNus average transaction commit time". */
static int jbd2_info(void)
{
    DIR *d = opendir("/proc/fs/jbd2");
    struct dirent *e;
    int found = 0;
    if (!d) return fail("/proc/fs/jbd2");
    while ((e = readdir(d))) {
        char path[512], line[256];
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/proc/fs/jbd2/%s/info", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        while (fgets(line, sizeof line, f)) {
            long long us;
            if (sscanf(line, " %lldus average transaction commit time", &us) == 1) {
                printf("bench %s commit_us %lld\n", workload, us);
                found = 1;
            }
        }
        fclose(f);
    }
    closedir(d);
    if (!found) { errno = ENOENT; return fail("no journal with a commit time"); }
    return 0;
}

int tool_bench(int argc, char **argv)
{
    workload = argc > 0 ? argv[0] : "";
    long n = argc > 1 ? atol(argv[1]) : 0;
    const char *dir = argc > 2 ? argv[2] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(workload, "noop")) return 0;
    if (!strcmp(workload, "jbd2")) return jbd2_info();
    if (n <= 0) goto usage;
    if (!strcmp(workload, "pipe_pingpong")) return pipe_pingpong(n);
    if (!strcmp(workload, "null_syscall")) return null_syscall(n);
    if (!strcmp(workload, "fork_exit")) return fork_exit(n);
    if (!strcmp(workload, "exec")) return exec_loop(n);
    if (!strcmp(workload, "mmap_touch")) return mmap_touch(n);
    if (!dir) goto usage;
    if (!strcmp(workload, "create_unlink")) return create_unlink(n, dir);
    if (!strcmp(workload, "fsync_4k")) return fsync_4k(n, dir);
    if (!strcmp(workload, "seq_write")) return seq_io(n, dir, 1);
    if (!strcmp(workload, "seq_read")) return seq_io(n, dir, 0);
usage:
    fprintf(stderr, "usage: sisagent bench pipe_pingpong|null_syscall|fork_exit|exec|mmap_touch N"
                    " | create_unlink|fsync_4k|seq_write|seq_read N DIR | jbd2\n");
    return 2;
}
