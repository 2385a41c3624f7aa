"""Reproducer files for an input: a debugfs script that turns the seed into its image, the ops as the
agent reads them, and a standalone C program (static aarch64) that mounts the image and runs them.
"""
from __future__ import annotations

import json
from pathlib import Path

from sisctl.campaign.fuzz.executor import MOUNT_OPTIONS
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.mutate import debugfs_script
from sisctl.campaign.fuzz.ops import encode

C_HEADER = r"""/* Reproducer of a sisctl fuzz finding. Build: aarch64-linux-gnu-gcc -static -O2 -o repro repro.c
 * Run as root in the guest: ./repro /dev/vdX  (the disk holding image.img). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

#define H static __attribute__((unused))
H void report(int i, const char *what, long r) { printf("%d %s -> %s\n", i, what, r < 0 ? strerror(errno) : "ok"); }
H long fd_op(const char *p, int flags) { int fd = open(p, flags | O_CLOEXEC | O_NONBLOCK, 0644); return fd < 0 ? -1 : close(fd); }
H long rw(const char *p, long long off, long long len, int write_it) {
    int fd = open(p, (write_it ? O_WRONLY : O_RDONLY) | O_NONBLOCK); if (fd < 0) return -1;
    char *b = calloc(1, len > 0 ? len : 1); long r = write_it ? pwrite(fd, b, len, off) : pread(fd, b, len, off);
    free(b); close(fd); return r < 0 ? -1 : 0; }
H long falloc(const char *p, int mode, long long off, long long len) {
    int fd = open(p, O_WRONLY | O_NONBLOCK); if (fd < 0) return -1; long r = fallocate(fd, mode, off, len); close(fd); return r; }
H long syncfile(const char *p, int data) {
    int fd = open(p, O_RDONLY | O_NONBLOCK); if (fd < 0) return -1; long r = data ? fdatasync(fd) : fsync(fd); close(fd); return r; }
H long mapwrite(const char *p, long long off, long long len) {
    int fd = open(p, O_RDWR | O_NONBLOCK); if (fd < 0) return -1; off &= ~4095LL;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
    if (m == MAP_FAILED) { close(fd); return -1; } memset(m, 0x5a, len); long r = msync(m, len, MS_SYNC);
    munmap(m, len); close(fd); return r; }
H long listdir(const char *p) { DIR *d = opendir(p); if (!d) return -1; while (readdir(d)); closedir(d); return 0; }

int main(int argc, char **argv)
{
    const char *mnt = "/mnt/repro";
    struct stat st;
    char buf[256];
    (void)st; (void)buf;
    if (argc != 2) { fprintf(stderr, "usage: %s DEVICE\n", argv[0]); return 2; }
    mkdir(mnt, 0755);
"""


def c_string(value) -> str:
    data = str(value).encode("utf-8", errors="surrogateescape")
    return '"' + "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\?' else f"\\{b:03o}" for b in data) + '"'


def c_call(op: list) -> str:
    """One op as a C expression returning < 0 on failure (errno set)."""
    name, a = op[0], [c_string(x) if isinstance(x, str) else str(x) for x in op[1:]]
    calls = {
        "creat": lambda: f"fd_op({a[0]}, O_CREAT | O_WRONLY)",
        "open": lambda: f"fd_op({a[0]}, {a[1]})",
        "read": lambda: f"rw({a[0]}, {a[1]}LL, {a[2]}LL, 0)",
        "write": lambda: f"rw({a[0]}, {a[1]}LL, {a[2]}LL, 1)",
        "fallocate": lambda: f"falloc({a[0]}, {a[1]}, {a[2]}LL, {a[3]}LL)",
        "mmapwrite": lambda: f"mapwrite({a[0]}, {a[1]}LL, {a[2]}LL)",
        "fsync": lambda: f"syncfile({a[0]}, 0)",
        "fdatasync": lambda: f"syncfile({a[0]}, 1)",
        "truncate": lambda: f"truncate({a[0]}, {a[1]}LL)",
        "rename": lambda: f"renameat2(AT_FDCWD, {a[0]}, AT_FDCWD, {a[1]}, {a[2]})",
        "link": lambda: f"link({a[0]}, {a[1]})",
        "unlink": lambda: f"unlink({a[0]})",
        "mkdir": lambda: f"mkdir({a[0]}, 0755)",
        "rmdir": lambda: f"rmdir({a[0]})",
        "symlink": lambda: f"symlink({a[0]}, {a[1]})",
        "readdir": lambda: f"listdir({a[0]})",
        "stat": lambda: f"stat({a[0]}, &st)",
        "lstat": lambda: f"lstat({a[0]}, &st)",
        "setxattr": lambda: f"setxattr({a[0]}, {a[1]}, {a[2]}, strlen({a[2]}), 0)",
        "getxattr": lambda: f"getxattr({a[0]}, {a[1]}, buf, sizeof buf)",
        "listxattr": lambda: f"listxattr({a[0]}, buf, sizeof buf)",
        "removexattr": lambda: f"removexattr({a[0]}, {a[1]})",
        "sync": lambda: "(sync(), 0L)",
        "umount": lambda: "umount(mnt)",
    }
    return calls[name]()


def c_program(fuzz_input: FuzzInput) -> str:
    body = [f'    report(-1, "mount", mount(argv[1], mnt, "ext4", MS_NODEV | MS_NOSUID, "{MOUNT_OPTIONS}"));',
            "    if (chdir(mnt)) { perror(\"chdir\"); return 1; }"]
    for i, op in enumerate(fuzz_input.ops):
        body.append(f"    report({i}, {c_string(op[0])}, {c_call(op)});")
    body += ["    if (chdir(\"/\")) return 1;", '    report(-1, "umount", umount(mnt));', "    return 0;", "}"]
    return C_HEADER + "\n".join(body) + "\n"


def write_reproducer(folder: Path, fuzz_input: FuzzInput) -> None:
    raw = [m for m in fuzz_input.mutations if m[0] == "raw"]
    script = (f"# debugfs -w -f repro.debugfs IMAGE  (IMAGE: a copy of seed {fuzz_input.seed})\n"
              + debugfs_script(fuzz_input.mutations, fuzz_input.repair)
              + "".join(f"# then write bytes {data} at offset {offset} (raw, no checksum repair)\n"
                        for _, offset, data in raw))
    (folder / "repro.debugfs").write_text(script)
    (folder / "ops.txt").write_text(encode(fuzz_input.ops))
    (folder / "repro.c").write_text(c_program(fuzz_input))
    (folder / "mutations.json").write_text(json.dumps(fuzz_input.mutations) + "\n")
