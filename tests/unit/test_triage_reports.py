"""Triage of arm64 kernel reports of every kind the fuzz oracles rely on: each excerpt is written in
the format Linux 6.1 prints on arm64, and must get its kind plus the guilty frame as its title."""
import pytest

from sisctl.campaign.fuzz.triage import count_fs_errors, stack_frames, triage

SOFT_LOCKUP = """\
[   63.512304] watchdog: BUG: soft lockup - CPU#0 stuck for 11s! [sisagent:97]
[   63.512611] Modules linked in:
[   63.512790] CPU: 0 PID: 97 Comm: sisagent Not tainted 6.1.192 #1
[   63.513002] Hardware name: linux,dummy-virt (DT)
[   63.513190] pstate: 80000005 (Nzcv daif -PAN -UAO -TCO -DIT -SSBS BTYPE=--)
[   63.513420] pc : ext4_ext_find_goal+0x2c/0x90
[   63.513601] lr : ext4_ext_map_blocks+0x4e8/0xe70
[   63.513777] sp : ffff80000a1a3a10
[   63.513902] x29: ffff80000a1a3a10 x28: 0000000000000000 x27: ffff000003a1c000
[   63.514200] Call trace:
[   63.514301]  ext4_ext_find_goal+0x2c/0x90
[   63.514420]  ext4_ext_map_blocks+0x4e8/0xe70
[   63.514540]  ext4_map_blocks+0x1d0/0x5a0
[   63.514660]  ext4_fallocate+0x3c4/0x980
[   63.514780]  vfs_fallocate+0x1a8/0x340
[   63.514900]  __arm64_sys_fallocate+0x50/0x90
[   63.515020]  invoke_syscall+0x48/0x114
[   63.515140]  el0_svc_common.constprop.0+0x44/0xec
[   63.515260]  do_el0_svc+0x30/0xc0
[   63.515380]  el0_svc+0x2c/0x84
[   63.515500]  el0t_64_sync_handler+0xbc/0x140
[   63.515620]  el0t_64_sync+0x18c/0x190
[   63.515800] Kernel panic - not syncing: softlockup: hung tasks
"""

HUNG_TASK = """\
[  253.100211] INFO: task sisagent:104 blocked for more than 10 seconds.
[  253.100530]       Not tainted 6.1.192 #1
[  253.100712] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
[  253.101010] task:sisagent        state:D stack:0     pid:104   ppid:1      flags:0x00000008
[  253.101300] Call trace:
[  253.101402]  __switch_to+0xe8/0x140
[  253.101521]  __schedule+0x2b8/0x7a0
[  253.101640]  schedule+0x60/0xe0
[  253.101759]  percpu_rwsem_wait+0xc8/0x180
[  253.101878]  __percpu_down_read+0x74/0x120
[  253.101997]  vfs_write+0x2d4/0x330
[  253.102116]  ksys_write+0x70/0x104
[  253.102235]  __arm64_sys_write+0x1c/0x2c
[  253.102354]  invoke_syscall+0x48/0x114
[  253.102473]  el0_svc_common.constprop.0+0x44/0xec
[  253.102592]  do_el0_svc+0x30/0xc0
[  253.102711]  el0_svc+0x2c/0x84
[  253.102830]  el0t_64_sync_handler+0xbc/0x140
[  253.102949]  el0t_64_sync+0x18c/0x190
[  253.103300] Kernel panic - not syncing: hung_task: blocked tasks
[  253.103500] CPU: 0 PID: 18 Comm: khungtaskd Not tainted 6.1.192 #1
[  253.103700] Call trace:
[  253.103800]  dump_backtrace+0xe4/0x140
[  253.103900]  show_stack+0x20/0x30
[  253.104000]  dump_stack_lvl+0x64/0x80
[  253.104100]  panic+0x18c/0x36c
[  253.104200]  watchdog+0x2d4/0x4a0
[  253.104300]  kthread+0x110/0x114
[  253.104400]  ret_from_fork+0x10/0x20
"""

