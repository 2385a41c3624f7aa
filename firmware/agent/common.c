/* Helpers shared by the agent's files; declared in common.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* zlib-compatible CRC-32; crc32_update(0, ...) starts a new one. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1u));
    }
    return ~crc;
}

uint32_t crc32_of(const void *data, size_t len)
{
    return crc32_update(0, data, len);
}

long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A disabled counter of `pid` (0: this process) that its children inherit; read it with read_counter. */
int open_counter(uint32_t type, uint64_t config, int pid, int enable_on_exec)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = type;
    attr.config = config;
    attr.disabled = 1;
    attr.inherit = 1;          /* children (fork, exec) count too */
    attr.enable_on_exec = enable_on_exec ? 1 : 0;
    attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    return (int)syscall(SYS_perf_event_open, &attr, pid, -1, -1, 0);
}

/* A child that execs `cmd` only once start_held(*gate) is called, so counters opened on it in
 * between see its exec and nothing before; its pid, or -1. */
pid_t spawn_held(char **cmd, int *gate)
{
    int go[2];
    if (pipe(go)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1) _exit(126);
        execvp(cmd[0], cmd);
        _exit(127);
    }
    close(go[0]);
    *gate = go[1];
    return pid;
}

/* Let the child of spawn_held run; 0 once it was told. */
int start_held(int gate)
{
    int told = write(gate, "g", 1) == 1;
    close(gate);
    return told ? 0 : -1;
}

/* The count, scaled up when the counter was multiplexed: 1 if it counted, 0 (value 0) if it
 * never got onto the PMU, -1 (value -1) if it cannot be read. */
int read_counter(int fd, long long *value)
{
    uint64_t v[3];   /* value, time enabled, time running */
    *value = -1;
    if (read(fd, v, sizeof v) != sizeof v) return -1;
    *value = 0;
    if (v[2] == 0) return 0;
    *value = (long long)(v[2] < v[1] ? (double)v[0] * v[1] / v[2] : v[0]);
    return 1;
}

/* /dev/vdX of the virtio disk whose serial is `serial`, or NULL; the buffer is reused. */
const char *disk_by_serial(const char *serial)
{
    static char dev[sizeof "/dev/" + sizeof ((struct dirent *)0)->d_name];
    DIR *dir = opendir("/sys/block");
    struct dirent *de;
    const char *found = NULL;
    while (dir && !found && (de = readdir(dir))) {
        char path[300], value[128] = "";
        snprintf(path, sizeof path, "/sys/block/%s/serial", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(value, sizeof value, f)) value[strcspn(value, "\n")] = 0;
        fclose(f);
        if (!strcmp(value, serial)) {
            snprintf(dev, sizeof dev, "/dev/%s", de->d_name);
            found = dev;
        }
    }
    if (dir) closedir(dir);
    return found;
}
