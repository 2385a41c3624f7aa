/* Shared between the console agent (sisagent.c) and its tools (fsops.c). */
#ifndef SISAGENT_H
#define SISAGENT_H
#include <stddef.h>
#include <stdint.h>

uint32_t crc32_of(const void *data, size_t len);
uint32_t crc32_update(uint32_t crc, const void *data, size_t len);
int tool_main(int argc, char **argv);
int tool_pmu(int interval_ms, char **argv);
long long mono_ns(void);                  /* CLOCK_MONOTONIC in ns */
int open_counter(uint32_t type, uint64_t config, int pid, int enable_on_exec);   /* perf fd, or < 0 with errno */
int tool_fuzz(const char *serial, const char *mnt, const char *options);
const char *disk_by_serial(const char *serial);
int tool_bench(int argc, char **argv);

#endif
