/*
 * The fuzz campaign's executor in the guest:
 *
 *   SISCTL_FUZZ_OPS=N sisagent fuzz SERIAL[,SERIAL...] MNTBASE MOUNTOPTS
 *
 * One input per serial, in order, in this one process. Each input's op lines
 * are on its own disk at byte N, after the file system: "SISOPS01", u32
 * length, then that many bytes of text (the console would carry them at
 * about 3 KB/s under emulation; the disk is there anyway). For input N it prints
 * "== N" and writes "sisctl-fuzz: input N" to the kernel log (so a kernel
 * report is attributed to the input that was running), drops the block
 * caches (the host rewrote the disk since they were filled), mounts the
 * virtio disk whose serial is SERIAL on MNTBASE/SERIAL as ext4 (nodev,
 * nosuid) with MOUNTOPTS, opens everything with O_NONBLOCK (FIFOs must not
 * block), runs one operation per line inside the mount, and unmounts. No
 * process is forked. Prints:
 *   mount ERRNO          (0: mounted; the ops still run, on the bare directory)
 *   o INDEX ERRNO        one per operation, 0 when it succeeded
 *   umount ERRNO
 *   t MOUNT_US OPS_US UMOUNT_US   time spent in each phase
 *
 * With SISCTL_KCOV_OFFSET=N in the environment, the kernel coverage of the
 * mount, the ops and the unmount is collected with KCOV (this task only) and
 * written to the disk itself at byte N, after the file system:
 *   "SISKCOV1", u32 count, u32 truncated, u64 base, u64 0, then count u32
 *   offsets from base of the distinct PCs, ascending
 * and one more line is printed:
 *   kcov COUNT           (or "kcov -ERRNO" when the kernel has no KCOV)
 *
 * An operation line is a name and arguments separated by spaces
 * (sisctl/campaign/fuzz/ops.py writes them). Arguments are percent-encoded
 * (%XX is a byte) and "%rN.UNIT%." repeats UNIT N times, so paths near
 * PATH_MAX and with thousands of components stay short on the console.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common.h"
#include "kcov.h"
#include "sisagent.h"

#define FUZZ_ARGS 6
#define FUZZ_ARG_MAX (3 * PATH_MAX)
#define OPS_MAGIC "SISOPS01"
#define OPS_MAX (1 << 20)

static int hex(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode `in` into `out` (at most `cap` bytes with the NUL); returns the length or -1. */
static long decode_arg(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    while (*in) {
        if (in[0] == '%' && in[1] == 'r') {
            char *end;
            long count = strtol(in + 2, &end, 10);
            const char *close = strstr(end, "%.");
            if (*end != '.' || !close || count < 0) return -1;
            char unit[256];
            long len = 0;
            char inner[256];
            size_t inner_len = (size_t)(close - end - 1);
            if (inner_len >= sizeof inner) return -1;
            memcpy(inner, end + 1, inner_len);
            inner[inner_len] = 0;
            if ((len = decode_arg(inner, unit, sizeof unit)) < 0) return -1;
            for (long i = 0; i < count; i++) {
                if (n + (size_t)len >= cap) return -1;
                memcpy(out + n, unit, (size_t)len);
                n += (size_t)len;
            }
            in = close + 2;
        } else if (in[0] == '%' && hex(in[1]) >= 0 && hex(in[2]) >= 0) {
            if (n + 1 >= cap) return -1;
            out[n++] = (char)(hex(in[1]) * 16 + hex(in[2]));
            in += 3;
        } else {
            if (n + 1 >= cap) return -1;
            out[n++] = *in++;
        }
    }
    out[n] = 0;
    return (long)n;
}

/* `len` bytes of data, one xorshift32 step (its low byte) each. */
static unsigned char *filled(long long len, unsigned seed)
{
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    uint32_t x = xorshift_seed(seed);
    for (long long i = 0; buf && i < len; i++) {
        x = xorshift_next(x);
        buf[i] = (unsigned char)x;
    }
    return buf;
}

static int with_fd(const char *path, int flags, int (*act)(int, char **), char **a)
{
    int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK, 0644);   /* a FIFO must not block */
    if (fd < 0) return -1;
    int r = act(fd, a);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

static int act_read(int fd, char **a)
{
    long long len = atoll(a[1]);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf) { errno = ENOMEM; return -1; }
    ssize_t r = pread(fd, buf, (size_t)len, atoll(a[0]));
    free(buf);
    return r < 0 ? -1 : 0;
}

static int act_write(int fd, char **a)
{
    long long len = atoll(a[1]);
    unsigned char *buf = filled(len, (unsigned)atoi(a[2]));
    if (!buf) { errno = ENOMEM; return -1; }
    ssize_t r = pwrite(fd, buf, (size_t)len, atoll(a[0]));
    free(buf);
    return r < 0 ? -1 : 0;
}

