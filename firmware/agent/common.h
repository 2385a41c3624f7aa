/* Helpers shared by the agent's files (common.c): the tools call down into these, never into each other. */
#ifndef SISAGENT_COMMON_H
#define SISAGENT_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

uint32_t crc32_update(uint32_t crc, const void *data, size_t len);   /* zlib's CRC-32; start from 0 */
uint32_t crc32_of(const void *data, size_t len);
long long mono_ns(void);                                            /* CLOCK_MONOTONIC in ns */
int open_counter(uint32_t type, uint64_t config, int pid, int enable_on_exec);   /* perf fd, or < 0 with errno */
int read_counter(int fd, long long *value);
pid_t spawn_held(char **cmd, int *gate);                            /* a child held before its exec */
int start_held(int gate);                                           /* ... let it go; 0 if told */
const char *disk_by_serial(const char *serial);

/* The xorshift32 stream of written data: x = xorshift_seed(seed), then x = xorshift_next(x) per
 * value (the host models fsops.c's writes with pattern() in sisctl/campaign/ext4crash/ops.py). */
static inline uint32_t xorshift_seed(uint32_t seed) { return (seed * 2654435761u) | 1u; }

static inline uint32_t xorshift_next(uint32_t x)
{
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

#endif
