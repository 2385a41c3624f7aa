/* The jbd2 journal figures of the file system holding a directory (bench.c's jbd2 workload). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "journal.h"

/* The journal of the file system holding `dir`: /proc/fs/jbd2/<disk>-<inode>/info, the disk
 * named through /sys/dev/block/MAJOR:MINOR. */
int journal_info(const char *dir, char *info, size_t size)
{
    struct stat st;
    char link[512], target[512];
    if (stat(dir, &st)) return -1;
    snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
    ssize_t len = readlink(link, target, sizeof target - 1);
    if (len <= 0) return -1;
    target[len] = 0;
    const char *disk = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
    DIR *d = opendir("/proc/fs/jbd2");
    struct dirent *e;
    int found = -1;
    size_t n = strlen(disk);
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, disk, n) && e->d_name[n] == '-') {
            snprintf(info, size, "/proc/fs/jbd2/%s/info", e->d_name);
            found = 0;
            break;
        }
    if (d) closedir(d);
    errno = found ? ENOENT : 0;
    return found;
}

/* A line "NUMBER<text>..." (after blanks): the number, when the text follows it. (sscanf's count
 * does not say whether literal text after a conversion matched: "%lldus average" also "reads"
 * the "5" of "5 logged blocks per transaction".) */
static int number_before(const char *line, const char *text, long long *value)
{
    int at = 0;
    long long v;
    if (sscanf(line, " %lld%n", &v, &at) != 1 || strncmp(line + at, text, strlen(text))) return 0;
    *value = v;
    return 1;
}

/* From the info file: "T transactions (R requested), ..." and "  Uus average transaction commit
 * time" (jbd2's running average, each new commit weighted 1/4, in whole microseconds). */
int journal_stats(const char *info, long long *transactions, long long *commit_us)
{
    char line[256];
    FILE *f = fopen(info, "r");
    if (!f) return -1;
    *transactions = *commit_us = -1;
    while (fgets(line, sizeof line, f)) {
        number_before(line, " transactions", transactions);
        number_before(line, "us average transaction commit time", commit_us);
    }
    fclose(f);
    return 0;
}