RCU_SELF = """\
[  141.300100] rcu: INFO: rcu_sched self-detected stall on CPU
[  141.300300] rcu: \t0-....: (5249 ticks this GP) idle=2c4c/1/0x4000000000000000 softirq=1510/1510 fqs=2566
[  141.300500] \t(t=5251 jiffies g=1709 q=23 ncpus=1)
[  141.300700] CPU: 0 PID: 99 Comm: sisagent Not tainted 6.1.192 #1
[  141.300900] Hardware name: linux,dummy-virt (DT)
[  141.301900] Call trace:
[  141.302000]  dump_backtrace+0xe4/0x140
[  141.302100]  show_stack+0x20/0x30
[  141.302200]  dump_stack_lvl+0x64/0x80
[  141.302300]  dump_stack+0x18/0x34
[  141.302400]  rcu_dump_cpu_stacks+0xf4/0x130
[  141.302450]  check_cpu_stall+0x1e4/0x3a0
[  141.302500]  rcu_sched_clock_irq+0x8bc/0xa40
[  141.302600]  update_process_times+0xa0/0xe0
[  141.302700]  tick_sched_timer+0x64/0xf0
[  141.302800]  __hrtimer_run_queues+0x150/0x2d0
[  141.302900]  hrtimer_interrupt+0xf4/0x230
[  141.303000]  arch_timer_handler_virt+0x3c/0x50
[  141.303100]  handle_percpu_devid_irq+0x90/0x1f0
[  141.303200]  generic_handle_domain_irq+0x34/0x50
[  141.303300]  gic_handle_irq+0x50/0x130
[  141.303400]  call_on_irq_stack+0x24/0x4c
[  141.303500]  do_interrupt_handler+0x88/0x94
[  141.303600]  el1_interrupt+0x34/0x70
[  141.303700]  el1h_64_irq_handler+0x18/0x2c
[  141.303800]  el1h_64_irq+0x64/0x68
[  141.303900]  _raw_spin_unlock_irqrestore+0x14/0x60
[  141.304000]  ext4_htree_fill_tree+0x1f0/0x3c0
[  141.304100]  ext4_readdir+0x7c8/0xa70
[  141.304200]  iterate_dir+0x8c/0x1e0
"""

RCU_OTHER_CPU = """\
[  230.000100] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
[  230.000300] rcu: \t1-...!: (1 GPs behind) idle=5b9c/1/0x4000000000000000 softirq=3011/3012 fqs=0
[  230.000500] \t(detected by 0, t=5252 jiffies, g=2745, q=162 ncpus=2)
[  230.000700] Task dump for CPU 1:
[  230.000900] task:sisagent        state:R  running task     stack:0     pid:121   ppid:1      flags:0x0000000a
[  230.001100] Call trace:
[  230.001200]  __switch_to+0xe8/0x140
[  230.001300]  ext4_mb_regular_allocator+0x6b4/0xd50
[  230.001400]  ext4_mb_new_blocks+0x3f0/0x9b0
"""

KASAN = """\
[   88.200001] ==================================================================
[   88.200200] BUG: KASAN: slab-out-of-bounds in ext4_xattr_set_entry+0x8a0/0xc30
[   88.200400] Write of size 4 at addr ffff00000bd5a0fc by task sisagent/102
[   88.200600]
[   88.200700] CPU: 0 PID: 102 Comm: sisagent Not tainted 6.1.192 #1
[   88.200900] Hardware name: linux,dummy-virt (DT)
[   88.201100] Call trace:
[   88.201200]  dump_backtrace+0xe4/0x140
[   88.201300]  show_stack+0x20/0x30
[   88.201400]  dump_stack_lvl+0x64/0x80
[   88.201500]  print_report+0x190/0x4b0
[   88.201600]  kasan_report+0xa4/0xe0
[   88.201700]  __asan_store4+0x84/0xa4
[   88.201800]  ext4_xattr_set_entry+0x8a0/0xc30
[   88.201900]  ext4_xattr_ibody_set+0x54/0x150
[   88.202000] ==================================================================
"""