static int act_fallocate(int fd, char **a) { return fallocate(fd, atoi(a[0]), atoll(a[1]), atoll(a[2])); }
static int act_fsync(int fd, char **a) { (void)a; return fsync(fd); }
static int act_fdatasync(int fd, char **a) { (void)a; return fdatasync(fd); }
static int act_none(int fd, char **a) { (void)fd; (void)a; return 0; }

static int act_mmapwrite(int fd, char **a)
{
    long long off = atoll(a[0]) & ~4095LL, len = atoll(a[1]);
    struct stat st;
    if (fstat(fd, &st)) return -1;
    if (len <= 0 || off + len > st.st_size) { errno = EINVAL; return -1; }
    unsigned char *map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
    if (map == MAP_FAILED) return -1;
    memset(map, 0x5a, (size_t)len);
    int r = msync(map, (size_t)len, MS_SYNC);
    munmap(map, (size_t)len);
    return r;
}

static int do_readdir(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir) return -1;
    errno = 0;
    while (readdir(dir))
        ;
    int saved = errno;
    closedir(dir);
    errno = saved;
    return saved ? -1 : 0;
}

/* Run one decoded operation; returns 0 or -1 with errno set. */
static int run_fuzz_op(const char *mnt, int n, char **a)
{
    const char *op = a[0];
    struct stat st;
    char buf[256];
    if (!strcmp(op, "creat")) return with_fd(a[1], O_CREAT | O_WRONLY, act_none, a + 2);
    if (!strcmp(op, "open")) return with_fd(a[1], atoi(a[2]), act_none, a + 3);
    if (!strcmp(op, "read") && n == 4) return with_fd(a[1], O_RDONLY, act_read, a + 2);
    if (!strcmp(op, "write") && n == 5) return with_fd(a[1], O_WRONLY, act_write, a + 2);
    if (!strcmp(op, "fallocate") && n == 5) return with_fd(a[1], O_WRONLY, act_fallocate, a + 2);
    if (!strcmp(op, "mmapwrite") && n == 4) return with_fd(a[1], O_RDWR, act_mmapwrite, a + 2);
    if (!strcmp(op, "fsync")) return with_fd(a[1], O_RDONLY, act_fsync, a + 2);
    if (!strcmp(op, "fdatasync")) return with_fd(a[1], O_RDONLY, act_fdatasync, a + 2);
    if (!strcmp(op, "truncate") && n == 3) return truncate(a[1], atoll(a[2]));
    if (!strcmp(op, "rename") && n == 4) return renameat2(AT_FDCWD, a[1], AT_FDCWD, a[2], (unsigned)atoi(a[3]));
    if (!strcmp(op, "link") && n == 3) return link(a[1], a[2]);
    if (!strcmp(op, "unlink")) return unlink(a[1]);
    if (!strcmp(op, "mkdir")) return mkdir(a[1], 0755);
    if (!strcmp(op, "rmdir")) return rmdir(a[1]);
    if (!strcmp(op, "symlink") && n == 3) return symlink(a[1], a[2]);
    if (!strcmp(op, "readdir")) return do_readdir(a[1]);
    if (!strcmp(op, "stat")) return stat(a[1], &st);
    if (!strcmp(op, "lstat")) return lstat(a[1], &st);
    if (!strcmp(op, "setxattr") && n == 4) return setxattr(a[1], a[2], a[3], strlen(a[3]), 0);
    if (!strcmp(op, "getxattr") && n == 3) return getxattr(a[1], a[2], buf, sizeof buf) < 0 ? -1 : 0;
    if (!strcmp(op, "listxattr")) return listxattr(a[1], buf, sizeof buf) < 0 ? -1 : 0;
    if (!strcmp(op, "removexattr") && n == 3) return removexattr(a[1], a[2]);
    if (!strcmp(op, "sync")) { sync(); return 0; }
    if (!strcmp(op, "umount")) return umount(mnt);
    errno = ENOSYS;
    return -1;
}

/* Forget what the page cache holds of the disk (read before the host rewrote it). The whole
 * drop_caches is not needed (unmounting evicted the file system's inodes; the snapshot restore
 * resets the rest) and cost 60-160 ms per input under emulation. */
static void drop_block_caches(const char *dev)
{
    int fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (ioctl(fd, BLKFLSBUF, 0)) perror("BLKFLSBUF");
        close(fd);
    }
}

static char line[4 * FUZZ_ARG_MAX];

/* This input's op lines, read from its disk at `offset` (after the block caches were dropped). */
static FILE *open_ops(const char *dev, long offset)
{
    static char text[OPS_MAX + 1];
    char head[12];
    unsigned int length = 0;
    int fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && pread(fd, head, sizeof head, offset) == (ssize_t)sizeof head && !memcmp(head, OPS_MAGIC, 8)) {
        memcpy(&length, head + 8, 4);
        if (length > OPS_MAX || pread(fd, text, length, offset + (long)sizeof head) != (ssize_t)length) length = 0;
    } else {
        printf("fuzz: no ops on %s\n", dev);
    }
    if (fd >= 0) close(fd);
    text[length] = 0;
    return length ? fmemopen(text, length, "r") : fopen("/dev/null", "r");
}

