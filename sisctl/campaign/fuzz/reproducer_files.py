"""Reproducer files for an input: a debugfs script that turns the seed into its image byte for byte,
the ops as the agent reads them, and a standalone C program (static aarch64) that mounts the image
and runs them.

The debugfs script replays what mutate.apply does: the structured mutations in one debugfs session
(with debugfs's clock set to the time that session stamped on the superblock), then, after closing
and reopening the file system, the raw bytes as zap_block commands (one per run of equal bytes in a
block). The reopen matters: closing a session that changed the superblock rewrites the superblock and
group descriptors, which would undo raw bytes written there before. Each script is checked against
the image it stands for when written; where it cannot reproduce it (structured mutations that leave
a superblock debugfs cannot open, so the raw bytes have nowhere to go), its header says so.
"""
from __future__ import annotations

import json
import shutil
import struct
import tempfile
from pathlib import Path

from sisctl import proc
from sisctl.campaign.fuzz.executor import MOUNT_OPTIONS
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.mutate import debugfs_script
from sisctl.campaign.fuzz.ops import encode
from sisctl.campaign.fuzz.seeds import Seed

CROSS_GCC = "aarch64-linux-gnu-gcc"
WORK_IMAGE = "from-seed.img"        # the name the debugfs script opens, in the folder it runs in
SUPERBLOCK = 1024
S_WTIME, S_WTIME_HI, S_LOG_BLOCK_SIZE = 0x30, 0x274, 0x18

C_HEADER = r"""/* Reproducer of a sisctl fuzz finding. Build: aarch64-linux-gnu-gcc -static -O2 -o repro repro.c
 * Run as root in the guest: ./repro /dev/vdX, or ./repro SERIAL (the virtio disk with that serial),
 * where that disk holds image.img. */
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
H const char *disk_by_serial(const char *serial) {
    static char dev[64]; char path[300], value[64]; struct dirent *e; DIR *d = opendir("/sys/block");
    while (d && (e = readdir(d))) {
        FILE *f; snprintf(path, sizeof path, "/sys/block/%s/serial", e->d_name);
        if (!(f = fopen(path, "r"))) continue;
        if (!fgets(value, sizeof value, f)) value[0] = 0;
        fclose(f); value[strcspn(value, "\n")] = 0;
        if (!strcmp(value, serial)) { snprintf(dev, sizeof dev, "/dev/%.50s", e->d_name); closedir(d); return dev; } }
    if (d) closedir(d);
    return serial; }

int main(int argc, char **argv)
{
    const char *mnt = "/mnt/repro";
    struct stat st;
    char buf[256];
    (void)st; (void)buf;
    const char *dev;
    if (argc != 2) { fprintf(stderr, "usage: %s DEVICE|SERIAL\n", argv[0]); return 2; }
    dev = argv[1][0] == '/' ? argv[1] : disk_by_serial(argv[1]);
    mkdir("/mnt", 0755);
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
    body = [f'    report(-1, "mount", mount(dev, mnt, "ext4", MS_NODEV | MS_NOSUID, "{MOUNT_OPTIONS}"));',
            "    if (chdir(mnt)) { perror(\"chdir\"); return 1; }"]
    for i, op in enumerate(fuzz_input.ops):
        body.append(f"    report({i}, {c_string(op[0])}, {c_call(op)});")
    body += ["    if (chdir(\"/\")) return 1;", '    report(-1, "umount", umount(mnt));', "    return 0;", "}"]
    return C_HEADER + "\n".join(body) + "\n"


def write_reproducer(folder: Path, fuzz_input: FuzzInput, seed: Seed) -> dict:
    """The reproducer files for folder/image.img (which must be there): the seed it starts from, the
    debugfs script (checked), the ops and the C program. Returns what the check found."""
    shutil.copyfile(seed.image, folder / "seed.img")
    checked = write_debugfs_script(folder, fuzz_input, seed.image, seed.block_size)
    (folder / "ops.txt").write_text(encode(fuzz_input.ops))
    (folder / "repro.c").write_text(c_program(fuzz_input))
    (folder / "mutations.json").write_text(json.dumps(fuzz_input.mutations) + "\n")
    return checked


def compile_c_program(source: Path, out: Path) -> Path:
    """repro.c as a static aarch64 executable."""
    proc.run([CROSS_GCC, "-static", "-O2", "-o", out, source], timeout=180)
    return out


# --- debugfs script --------------------------------------------------------------------------
def zap_commands(raw: list[list], image_size: int, block_size: int) -> list[str]:
    """zap_block commands writing the raw mutations' bytes, clipped to the image like mutate.apply."""
    lines = []
    for _, offset, data in raw:
        data = bytes.fromhex(data)[:max(0, image_size - offset)]
        i = 0
        while i < len(data):
            j = i + 1
            while j < len(data) and data[j] == data[i] and (offset + j) % block_size:
                j += 1
            block, within = divmod(offset + i, block_size)
            lines.append(f"zap_block -o {within} -l {j - i} -p {data[i]} {block}")
            i = j
    return lines


