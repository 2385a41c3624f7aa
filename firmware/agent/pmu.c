/*
 * sisagent pmu INTERVAL_MS CMD [ARGS...]
 *
 * Runs CMD with hardware and software counters attached (perf_event_open,
 * inherited by its children) and prints, on stderr, lines starting "pmu ":
 *   pmu unsupported EVENT ERRNO          the kernel or CPU cannot count it
 *   pmu sample NS EVENT=VALUE ...        every INTERVAL_MS (0: no samples)
 *   pmu total EVENT VALUE                at the end, scaled if multiplexed
 *   pmu exit CODE | pmu signal SIG
 * An unsupported counter is never reported as zero.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "sisagent.h"

struct event { const char *name; uint32_t type; uint64_t config; int fd; };

static struct event events[] = {
    {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, -1},
    {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, -1},
    {"cache-references", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES, -1},
    {"cache-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES, -1},
    {"branch-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES, -1},
    {"context-switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES, -1},
    {"page-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, -1},
    {"task-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, -1},
};
#define NEVENTS (sizeof events / sizeof events[0])

/* The scaled count; 0 if it never counted, -1 if unreadable. */
static long long value_of(int fd)
{
    long long v;
    read_counter(fd, &v);
    return v;
}

/* pmu INTERVAL_MS CMD [ARGS...] */
int tool_pmu(int argc, char **argv)
{
    int interval_ms = atoi(argv[0]);
    char **cmd = argv + 1;
    (void)argc;
    int gate;
    pid_t pid = spawn_held(cmd, &gate);
    if (pid < 0) return 2;
    for (size_t i = 0; i < NEVENTS; i++) {
        events[i].fd = open_counter(events[i].type, events[i].config, pid, 1);
        if (events[i].fd < 0)
            fprintf(stderr, "pmu unsupported %s %d\n", events[i].name, errno);
    }
    if (start_held(gate)) return 2;
    int status = 0;
    for (;;) {
        pid_t done = waitpid(pid, &status, interval_ms > 0 ? WNOHANG : 0);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) break;
        if (interval_ms > 0) {
            poll(NULL, 0, interval_ms);
            fprintf(stderr, "pmu sample %lld", mono_ns());
            for (size_t i = 0; i < NEVENTS; i++)
                if (events[i].fd >= 0) fprintf(stderr, " %s=%lld", events[i].name, value_of(events[i].fd));
            fprintf(stderr, "\n");
        }
    }
    for (size_t i = 0; i < NEVENTS; i++)
        if (events[i].fd >= 0)
            fprintf(stderr, "pmu total %s %lld\n", events[i].name, value_of(events[i].fd));
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "pmu signal %d\n", WTERMSIG(status));
        return 128 + WTERMSIG(status);
    }
    fprintf(stderr, "pmu exit %d\n", WEXITSTATUS(status));
    return WEXITSTATUS(status);
}
