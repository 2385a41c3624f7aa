/*
 * Guest-side tools for file-system campaigns, run as `sisagent TOOL ARGS`:
 *
 *   sisagent ops MOUNT MARKDEV MARKOFFSET OPSFILE
 *       Run the operations in OPSFILE (sisctl/campaign/ext4crash/ops.py defines
 *       the format) inside MOUNT. After each fsync/fdatasync/sync returns, write a
 *       durable mark block to MARKDEV at MARKOFFSET + 4096 * n, so the host can
 *       tell from a crashed disk how many persistence calls completed.
 *   sisagent dump DIR
 *       Print the tree under DIR: "d PATH", "f PATH SIZE CRC32 NLINK",
 *       "l PATH TARGET", "e PATH ERRNO" (lost+found left out).
 *   sisagent marks DEV OFFSET
 *       Print "mark PERSIST OP" for each valid mark block from OFFSET on, in
 *       order until the first missing one, then "marks N" (the count).
 *   sisagent restore DEV BYTES
 *       Make DEV's first BYTES a copy of the BYTES after them (the pristine copy),
 *       writing only the 4 KiB blocks that differ (BYTES: whole 4 KiB blocks);
 *       prints "restored N" (blocks).
 *   sisagent check MNTBASE SERIAL...
 *       For each virtio disk with that serial (or NAME=DEVICE: that device,
 *       under the name NAME): mount it as ext4 under
 *       MNTBASE/SERIAL (the kernel recovers the journal), time the mount, dump
 *       the tree, create+fsync+delete a file, unmount. Prints "== SERIAL",
 *       "recovery_ns N", the dump, "sanity ok|failed ...", "mount failed:
 *       ..." or "umount failed: ..." when they fail, and "times_ns DUMP SANITY
 *       UMOUNT" (nanoseconds of each step). No process is forked.
 *   sisagent now
 *       Print CLOCK_MONOTONIC in nanoseconds.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "sisagent.h"

#define MARK_SIZE 4096
#define MARK_MAGIC "SISMARK1"

/* A write's data: xorshift32 words, little-endian (pattern() in sisctl/campaign/ext4crash/ops.py). */
static void pattern(uint32_t seed, unsigned char *out, size_t len)
{
    uint32_t x = xorshift_seed(seed);
    for (size_t i = 0; i < len; i += 4) {
        x = xorshift_next(x);
        for (size_t k = 0; k < 4 && i + k < len; k++)
            out[i + k] = (unsigned char)(x >> (8 * k));
    }
}

static int write_mark(int dev, long long base, uint32_t persist, uint32_t op)
{
    static unsigned char *block;
    if (!block && posix_memalign((void **)&block, MARK_SIZE, MARK_SIZE))
        return -1;
    memset(block, 0, MARK_SIZE);
    memcpy(block, MARK_MAGIC, 8);
    memcpy(block + 8, &persist, 4);
    memcpy(block + 12, &op, 4);
    uint32_t crc = crc32_of(block, 16);
    memcpy(block + 16, &crc, 4);
    if (pwrite(dev, block, MARK_SIZE, base + (long long)persist * MARK_SIZE) != MARK_SIZE)
        return -1;
    return 0;
}

/* marks DEV OFFSET: the marks on a crashed device, as read_marks() in sisctl/campaign/ext4crash/disk.py */
int tool_marks(int argc, char **argv)
{
    (void)argc;
    long long base = atoll(argv[1]);
    int dev = open(argv[0], O_RDONLY);
    if (dev < 0) { fprintf(stderr, "marks: cannot open %s: %s\n", argv[0], strerror(errno)); return 1; }
    unsigned char head[20];
    uint32_t n = 0, persist, op, crc;
    while (n < (8u << 20) / MARK_SIZE && pread(dev, head, 20, base + (long long)n * MARK_SIZE) == 20
           && !memcmp(head, MARK_MAGIC, 8)) {
        memcpy(&persist, head + 8, 4);
        memcpy(&op, head + 12, 4);
        memcpy(&crc, head + 16, 4);
        if (persist != n || crc != crc32_of(head, 16))
            break;
        printf("mark %u %u\n", persist, op);
        n++;
    }
    close(dev);
    printf("marks %u\n", n);
    return 0;
}