/* Read the next op line of this input into `line`; 0 at its end. */
static int next_op_line(FILE *ops)
{
    if (!ops || !fgets(line, sizeof line, ops)) return 0;
    line[strcspn(line, "\r\n")] = 0;
    return 1;
}

static void mark_input(int slot)
{
    printf("== %d\n", slot);
    fflush(stdout);
    int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        char text[64];
        int len = snprintf(text, sizeof text, "sisctl-fuzz: input %d\n", slot);
        if (write(fd, text, (size_t)len) < 0) perror("fuzz: /dev/kmsg");
        close(fd);
    }
}

/* One input: mount the disk `dev` on `mnt`, run its ops, unmount. */
static void fuzz_one(const char *dev, const char *mnt, const char *options, long ops_offset, struct kcov *kcov,
                     long kcov_offset)
{
    static char decoded[FUZZ_ARGS][FUZZ_ARG_MAX];
    char *args[FUZZ_ARGS + 1];
    mkdir(mnt, 0755);
    drop_block_caches(dev);
    FILE *ops = open_ops(dev, ops_offset);
    int tracing = kcov->fd >= 0 && kcov_enable(kcov) == 0;
    long long t0 = mono_ns();
    /* nodev: a mutated inode can turn a file into any device node (the console among them) */
    int mounted = mount(dev, mnt, "ext4", MS_NODEV | MS_NOSUID, options) == 0;
    printf("mount %d\n", mounted ? 0 : errno);
    fflush(stdout);
    long long t1 = mono_ns();
    int inside = chdir(mnt) == 0;
    if (!inside) perror("fuzz: chdir");   /* its ops are skipped: never run them elsewhere */
    for (int index = 0; next_op_line(ops); index++) {
        if (!inside) continue;
        int n = 0, bad = 0;
        for (char *save, *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            if (n == FUZZ_ARGS || decode_arg(tok, decoded[n], FUZZ_ARG_MAX) < 0) { bad = 1; break; }
            args[n] = decoded[n];
            n++;
        }
        for (int i = n; i <= FUZZ_ARGS; i++)
            args[i] = "";
        errno = 0;
        int r = bad || n == 0 ? (errno = E2BIG, -1) : run_fuzz_op(mnt, n, args);
        printf("o %d %d\n", index, r ? errno : 0);
        fflush(stdout);
        if (n && !strcmp(args[0], "umount") && r == 0) mounted = 0;
    }
    if (ops) fclose(ops);
    if (chdir("/")) perror("fuzz: chdir /");
    long long t2 = mono_ns();
    if (mounted) printf("umount %d\n", umount(mnt) ? errno : 0);
    else printf("umount -\n");
    long long t3 = mono_ns();
    if (kcov_offset >= 0)
        printf("kcov %ld\n", tracing ? kcov_finish(kcov, dev, kcov_offset) : (long)kcov->fd);
    printf("t %lld %lld %lld\n", (t1 - t0) / 1000, (t2 - t1) / 1000, (t3 - t2) / 1000);
    fflush(stdout);
}

/* fuzz SERIAL[,SERIAL...] MNTBASE MOUNTOPTS */
int tool_fuzz(int argc, char **argv)
{
    const char *serials = argv[0], *mnt_base = argv[1], *options = argv[2];
    (void)argc;
    const char *ops_env = getenv("SISCTL_FUZZ_OPS");
    if (!ops_env) {
        fprintf(stderr, "fuzz: SISCTL_FUZZ_OPS (the byte of each disk where its ops are) is not set\n");
        return 2;
    }
    long ops_offset = atol(ops_env);
    const char *env = getenv("SISCTL_KCOV_OFFSET");
    long kcov_offset = env ? atol(env) : -1;
    struct kcov kcov = { .fd = -ENOSYS, .area = NULL };
    if (env) kcov_open(&kcov);
    char list[512];
    snprintf(list, sizeof list, "%s", serials);
    int slot = 0;
    for (char *save, *serial = strtok_r(list, ",", &save); serial; serial = strtok_r(NULL, ",", &save), slot++) {
        mark_input(slot);
        const char *dev = disk_by_serial(serial);
        char mnt[256];
        snprintf(mnt, sizeof mnt, "%s/%s", mnt_base, serial);
        if (!dev) {
            printf("fuzz: no disk with serial %s\n", serial);
            continue;
        }
        char own[64];
        snprintf(own, sizeof own, "%s", dev);   /* disk_by_serial's buffer is reused */
        fuzz_one(own, mnt, options, ops_offset, &kcov, kcov_offset);
    }
    return 0;
}