KASAN_IN_MEMCPY = """\
[   90.000001] ==================================================================
[   90.000200] BUG: KASAN: use-after-free in __memcpy+0x44/0x230
[   90.000400] Read of size 64 at addr ffff00000bd5a000 by task sisagent/110
[   90.000700] CPU: 0 PID: 110 Comm: sisagent Not tainted 6.1.192 #1
[   90.001100] Call trace:
[   90.001200]  dump_backtrace+0xe4/0x140
[   90.001300]  show_stack+0x20/0x30
[   90.001400]  dump_stack_lvl+0x64/0x80
[   90.001500]  print_report+0x190/0x4b0
[   90.001600]  kasan_report+0xa4/0xe0
[   90.001650]  kasan_check_range+0xe4/0x190
[   90.001700]  __asan_memcpy+0x3c/0x84
[   90.001800]  ext4_read_inline_data+0xd0/0x170
[   90.001900]  ext4_readpage_inline+0x1a8/0x260
[   90.002000] ==================================================================
"""

UBSAN = """\
[   12.400100] ================================================================================
[   12.400300] UBSAN: shift-out-of-bounds in fs/ext4/super.c:4312:27
[   12.400500] shift exponent 62 is too large for 32-bit type 'int'
[   12.400700] CPU: 0 PID: 95 Comm: sisagent Not tainted 6.1.192 #1
[   12.400900] Hardware name: linux,dummy-virt (DT)
[   12.401100] Call trace:
[   12.401200]  dump_backtrace+0xe4/0x140
[   12.401300]  show_stack+0x20/0x30
[   12.401400]  dump_stack_lvl+0x64/0x80
[   12.401500]  dump_stack+0x18/0x34
[   12.401600]  ubsan_epilogue+0x10/0x50
[   12.401700]  __ubsan_handle_shift_out_of_bounds+0x15c/0x1a0
[   12.401800]  ext4_fill_super+0x2a90/0x3f00
[   12.401900]  get_tree_bdev+0x17c/0x260
[   12.402000] ================================================================================
"""

KERNEL_BUG = """\
[   77.010100] ------------[ cut here ]------------
[   77.010300] kernel BUG at fs/ext4/inode.c:2741!
[   77.010500] Internal error: Oops - BUG: 00000000f2000800 [#1] SMP
[   77.010700] Modules linked in:
[   77.010900] CPU: 0 PID: 108 Comm: sisagent Not tainted 6.1.192 #1
[   77.011100] Hardware name: linux,dummy-virt (DT)
[   77.011300] pstate: 60000005 (nZCv daif -PAN -UAO -TCO -DIT -SSBS BTYPE=--)
[   77.011500] pc : mpage_prepare_extent_to_map+0x3f8/0x420
[   77.011700] lr : mpage_prepare_extent_to_map+0x3e8/0x420
[   77.011900] Call trace:
[   77.012000]  mpage_prepare_extent_to_map+0x3f8/0x420
[   77.012100]  ext4_writepages+0x2c4/0xc60
[   77.012200]  do_writepages+0x94/0x1e0
[   77.012300] Code: 97ffd0b1 17ffffc6 d4210000 d4210000 (d4210000)
[   77.012400] ---[ end trace 0000000000000000 ]---
[   77.012500] Kernel panic - not syncing: Oops - BUG: Fatal exception
"""

