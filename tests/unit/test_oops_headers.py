"""Which console lines start a kernel error report (and which must not), as the console sees them."""
import re

import pytest

from sisctl.board.oops import report_start

STARTS = [
    ("[   63.512304] watchdog: BUG: soft lockup - CPU#0 stuck for 11s! [sisagent:97]", "lockup", "soft lockup"),
    ("[  253.100211] INFO: task sisagent:104 blocked for more than 10 seconds.", "hang", "hung task"),
    ("[  141.300100] rcu: INFO: rcu_sched self-detected stall on CPU", "stall", "rcu stall"),
    ("[  141.300100] rcu: INFO: rcu_preempt self-detected stall on CPU", "stall", "rcu stall"),
    ("[  230.000100] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", "stall", "rcu stall"),
    ("[  230.000100] rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: {", "stall", "rcu stall"),
    ("[   88.200200] BUG: KASAN: slab-out-of-bounds in ext4_xattr_set_entry+0x8a0/0xc30", "kasan",
     "KASAN: slab-out-of-bounds"),
    ("[   12.400300] UBSAN: shift-out-of-bounds in fs/ext4/super.c:4312:27", "ubsan", "UBSAN: shift-out-of-bounds"),
    ("[   12.400300] UBSAN: array-index-out-of-bounds in fs/ext4/extents.c:1021:12", "ubsan",
     "UBSAN: array-index-out-of-bounds"),
    ("[   77.010300] kernel BUG at fs/ext4/inode.c:2741!", "bug", "kernel BUG"),
    ("[  112.400100] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008", "oops",
     "NULL pointer dereference"),
    ("[  112.400100] Unable to handle kernel paging request at virtual address dead000000000108", "oops",
     "paging request"),
    ("[  112.401000] Internal error: Oops: 0000000096000006 [#1] SMP", "oops", "Oops"),
    ("[   55.100000] Internal error: Oops - Undefined instruction: 0000000002000000 [#1] SMP", "oops",
     "Oops - Undefined instruction"),
    ("[   41.231280] WARNING: CPU: 0 PID: 93 at fs/ext4/inode.c:5585 ext4_setattr+0x5c0/0x8a0", "warning", "WARNING"),
    ("[   41.231280] WARNING: CPU: 1 PID: 7 at fs/ext4/ext4_jbd2.c:75 ext4_journal_check_start+0x8c/0xb0 [ext4]",
     "warning", "WARNING"),
    ("[   30.000200] WARNING: possible circular locking dependency detected", "warning",
     "WARNING: possible circular locking dependency detected"),
    ("[   15.000000] BUG: sleeping function called from invalid context at fs/buffer.c:1420", "bug",
     "BUG: sleeping function called from invalid context"),
    ("[   15.000000] BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!", "bug",
     "BUG: workqueue lockup"),
    ("[  253.103300] Kernel panic - not syncing: hung_task: blocked tasks", "panic", "panic: hung_task: blocked tasks"),
    ("<4>[   41.231280][   T93] WARNING: CPU: 0 PID: 93 at fs/ext4/inode.c:5585 ext4_setattr+0x5c0/0x8a0",
     "warning", "WARNING"),
    # a kernel line that landed in the middle of an agent line
    ("SISAGENT 7 b64 aGVsbG8=[   41.231280] WARNING: CPU: 0 PID: 93 at fs/ext4/inode.c:5585 ext4_setattr+0x5c0/0x8a0",
     "warning", "WARNING"),
]

NOT_STARTS = [
    "[    1.100000] EXT4-fs error (device vda): ext4_lookup:1855: inode #2: comm sisagent: deleted inode referenced: 1",
    "[    1.200000] EXT4-fs warning (device vda): ext4_dx_add_entry:2526: Directory (ino: 2) index full",
    "[    1.300000] EXT4-fs (vda): error count since last fsck: 3",
    "[    1.400000] EXT4-fs (vda): warning: mounting fs with errors, running e2fsck is recommended",
    "[    1.500000] JBD2: Invalid checksum recovering data block 1090 in log",
    "[    1.600000] Buffer I/O error on dev vda, logical block 5, async page read",
    "[    0.000000] Kernel command line: console=ttyAMA0 panic=-1 hung_task_panic=1 softlockup_panic=1",
    "[    0.010000] rcu: Hierarchical RCU implementation.",
    "[    0.010000] rcu: \tRCU event tracing is enabled.",
    "[    0.020000] watchdog: Delayed init of the lockup detector failed: -19",
    "[    0.020000] INFO: lockdep is turned off.",
    "[    2.000000] sisctl-fuzz: input 0",
    "[   41.231701] Modules linked in:",
    "[   41.232001] CPU: 0 PID: 93 Comm: sisagent Not tainted 6.1.192 #1",
    "[    9.000000] general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1]",
    "mount: BUG: this is userspace output, not a kernel line",
]


@pytest.mark.parametrize("line, kind, label", STARTS)
def test_report_headers_start_a_report_of_their_kind(line, kind, label):
    start = report_start(line)
    assert start is not None, line
    assert (start.kind, start.label) == (kind, label)
    assert not re.search(r"\+0x[0-9a-f]+/0x", start.title)   # offsets differ between builds


@pytest.mark.parametrize("line", NOT_STARTS)
def test_ordinary_kernel_lines_do_not_start_a_report(line):
    assert report_start(line) is None


def test_panic_titles_keep_the_panic_text_for_messages():
    start = report_start("[ 5.0] Kernel panic - not syncing: sysrq triggered crash")
    assert start.title.startswith("Kernel panic") and start.label == "panic: sysrq triggered crash"


def test_a_board_can_ignore_a_known_benign_report():
    line = "[ 3.0] WARNING: CPU: 0 PID: 1 at drivers/of/base.c:100 of_find_property+0x10/0x20"
    assert report_start(line, [re.compile(r"drivers/of/")]) is None
    assert report_start(line, [re.compile(r"fs/ext4/")]) is not None
