/* KCOV for the fuzz executor (fuzzops.c): the kernel PCs this task executes between kcov_enable
 * and kcov_finish, written to the input's disk in the format fuzzops.c's header describes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include "kcov.h"

#define KCOV_INIT_TRACE _IOR('c', 1, unsigned long)
#define KCOV_ENABLE _IO('c', 100)
#define KCOV_DISABLE _IO('c', 101)
#define KCOV_TRACE_PC 0
#define KCOV_ENTRIES (1UL << 20)            /* PCs the trace holds, repeats included */
#define KCOV_REGION (1L << 20)              /* bytes the host leaves for the result on the disk */
#define KCOV_HEADER 32

/* Open and map the trace buffer once per process; k->fd is -errno when this kernel cannot
 * trace (no KCOV, no debugfs). */
void kcov_open(struct kcov *k)
{
    k->area = NULL;
    mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);   /* EBUSY: mounted already */
    int fd = open("/sys/kernel/debug/kcov", O_RDWR | O_CLOEXEC);
    if (fd < 0) { k->fd = -errno; return; }
    unsigned long *area = MAP_FAILED;
    if (ioctl(fd, KCOV_INIT_TRACE, KCOV_ENTRIES) == 0)
        area = mmap(NULL, KCOV_ENTRIES * sizeof *area, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (area == MAP_FAILED) {
        k->fd = -errno;
        close(fd);
        return;
    }
    k->fd = fd;
    k->area = area;
}

/* Start tracing this task from an empty buffer: 0 or -errno. */
int kcov_enable(struct kcov *k)
{
    __atomic_store_n(&k->area[0], 0, __ATOMIC_RELAXED);
    return ioctl(k->fd, KCOV_ENABLE, KCOV_TRACE_PC) ? -errno : 0;
}

static int by_value(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

static void put32(unsigned char *p, unsigned v) { memcpy(p, &v, 4); }

/* Stop tracing, write the distinct PCs to `dev` at `offset`; returns their count or -errno.
 * (Sorting in place is fine: the next kcov_enable starts the buffer afresh.) */
long kcov_finish(struct kcov *k, const char *dev, long offset)
{
    unsigned long n = __atomic_load_n(&k->area[0], __ATOMIC_RELAXED);
    ioctl(k->fd, KCOV_DISABLE, 0);
    unsigned long *pcs = k->area + 1;
    int truncated = n >= KCOV_ENTRIES - 1;
    if (truncated) n = KCOV_ENTRIES - 1;
    qsort(pcs, n, sizeof *pcs, by_value);
    unsigned long distinct = 0;
    for (unsigned long i = 0; i < n; i++)
        if (!distinct || pcs[i] != pcs[distinct - 1]) pcs[distinct++] = pcs[i];
    unsigned long room = (KCOV_REGION - KCOV_HEADER) / 4;
    if (distinct > room) { distinct = room; truncated = 1; }
    unsigned long base = distinct ? pcs[0] : 0, kept = 0;
    unsigned char *out = calloc(1, KCOV_HEADER + distinct * 4);
    if (!out) return -ENOMEM;
    for (unsigned long i = 0; i < distinct; i++)
        if (pcs[i] - base <= 0xffffffffUL) put32(out + KCOV_HEADER + 4 * kept++, (unsigned)(pcs[i] - base));
    memcpy(out, "SISKCOV1", 8);
    put32(out + 8, (unsigned)kept);
    put32(out + 12, (unsigned)truncated);
    memcpy(out + 16, &base, 8);
    long r = -EIO;
    int fd = open(dev, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        size_t len = KCOV_HEADER + kept * 4;
        if (pwrite(fd, out, len, offset) == (ssize_t)len && fsync(fd) == 0) r = (long)kept;
        else r = -errno;
        close(fd);
    }
    free(out);
    return r;
}