NULL_DEREF = """\
[  112.400100] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008
[  112.400300] Mem abort info:
[  112.400400]   ESR = 0x0000000096000006
[  112.400500]   EC = 0x25: DABT (current EL), IL = 32 bits
[  112.400600] Data abort info:
[  112.400700]   ISV = 0, ISS = 0x00000006
[  112.400800] user pgtable: 4k pages, 48-bit VAs, pgdp=0000000041d2f000
[  112.400900] [0000000000000008] pgd=0800000041d30003, p4d=0800000041d30003, pud=0000000000000000
[  112.401000] Internal error: Oops: 0000000096000006 [#1] SMP
[  112.401100] Modules linked in: ext4 crc16 mbcache jbd2 virtio_blk
[  112.401200] CPU: 0 PID: 211 Comm: sisagent Not tainted 6.1.0-27-arm64 #1  Debian 6.1.115-1
[  112.401400] pc : jbd2_journal_dirty_metadata+0x40/0x2f0 [jbd2]
[  112.401500] lr : __ext4_handle_dirty_metadata+0x60/0x1f0 [ext4]
[  112.401800] Call trace:
[  112.401900]  jbd2_journal_dirty_metadata+0x40/0x2f0 [jbd2]
[  112.402000]  __ext4_handle_dirty_metadata+0x60/0x1f0 [ext4]
[  112.402900] ---[ end trace 0000000000000000 ]---
"""

INTERNAL_ERROR = """\
[   55.100000] Internal error: Oops - Undefined instruction: 0000000002000000 [#1] SMP
[   55.100100] Modules linked in:
[   55.100200] CPU: 0 PID: 100 Comm: sisagent Not tainted 6.1.192 #1
[   55.100300] pc : ext4_da_write_end+0x1c/0x2f0
[   55.100400] lr : generic_perform_write+0x108/0x1f0
[   55.100500] Call trace:
[   55.100600]  ext4_da_write_end+0x1c/0x2f0
[   55.100700]  generic_perform_write+0x108/0x1f0
[   55.100800] ---[ end trace 0000000000000000 ]---
"""

WARNING_IN_LOCKDEP = """\
[   20.000100] ------------[ cut here ]------------
[   20.000200] WARNING: CPU: 0 PID: 96 at kernel/locking/lockdep.c:232 __lock_acquire+0x6f4/0x2044
[   20.000300] Modules linked in:
[   20.000400] CPU: 0 PID: 96 Comm: sisagent Not tainted 6.1.192 #1
[   20.000500] pc : __lock_acquire+0x6f4/0x2044
[   20.000600] lr : __lock_acquire+0x6e8/0x2044
[   20.000700] Call trace:
[   20.000800]  __lock_acquire+0x6f4/0x2044
[   20.000900]  lock_acquire+0x1e4/0x2f0
[   20.001000]  _raw_spin_lock+0x50/0x70
[   20.001100]  ext4_orphan_add+0x1b8/0x4a0
[   20.001200]  ext4_truncate+0x2f4/0x5c0
[   20.001300] ---[ end trace 0000000000000000 ]---
"""

LOCKDEP_CIRCULAR = """\
[   30.000100] ======================================================
[   30.000200] WARNING: possible circular locking dependency detected
[   30.000300] 6.1.192 #1 Not tainted
[   30.000400] ------------------------------------------------------
[   30.000500] sisagent/98 is trying to acquire lock:
[   30.002000] Call trace:
[   30.002100]  dump_backtrace+0xe4/0x140
[   30.002200]  show_stack+0x20/0x30
[   30.002300]  dump_stack_lvl+0x64/0x80
[   30.002400]  print_circular_bug+0x1e0/0x200
[   30.002500]  check_noncircular+0x15c/0x170
[   30.002600]  __lock_acquire+0x11f4/0x2044
[   30.002700]  lock_acquire+0x1e4/0x2f0
[   30.002800]  down_write+0x58/0xd0
[   30.002900]  ext4_xattr_set_handle+0x98/0x6e0
"""