def block_size_after(seed_block_size: int, mutations: list[list]) -> int:
    """The block size debugfs sees once the structured mutations are in (log_block_size may be one)."""
    logs = [m[2] for m in mutations if m[0] == "sb" and m[1] == "log_block_size"]
    return 1024 << logs[-1] if logs and 0 <= logs[-1] <= 6 else seed_block_size


def stamped_time(image: bytes) -> int:
    """s_wtime of an image's superblock: when the last debugfs session that changed it closed."""
    low, = struct.unpack_from("<I", image, SUPERBLOCK + S_WTIME)
    return low | image[SUPERBLOCK + S_WTIME_HI] << 32


def reproducer_script(fuzz_input: FuzzInput, seed_block_size: int, image: bytes, zap_early: bool = False) -> str:
    """debugfs commands (no header) that turn a copy of the seed named WORK_IMAGE into `image`.
    `zap_early`: write the raw bytes before closing the structured session too, for when the
    file system it leaves cannot be opened again (only what closing rewrites is then lost)."""
    structured = debugfs_script(fuzz_input.mutations, fuzz_input.repair)
    raw = [m for m in fuzz_input.mutations if m[0] == "raw"]
    zaps = zap_commands(raw, len(image), block_size_after(seed_block_size, fuzz_input.mutations))
    lines = []
    if structured:
        lines += [f"open_filesys -w {WORK_IMAGE}", f"set_current_time @{stamped_time(image)}",
                  *structured.splitlines()]
        if zap_early:
            lines += zap_commands(raw, len(image), seed_block_size)
        lines.append("close_filesys")
    if raw:   # catastrophic mode opens whatever checksums the superblock and descriptors now carry
        lines += [f"open_filesys -w -c {WORK_IMAGE}", *zaps, "close_filesys"]
    return "".join(line + "\n" for line in lines)


def apply_script(script: str, seed_image: Path, out: Path) -> None:
    """Run a reproducer script on a copy of the seed as its header says; `out` is the result cut to
    the seed's size (a command debugfs refused shows as a difference from the image it should give)."""
    with tempfile.TemporaryDirectory(prefix="sisctl-debugfs-") as tmp:
        folder = Path(tmp)
        shutil.copyfile(seed_image, folder / WORK_IMAGE)
        (folder / "repro.debugfs").write_text(script)
        proc.run(["debugfs", "-f", "repro.debugfs"], timeout=60, cwd=folder, check=False)
        with open(folder / WORK_IMAGE, "r+b") as f:
            f.truncate(seed_image.stat().st_size)
        shutil.copyfile(folder / WORK_IMAGE, out)


def first_difference(a: bytes, b: bytes) -> str | None:
    """None if equal, else where two images first differ (or that their sizes do)."""
    if a == b:
        return None
    if len(a) != len(b):
        return f"sizes differ: {len(a)} vs {len(b)} bytes"
    at = next(i for i in range(len(a)) if a[i] != b[i])
    count = sum(1 for x, y in zip(a, b) if x != y)
    return f"{count} bytes differ, the first at offset {at}"


def write_debugfs_script(folder: Path, fuzz_input: FuzzInput, seed_image: Path, seed_block_size: int) -> dict:
    """repro.debugfs for folder/image.img, checked by running it on a copy of the seed; the raw bytes
    are also written early when writing them only after the reopen does not give the image."""
    image = (folder / "image.img").read_bytes()
    for zap_early in (False, True):
        script = reproducer_script(fuzz_input, seed_block_size, image, zap_early)
        difference = check_script(script, seed_image, image)
        if difference is None or not any(m[0] == "raw" for m in fuzz_input.mutations):
            break
    header = (f"# Turns a copy of seed {fuzz_input.seed} (seed.img) into image.img, byte for byte:\n"
              f"#   cp seed.img {WORK_IMAGE} && debugfs -f repro.debugfs && "
              f"truncate -s {len(image)} {WORK_IMAGE}\n")
    if difference:
        header += f"# NOT EXACT (checked when written: {difference}); image.img is the reference\n"
    (folder / "repro.debugfs").write_text(header + script)
    return {"debugfs_exact": difference is None, **({"debugfs_difference": difference} if difference else {})}


def check_script(script: str, seed_image: Path, image: bytes) -> str | None:
    """None if the script turns the seed into `image`, else how the result differs."""
    with tempfile.TemporaryDirectory(prefix="sisctl-check-") as tmp:
        result = Path(tmp) / "result.img"
        apply_script(script, seed_image, result)
        return first_difference(result.read_bytes(), image)
