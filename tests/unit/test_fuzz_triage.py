"""Titles of arm64 kernel reports: kind plus guilty frame, machinery skipped, stackless reports flagged."""
from sisctl.campaign.fuzz.triage import count_fs_errors, title_id, triage

WARNING = """\
[   41.120551] EXT4-fs (vda): mounted filesystem with ordered data mode. Quota mode: disabled.
[   41.231002] ------------[ cut here ]------------
[   41.231280] WARNING: CPU: 0 PID: 93 at fs/ext4/inode.c:5585 ext4_setattr+0x5c0/0x8a0
[   41.231701] Modules linked in:
[   41.232001] CPU: 0 PID: 93 Comm: sisagent Not tainted 6.1.192 #1
[   41.232300] Hardware name: linux,dummy-virt (DT)
[   41.232700] pstate: 60000005 (nZCv daif -PAN -UAO -TCO -DIT -SSBS BTYPE=--)
[   41.233000] pc : ext4_setattr+0x5c0/0x8a0
[   41.233200] lr : ext4_setattr+0x5b8/0x8a0
[   41.233400] sp : ffff80000a1b3c60
[   41.234000] Call trace:
[   41.234100]  ext4_setattr+0x5c0/0x8a0
[   41.234200]  notify_change+0x1dc/0x4b0
[   41.234300]  do_truncate+0x80/0xd0
[   41.234400]  do_sys_truncate.part.0+0xa4/0xc0
[   41.234500]  __arm64_sys_truncate+0x24/0x30
[   41.234600]  invoke_syscall+0x48/0x114
[   41.234700]  el0_svc_common.constprop.0+0x44/0xec
[   41.234800]  do_el0_svc+0x30/0xc0
[   41.234900]  el0_svc+0x2c/0x84
[   41.235000]  el0t_64_sync_handler+0xbc/0x140
[   41.235100]  el0t_64_sync+0x18c/0x190
[   41.235200] ---[ end trace 0000000000000000 ]---
"""

NULL_DEREF = """\
[  112.400100] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000028
[  112.400300] Mem abort info:
[  112.400400]   ESR = 0x0000000096000004
[  112.401000] Internal error: Oops: 0000000096000004 [#1] SMP
[  112.401100] Modules linked in: ext4 crc16 mbcache jbd2 virtio_blk virtio_pci
[  112.401200] CPU: 0 PID: 211 Comm: sisagent Not tainted 6.1.0-27-cloud-arm64 #1  Debian 6.1.115-1
[  112.401400] pc : ext4_xattr_ibody_find.isra.0+0x4c/0x120 [ext4]
[  112.401500] lr : ext4_xattr_get+0x80/0x2c0 [ext4]
[  112.401800] Call trace:
[  112.401900]  ext4_xattr_ibody_find.isra.0+0x4c/0x120 [ext4]
[  112.402000]  ext4_xattr_get+0x80/0x2c0 [ext4]
[  112.402100]  __vfs_getxattr+0x60/0x84
[  112.402900] ---[ end trace 0000000000000000 ]---
[  112.403000] Kernel panic - not syncing: Oops: Fatal exception
"""

BUG_IN_MEMCPY = """\
[    9.000000] kernel BUG at fs/ext4/extents.c:3200!
[    9.000100] Internal error: Oops - BUG: 00000000f2000800 [#1] SMP
[    9.000200] pc : __pi_memcpy+0x40/0x100
[    9.000300] lr : ext4_split_extent_at+0x3a4/0x3c0
[    9.000400] Call trace:
[    9.000500]  __pi_memcpy+0x40/0x100
[    9.000600]  ext4_split_extent_at+0x3a4/0x3c0
[    9.000700]  ext4_split_extent+0x120/0x1a0
"""

HUNG = """\
[  300.1] INFO: task sisagent:88 blocked for more than 10 seconds.
[  300.2]       Not tainted 6.1.192 #1
[  300.3] task:sisagent        state:D stack:0     pid:88    ppid:1      flags:0x00000008
[  300.4] Call trace:
[  300.5]  __switch_to+0xe8/0x140
[  300.6]  __schedule+0x2b8/0x7a0
[  300.7]  schedule+0x60/0xe0
[  300.8]  io_schedule+0x44/0x70
[  300.9]  bit_wait_io+0x1c/0x70
[  301.0]  __wait_on_bit+0x54/0x160
[  301.1]  out_of_line_wait_on_bit+0x84/0xb0
[  301.2]  jbd2_log_wait_commit+0x120/0x1a0
[  301.3]  ext4_sync_file+0x1f0/0x3a0
[  301.4] Kernel panic - not syncing: hung_task: blocked tasks
"""

NO_KALLSYMS = """\
[    3.1] WARNING: CPU: 0 PID: 61 at fs/ext4/inode.c:5585 0xffff800008217c10
[    3.2] CPU: 0 PID: 61 Comm: sisagent Not tainted 6.1.192 #1
[    3.3] pc : 0xffff800008217c10
[    3.4] lr : 0xffff800008217c08
[    3.5] Call trace:
[    3.6]  0xffff800008217c10
[    3.7]  0xffff8000081a9d3c
[    3.8] ---[ end trace 0000000000000000 ]---
"""


def test_warning_is_titled_by_the_function_in_its_header():
    found = triage(WARNING)
    assert found.title == "WARNING in ext4_setattr"
    assert found.usable_stack and found.is_bug
    assert found.report.startswith("WARNING: CPU: 0")


def test_oops_names_the_faulting_function_without_module_or_isra_suffix():
    assert triage(NULL_DEREF).title == "NULL pointer dereference in ext4_xattr_ibody_find"


def test_string_helpers_are_skipped_for_the_caller():
    assert triage(BUG_IN_MEMCPY).title == "kernel BUG in ext4_split_extent_at"


def test_hung_task_skips_the_scheduler_and_wait_frames():
    assert triage(HUNG).title == "hung task in jbd2_log_wait_commit"


def test_report_without_symbols_is_flagged_and_falls_back_to_file_and_line():
    found = triage(NO_KALLSYMS)
    assert not found.usable_stack
    assert found.title == "WARNING in fs/ext4/inode.c:5585"


def test_same_bug_at_other_addresses_and_pids_gets_one_title():
    other = WARNING.replace("PID: 93", "PID: 140").replace("+0x5c0/0x8a0", "+0x5c4/0x8a0")
    assert triage(other).title == triage(WARNING).title
    assert title_id(triage(other).title) == title_id(triage(WARNING).title)


def test_ext4_error_lines_are_counted_not_reported():
    log = ("[ 1.0] EXT4-fs error (device vda): ext4_lookup:1855: inode #2: comm sisagent: deleted inode referenced\n"
           "[ 1.1] EXT4-fs (vda): error count since last fsck: 3\n"
           "[ 1.2] EXT4-fs error (device vda): ext4_find_entry:1600: inode #2: comm sisagent: reading directory\n")
    assert triage(log) is None
    assert count_fs_errors(log) == 2


def test_forced_panic_after_an_ext4_error_is_not_a_bug():
    found = triage("[ 2.0] Kernel panic - not syncing: EXT4-fs (device vda): panic forced after error\n")
    assert found is not None and not found.is_bug


def test_title_ids_are_folder_safe_and_distinct():
    a, b = title_id("WARNING in ext4_setattr"), title_id("WARNING in ext4_setattr_x")
    assert a.startswith("warning-in-ext4-setattr-") and a != b
    assert "/" not in title_id("kernel BUG in fs/ext4/inode.c:12")