/* restore DEV BYTES */
int tool_restore(int argc, char **argv)
{
    (void)argc;
    long long bytes = atoll(argv[1]), changed = 0;
    const size_t chunk = 1 << 20;
    /* O_DIRECT: what is on the device, never a page cached before a file system wrote past it */
    int dev = open(argv[0], O_RDWR | O_DIRECT);
    char *crash = NULL, *pristine = NULL;
    if (posix_memalign((void **)&crash, 4096, chunk) || posix_memalign((void **)&pristine, 4096, chunk)) crash = NULL;
    if (dev < 0 || !crash || !pristine) { fprintf(stderr, "restore: %s: %s\n", argv[0], strerror(errno)); return 1; }
    for (long long at = 0; at < bytes; at += chunk) {
        size_t n = bytes - at < (long long)chunk ? (size_t)(bytes - at) : chunk;
        if (pread(dev, crash, n, at) != (ssize_t)n || pread(dev, pristine, n, bytes + at) != (ssize_t)n) {
            fprintf(stderr, "restore: reading %s at %lld: %s\n", argv[0], at, strerror(errno));
            return 1;
        }
        for (size_t block = 0; block < n; block += 4096) {
            size_t len = n - block < 4096 ? n - block : 4096;
            if (!memcmp(crash + block, pristine + block, len)) continue;
            if (pwrite(dev, pristine + block, len, at + (long long)block) != (ssize_t)len) {
                fprintf(stderr, "restore: writing %s: %s\n", argv[0], strerror(errno));
                return 1;
            }
            changed++;
        }
    }
    if (fsync(dev)) { fprintf(stderr, "restore: fsync %s: %s\n", argv[0], strerror(errno)); return 1; }
    close(dev);
    printf("restored %lld\n", changed);
    return 0;
}

static int sync_path(const char *path, int data_only)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int r = data_only ? fdatasync(fd) : fsync(fd);
    close(fd);
    return r;
}

static int do_write(const char *path, long long off, long long len, uint32_t seed)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    unsigned char *buf = malloc(len ? (size_t)len : 1);
    if (!buf) { close(fd); errno = ENOMEM; return -1; }
    pattern(seed, buf, (size_t)len);
    ssize_t done = pwrite(fd, buf, (size_t)len, off);
    free(buf);
    close(fd);
    return done == len ? 0 : -1;
}

static int do_falloc(const char *path, long long off, long long len)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    int r = fallocate(fd, 0, off, len);
    close(fd);
    return r;
}

/* Returns 1 for a persistence op, 0 for another op, -1 on error. */
static int run_op(char *line)
{
    char *f[6] = {0};
    int n = 0;
    for (char *tok = strtok(line, " "); tok && n < 6; tok = strtok(NULL, " "))
        f[n++] = tok;
    if (n == 0) return 0;
    const char *op = f[0];
    int r;
    if (!strcmp(op, "creat")) {
        r = open(f[1], O_CREAT | O_WRONLY, 0644);
        if (r >= 0) r = close(r);
    } else if (!strcmp(op, "mkdir")) r = mkdir(f[1], 0755);
    else if (!strcmp(op, "write")) r = do_write(f[1], atoll(f[2]), atoll(f[3]), (uint32_t)strtoul(f[4], NULL, 10));
    else if (!strcmp(op, "falloc")) r = do_falloc(f[1], atoll(f[2]), atoll(f[3]));
    else if (!strcmp(op, "truncate")) r = truncate(f[1], atoll(f[2]));
    else if (!strcmp(op, "link")) r = link(f[1], f[2]);
    else if (!strcmp(op, "unlink")) r = unlink(f[1]);
    else if (!strcmp(op, "rmdir")) r = rmdir(f[1]);
    else if (!strcmp(op, "rename")) r = rename(f[1], f[2]);
    else if (!strcmp(op, "symlink")) r = symlink(f[1], f[2]);
    else if (!strcmp(op, "fsync")) return sync_path(f[1], 0) ? -1 : 1;
    else if (!strcmp(op, "fdatasync")) return sync_path(f[1], 1) ? -1 : 1;
    else if (!strcmp(op, "sync")) { sync(); return 1; }
    else { errno = EINVAL; return -1; }
    return r < 0 ? -1 : 0;
}

