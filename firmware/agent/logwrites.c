/*
 * Write logs kept on the board, for ext4-crash's log-writes mode:
 *
 *   sisagent logwrites NAME DEV LOGDEV
 *       Put the kernel's device-mapper log-writes target over DEV, logging every
 *       write, flush and FUA to LOGDEV; prints the new device ("/dev/dm-N").
 *   sisagent logwrites-end NAME
 *       Mark the log's end (so its super counts every entry) and remove NAME.
 *   sisagent log-entries LOGDEV
 *       Print "super ENTRIES SECTORSIZE", then "e INDEX SECTOR NR_SECTORS FLAGS
 *       DATA_OFFSET" per entry (the format of sisctl/campaign/ext4crash/blocklog.py).
 *   sisagent log-replay LOGDEV DEV UPTO DROPPED
 *       Apply the log's first UPTO entries to DEV, in order, except the indexes in
 *       DROPPED (a comma list, or "-"): writes as logged, discards as zeros.
 *
 * Device-mapper is driven by its ioctls directly: the guest has no dmsetup.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sisagent.h"

#define LOG_MAGIC 0x6A736677736872ULL
#define FLAG_DISCARD 4
#define FLAG_MARK 8

struct dm_request {
    struct dm_ioctl io;
    char data[8192];
};

static int dm_call(unsigned long command, const char *name, struct dm_request *req, const char *what)
{
    int fd = open("/dev/mapper/control", O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "logwrites: /dev/mapper/control: %s (is device-mapper, dm_mod, loaded?)\n", strerror(errno));
        return -1;
    }
    req->io.version[0] = DM_VERSION_MAJOR;
    req->io.data_size = sizeof *req;
    req->io.data_start = sizeof req->io;
    snprintf(req->io.name, sizeof req->io.name, "%s", name);
    int rc = ioctl(fd, command, req);
    if (rc < 0)
        fprintf(stderr, "logwrites: %s %s: %s\n", what, name, strerror(errno));
    close(fd);
    return rc;
}

static long long device_sectors(const char *dev)
{
    int fd = open(dev, O_RDONLY);
    if (fd < 0) return -1;
    off_t end = lseek(fd, 0, SEEK_END);
    close(fd);
    return end < 0 ? -1 : (long long)(end / 512);
}

/* logwrites NAME DEV LOGDEV */
int tool_logwrites(int argc, char **argv)
{
    (void)argc;
    const char *name = argv[0], *dev = argv[1], *logdev = argv[2];
    long long sectors = device_sectors(dev);
    if (sectors <= 0) { fprintf(stderr, "logwrites: cannot size %s: %s\n", dev, strerror(errno)); return 1; }
    struct dm_request req;
    memset(&req, 0, sizeof req);
    if (dm_call(DM_DEV_CREATE, name, &req, "create")) return 1;
    dev_t made = (dev_t)req.io.dev;
    memset(&req, 0, sizeof req);
    struct dm_target_spec *spec = (struct dm_target_spec *)req.data;
    spec->sector_start = 0;
    spec->length = (uint64_t)sectors;
    snprintf(spec->target_type, sizeof spec->target_type, "log-writes");
    snprintf(req.data + sizeof *spec, sizeof req.data - sizeof *spec, "%s %s", dev, logdev);
    req.io.target_count = 1;
    if (dm_call(DM_TABLE_LOAD, name, &req, "load the log-writes table of")) goto undo;
    memset(&req, 0, sizeof req);
    if (dm_call(DM_DEV_SUSPEND, name, &req, "resume")) goto undo;   /* no suspend flag: resume */
    printf("/dev/dm-%u\n", minor(made));
    return 0;
undo:
    memset(&req, 0, sizeof req);
    dm_call(DM_DEV_REMOVE, name, &req, "remove");
    return 1;
}

/* logwrites-end NAME */
int tool_logwrites_end(int argc, char **argv)
{
    (void)argc;
    struct dm_request req;
    memset(&req, 0, sizeof req);
    struct dm_target_msg *msg = (struct dm_target_msg *)req.data;
    msg->sector = 0;
    snprintf(msg->message, sizeof req.data - sizeof *msg, "mark sisctl-end");
    int failed = dm_call(DM_TARGET_MSG, argv[0], &req, "mark the end of") != 0;
    memset(&req, 0, sizeof req);
    failed |= dm_call(DM_DEV_REMOVE, argv[0], &req, "remove") != 0;   /* waits for the log's last writes */
    sync();
    return failed;
}