@pytest.mark.parametrize("log, title", [
    (SOFT_LOCKUP, "soft lockup in ext4_ext_find_goal"),
    (HUNG_TASK, "hung task in vfs_write"),
    (RCU_SELF, "rcu stall in ext4_htree_fill_tree"),
    (RCU_OTHER_CPU, "rcu stall in ext4_mb_regular_allocator"),
    (KASAN, "KASAN: slab-out-of-bounds in ext4_xattr_set_entry"),
    (KASAN_IN_MEMCPY, "KASAN: use-after-free in ext4_read_inline_data"),
    (UBSAN, "UBSAN: shift-out-of-bounds in ext4_fill_super"),
    (KERNEL_BUG, "kernel BUG in mpage_prepare_extent_to_map"),
    (NULL_DEREF, "NULL pointer dereference in jbd2_journal_dirty_metadata"),
    (INTERNAL_ERROR, "Oops - Undefined instruction in ext4_da_write_end"),
    (WARNING_IN_LOCKDEP, "WARNING in ext4_orphan_add"),
    (LOCKDEP_CIRCULAR, "WARNING: possible circular locking dependency detected in ext4_xattr_set_handle"),
])
def test_each_report_kind_is_titled_by_kind_and_guilty_frame(log, title):
    found = triage(log)
    assert found is not None and found.is_bug
    assert found.title == title
    assert found.usable_stack


def test_the_stack_of_the_panic_that_follows_a_report_is_not_read():
    """khungtaskd's own panic stack ends in watchdog+..: it must not leak into the hung task's frames."""
    frames = stack_frames(HUNG_TASK.splitlines())
    assert "khungtaskd" not in "".join(frames) and "watchdog" not in frames and frames[-1] == "el0t_64_sync"


def test_without_the_interrupt_cut_a_stall_would_be_titled_by_the_reporting_side():
    """The cut is what finds the stalled code: with the interrupt entry frames gone, the stall
    checker's own frame (check_cpu_stall) would be taken as guilty."""
    uncut = "\n".join(line for line in RCU_SELF.splitlines()
                      if "el1h_64_irq" not in line and "el1_interrupt" not in line)
    assert triage(uncut).title == "rcu stall in check_cpu_stall"


@pytest.mark.parametrize("log, title", [
    (UBSAN, "UBSAN: shift-out-of-bounds in fs/ext4/super.c:4312"),
    (KERNEL_BUG, "kernel BUG in fs/ext4/inode.c:2741"),
    (SOFT_LOCKUP, "soft lockup"),
    (HUNG_TASK, "hung task"),
])
def test_reports_without_a_usable_stack_are_flagged_and_keep_the_header_location(log, title):
    """A kernel without kallsyms prints addresses only: no frame, flagged, title from the header."""
    import re
    stripped = re.sub(r"\b[A-Za-z_][\w.]*\+0x[0-9a-f]+/0x[0-9a-f]+( \[\w+\])?", "0xffff800008217c10", log)
    found = triage(stripped)
    assert found.title == title
    assert not found.usable_stack and found.frame is None


def test_the_same_bug_in_another_run_gets_the_same_title():
    other = (SOFT_LOCKUP.replace("CPU#0 stuck for 11s", "CPU#1 stuck for 23s").replace("sisagent:97", "repro:12")
             .replace("+0x2c/0x90", "+0x30/0x90"))
    assert triage(other).title == triage(SOFT_LOCKUP).title
    assert triage(HUNG_TASK.replace("104", "77").replace("10 seconds", "20 seconds")).title == triage(HUNG_TASK).title


def test_ext4_errors_around_a_report_are_counted_and_the_report_still_titled():
    log = ("[ 1.0] EXT4-fs error (device vda): ext4_map_blocks:577: inode #12: block 9: comm sisagent: "
           "lblock 0 mapped to illegal pblock 9 (length 1)\n"
           "[ 1.1] EXT4-fs warning (device vda): ext4_block_to_path:107: block 1094795585 > max in inode 12\n"
           "[ 1.2] JBD2: Invalid checksum recovering data block 1090 in log\n" + KERNEL_BUG)
    assert count_fs_errors(log) == 2
    assert triage(log).title == "kernel BUG in mpage_prepare_extent_to_map"


def test_a_report_whose_header_landed_inside_an_agent_line_is_still_titled():
    lines = KERNEL_BUG.splitlines()
    lines[1] = "@@SIS 3 O aGVsbG8gd29ybGQ=" + lines[1]
    found = triage("\n".join(lines))
    assert found.title == "kernel BUG in mpage_prepare_extent_to_map"
    assert found.report.startswith("kernel BUG at fs/ext4/inode.c:2741!")
