/* jbd2 journal figures (journal.c). */
#ifndef SISAGENT_JOURNAL_H
#define SISAGENT_JOURNAL_H
#include <stddef.h>

int journal_info(const char *dir, char *info, size_t size);   /* its /proc/fs/jbd2/.../info path */
int journal_stats(const char *info, long long *transactions, long long *commit_us);

#endif