struct entry { uint64_t sector, nr_sectors, flags, data_len; };

/* The log's entries as the super counts them; returns their number, or -1 (message printed). */
static long read_entries(int fd, const char *path, uint32_t *sectorsize, struct entry **out, long long **offsets)
{
    uint64_t head[3];
    uint32_t ss;
    if (pread(fd, head, sizeof head, 0) != sizeof head || pread(fd, &ss, 4, 24) != 4) {
        fprintf(stderr, "log: %s: cannot read the super: %s\n", path, strerror(errno));
        return -1;
    }
    if (head[0] != LOG_MAGIC || head[1] != 1 || ss < 512 || ss > 65536 || (ss & (ss - 1))) {
        fprintf(stderr, "log: %s: not a dm-log-writes log (magic %#llx version %llu sector size %u)\n",
                path, (unsigned long long)head[0], (unsigned long long)head[1], ss);
        return -1;
    }
    long count = (long)head[2];
    *out = calloc(count ? count : 1, sizeof **out);
    *offsets = calloc(count ? count : 1, sizeof **offsets);
    long long at = ss;
    for (long i = 0; i < count; i++) {
        struct entry *e = &(*out)[i];
        if (pread(fd, e, sizeof *e, at) != sizeof *e) {
            fprintf(stderr, "log: %s: entry %ld of %ld cannot be read\n", path, i, count);
            return -1;
        }
        (*offsets)[i] = at + ss;
        at += ss + ((e->flags & FLAG_DISCARD) ? 0 : (long long)e->nr_sectors * ss);
    }
    *sectorsize = ss;
    return count;
}

/* log-entries LOGDEV */
int tool_log_entries(int argc, char **argv)
{
    (void)argc;
    int fd = open(argv[0], O_RDONLY);
    if (fd < 0) { fprintf(stderr, "log: %s: %s\n", argv[0], strerror(errno)); return 1; }
    struct entry *entries;
    long long *offsets;
    uint32_t ss;
    long count = read_entries(fd, argv[0], &ss, &entries, &offsets);
    close(fd);
    if (count < 0) return 1;
    printf("super %ld %u\n", count, ss);
    for (long i = 0; i < count; i++)
        printf("e %ld %llu %llu %llu %lld\n", i, (unsigned long long)entries[i].sector,
               (unsigned long long)entries[i].nr_sectors, (unsigned long long)entries[i].flags, offsets[i]);
    return 0;
}

static int dropped(const char *list, long index)
{
    for (const char *p = list; *p; ) {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p) return 0;
        if (n == index) return 1;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* log-replay LOGDEV DEV UPTO DROPPED */
int tool_log_replay(int argc, char **argv)
{
    (void)argc;
    int log = open(argv[0], O_RDONLY), dev = open(argv[1], O_WRONLY);
    if (log < 0 || dev < 0) { fprintf(stderr, "replay: %s / %s: %s\n", argv[0], argv[1], strerror(errno)); return 1; }
    struct entry *entries;
    long long *offsets;
    uint32_t ss;
    long count = read_entries(log, argv[0], &ss, &entries, &offsets), upto = atol(argv[2]);
    if (count < 0) return 1;
    if (upto < 0 || upto > count) { fprintf(stderr, "replay: upto %ld outside 0..%ld\n", upto, count); return 1; }
    const char *drop = strcmp(argv[3], "-") ? argv[3] : "";
    size_t room = 1 << 20;
    char *buf = malloc(room);
    for (long i = 0; i < upto; i++) {
        struct entry *e = &entries[i];
        size_t length = (size_t)e->nr_sectors * ss;
        if (!length || (e->flags & FLAG_MARK) || dropped(drop, i)) continue;
        if (length > room) { room = length; buf = realloc(buf, room); }
        if (e->flags & FLAG_DISCARD) memset(buf, 0, length);
        else if (pread(log, buf, length, offsets[i]) != (ssize_t)length) {
            fprintf(stderr, "replay: data of entry %ld is cut short\n", i);
            return 1;
        }
        if (pwrite(dev, buf, length, (off_t)(e->sector * ss)) != (ssize_t)length) {
            fprintf(stderr, "replay: writing entry %ld to %s: %s\n", i, argv[1], strerror(errno));
            return 1;
        }
    }
    if (fsync(dev)) { fprintf(stderr, "replay: fsync %s: %s\n", argv[1], strerror(errno)); return 1; }
    close(dev);
    close(log);
    printf("replayed %ld\n", upto);
    return 0;
}