/* ops MOUNT MARKDEV MARKOFFSET OPSFILE */
int tool_ops(int argc, char **argv)
{
    const char *mount = argv[0], *markdev = argv[1], *opsfile = argv[3];
    long long markoff = atoll(argv[2]);
    (void)argc;
    FILE *ops = fopen(opsfile, "r");
    int dev = open(markdev, O_WRONLY | O_DIRECT | O_DSYNC);
    if (!ops || dev < 0 || chdir(mount)) {
        fprintf(stderr, "ops: cannot open %s / %s / enter %s: %s\n", opsfile, markdev, mount, strerror(errno));
        return 2;
    }
    char line[4096];
    uint32_t index = 0, persisted = 0;
    while (fgets(line, sizeof line, ops)) {
        line[strcspn(line, "\r\n")] = 0;
        char copy[4096];
        strcpy(copy, line);
        int r = run_op(line);
        if (r < 0) {
            printf("FAIL %u %d %s\n", index, errno, copy);
            return 1;
        }
        if (r == 1) {
            if (write_mark(dev, markoff, persisted, index)) {
                printf("FAIL %u %d mark\n", index, errno);
                return 1;
            }
            persisted++;
        }
        index++;
    }
    printf("DONE %u %u\n", index, persisted);
    return 0;
}

static void dump_tree(const char *root, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *dir = opendir(path);
    if (!dir) { printf("e %s %d\n", *rel ? rel : ".", errno); return; }
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (!*rel && !strcmp(de->d_name, "lost+found")) continue;
        char child[PATH_MAX], full[PATH_MAX];
        snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        snprintf(full, sizeof full, "%s/%s", root, child);
        struct stat st;
        if (lstat(full, &st)) { printf("e %s %d\n", child, errno); continue; }
        if (S_ISDIR(st.st_mode)) {
            printf("d %s\n", child);
            dump_tree(root, child);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(full, target, sizeof target - 1);
            if (n < 0) { printf("e %s %d\n", child, errno); continue; }
            target[n] = 0;
            printf("l %s %s\n", child, target);
        } else {
            int fd = open(full, O_RDONLY);
            if (fd < 0) { printf("e %s %d\n", child, errno); continue; }
            unsigned char buf[65536];
            uint32_t crc = 0;
            long long size = 0;
            ssize_t n;
            while ((n = read(fd, buf, sizeof buf)) > 0) {
                crc = crc32_update(crc, buf, (size_t)n);
                size += n;
            }
            int err = n < 0 ? errno : 0;
            close(fd);
            if (err) printf("e %s %d\n", child, err);
            else printf("f %s %lld %08x %lu\n", child, size, crc, (unsigned long)st.st_nlink);
        }
    }
    closedir(dir);
}

static void sanity(const char *mnt)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.sisctl-sanity", mnt);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    int ok = fd >= 0 && write(fd, "sanity\n", 7) == 7 && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    ok = ok && unlink(path) == 0;
    if (ok) printf("sanity ok\n");
    else printf("sanity failed: %s\n", strerror(errno));
}

/* check MNTBASE SERIAL... */
int tool_check(int argc, char **argv)
{
    const char *base = argv[0];
    int count = argc - 1;
    char **serials = argv + 1;
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);   /* forget the previous images' blocks */
    if (fd >= 0) { if (write(fd, "3", 1) < 0) perror("drop_caches"); close(fd); }
    for (int i = 0; i < count; i++) {
        char mnt[PATH_MAX];
        char *named = strchr(serials[i], '=');
        const char *dev = named ? named + 1 : disk_by_serial(serials[i]);
        if (named) *named = 0;
        printf("== %s\n", serials[i]);
        snprintf(mnt, sizeof mnt, "%s/%s", base, serials[i]);
        mkdir(mnt, 0755);
        if (!dev) { printf("mount failed: no disk with serial %s\n", serials[i]); continue; }
        long long t0 = mono_ns();
        if (mount(dev, mnt, "ext4", 0, NULL)) {
            printf("mount failed: %s\n", strerror(errno));
            continue;
        }
        long long t1 = mono_ns();
        printf("recovery_ns %lld\n", t1 - t0);
        dump_tree(mnt, "");
        long long t2 = mono_ns();
        sanity(mnt);
        long long t3 = mono_ns();
        if (umount(mnt)) printf("umount failed: %s\n", strerror(errno));
        printf("times_ns %lld %lld %lld\n", t2 - t1, t3 - t2, mono_ns() - t3);
        fflush(stdout);
    }
    return 0;
}

/* dump DIR */
int tool_dump(int argc, char **argv)
{
    (void)argc;
    dump_tree(argv[0], "");
    return 0;
}

int tool_now(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("%lld\n", mono_ns());
    return 0;
}
