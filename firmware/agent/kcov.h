/* KCOV coverage of this task (kcov.c). */
#ifndef SISAGENT_KCOV_H
#define SISAGENT_KCOV_H

struct kcov { int fd; unsigned long *area; };   /* fd: -errno when this kernel cannot trace */

void kcov_open(struct kcov *k);
int kcov_enable(struct kcov *k);
long kcov_finish(struct kcov *k, const char *dev, long offset);

#endif
