"""Titles for kernel error reports, so one bug is one crash folder however often it is hit.

A report starts at a header of sisctl/board/oops.py (the console uses the same table). Its title is
the header's kind plus the guilty frame: the function the header names (WARNING, KASAN), else the
function at `pc :`, else the first call-trace frame that is not report, panic, exception, lockdep,
sanitizer, scheduler or locking machinery. For a soft lockup or an RCU stall printed from the
timer interrupt, only the frames the interrupt stopped count. A report whose stack names no
function (a kernel without kallsyms, a report cut short) is flagged as having no usable stack; its
title falls back to the file and line in the header when there is one. "EXT4-fs error" lines are
ext4 detecting corruption: they are counted, not reported.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sisctl.board.oops import is_report_end, report_start, strip_timestamp

NOT_BUGS = (re.compile(r"EXT4-fs .*panic forced after error"),)
FS_ERROR = re.compile(r"EXT4-fs error \(|JBD2: .*(?:error|corrupt|[Ii]nvalid|checksum)")

FRAME = re.compile(r"^\s*(?:pc : )?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[\w-]+\])?(?: \([A-Z]\))?\s*$")
HEADER_AT = re.compile(r" (?:at|in) ((?:[\w.-]+/)*[\w.-]+\.[chS]:\d+)")
HEADER_FUNC = re.compile(r"(?: at [^ ]+ | in )([A-Za-z_][\w.]*)\+0x[0-9a-f]+")
SUFFIX = re.compile(r"\.(?:isra|constprop|part|cold|llvm)(?:\.\d+)*$")
SEPARATOR = re.compile(r"^={20,}$")          # KASAN and UBSAN reports end with a line of '='
IRQ_ENTRY = re.compile(r"^(?:el1h_64_irq\w*|el1_interrupt|el0t_64_irq\w*|el0_interrupt)$")
MACHINERY = (
    # report and panic
    r"dump_backtrace", r"show_stack", r"dump_stack(?:_lvl)?", r"show_regs", r"__show_regs", r"sched_show_task",
    r"dump_cpu_task", r"panic", r"nmi_panic", r"check_panic_on_warn", r"__warn\w*", r"warn_slowpath\w*",
    r"report_bug", r"\w*bug_handler", r"call_break_hook", r"brk_handler", r"do_debug_exception", r"die",
    r"__die\w*", r"die_kernel_fault", r"arm64_notify_die", r"print_\w+",
    # exceptions, faults, interrupts, syscalls
    r"el1h_64_\w+", r"el0t_64_\w+", r"el0_\w+", r"el1_\w+", r"do_el0_\w+", r"do_el1_\w+", r"__do_kernel_fault",
    r"do_page_fault", r"do_translation_fault", r"do_mem_abort", r"do_bad_area", r"do_undefinstr",
    r"invoke_syscall", r"__arm64_sys_\w+", r"__hrtimer_run_queues", r"hrtimer_\w+", r"arch_timer_\w+",
    r"handle_\w*irq\w*", r"generic_handle_\w+", r"gic_handle_irq", r"call_on_irq_stack", r"do_interrupt_handler",
    r"irq_exit\w*", r"__irq_exit\w*", r"__do_softirq", r"do_softirq\w*", r"update_process_times",
    r"tick_\w+", r"kthread", r"ret_from_fork",
    # watchdogs and stalls
    r"watchdog\w*", r"check_hung_\w+", r"rcu_\w+", r"__rcu_\w+", r"trigger_\w*backtrace\w*",
    # sanitizers
    r"kasan_\w+", r"__kasan_\w+", r"__asan_\w+", r"__hwasan_\w+", r"check_region_inline", r"kfence_\w+",
    r"ubsan_\w+", r"__ubsan_handle_\w+", r"handle_overflow", r"handle_null_ptr_deref",
    r"handle_misaligned_access", r"handle_object_size_mismatch",
    # lockdep
    r"lock_acquire\w*", r"__lock_acquire", r"lock_release", r"lock_is_held\w*", r"lockdep_\w+", r"__lockdep_\w+",
    r"debug_lockdep_\w+", r"mark_lock\w*", r"validate_chain", r"check_prevs?_add", r"check_noncircular",
    r"check_irq_usage", r"valid_state", r"__might_sleep", r"__might_resched", r"__might_fault", r"___might_sleep",
    # scheduler, waits and locks
    r"__schedule", r"schedule\w*", r"io_schedule\w*", r"bit_wait\w*", r"out_of_line_wait_on_bit\w*",
    r"__wait_on_bit\w*", r"__switch_to", r"wait_for_completion\w*", r"__cond_resched", r"preempt_\w+",
    r"_raw_spin_\w+", r"_raw_read_\w+", r"_raw_write_\w+", r"__raw_\w+", r"mutex_\w+", r"__mutex_\w+",
    r"rwsem_\w+", r"down_\w+", r"up_(?:read|write)\w*", r"up", r"percpu_rwsem_\w+", r"_*percpu_down_\w+",
    # string and memory helpers: the caller is the bug
    r"_?_?(?:pi_)?mem(?:cpy|set|move|cmp|chr|scan)\w*", r"str(?:n?cpy|n?cmp|n?len|s?cat|l?cpy|chr|rchr|scpy)\w*",
)
SKIP = re.compile(r"^(?:" + "|".join(MACHINERY) + r")$")
STOPPED_BY_IRQ = ("lockup", "stall")   # header kinds printed by a timer interrupt about what it stopped


@dataclass(frozen=True)
class Triaged:
    title: str
    kind: str
    frame: str | None
    usable_stack: bool
    report: str                   # the report's lines, from its header on
    is_bug: bool = True

    @property
    def title_id(self) -> str:
        return title_id(self.title)


def title_id(title: str) -> str:
    """A folder name for a title: a readable slug plus a short hash (two titles never collide)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].strip("-")
    return f"{slug}-{hashlib.sha256(title.encode()).hexdigest()[:6]}"


def count_fs_errors(log: str) -> int:
    return sum(1 for line in log.splitlines() if FS_ERROR.search(line))


def triage(log: str) -> Triaged | None:
    """The title of the first kernel error report in `log` (a console excerpt), or None if it has none."""
    lines = [strip_timestamp(line).strip() for line in log.splitlines()]
    for start, line in enumerate(lines):
        found = report_start(line)
        if not found:
            continue
        report = [found.header] + lines[start + 1:]
        if any(p.search(found.header) for p in NOT_BUGS):
            return Triaged(found.header, "not a bug", None, False, "\n".join(report), is_bug=False)
        return _titled(found.label, found.kind, found.header, report)
    return None


def _titled(kind: str, header_kind: str, header: str, lines: list[str]) -> Triaged:
    frame = _header_frame(header, header_kind) or _guilty_frame(lines, header_kind)
    where = frame
    if where is None:
        at = HEADER_AT.search(header)
        where = at.group(1) if at else None
    title = f"{kind} in {where}" if where else kind
    return Triaged(title, kind, frame, frame is not None, "\n".join(lines))


def _header_frame(header: str, header_kind: str) -> str | None:
    """WARNING, KASAN and UBSAN headers name the function themselves (unless it is machinery)."""
    if header_kind not in ("warning", "kasan", "ubsan"):
        return None
    match = HEADER_FUNC.search(header)
    if match:
        name = SUFFIX.sub("", match.group(1))
        return None if SKIP.match(name) else name
    return None


def stack_frames(lines: list[str]) -> list[str]:
    """The function names of a report's `pc :` line and call trace, in order, up to the report's end."""
    frames = []
    for line in lines[1:300]:
        line = strip_timestamp(line).strip()
        if is_report_end(line) or SEPARATOR.match(line) or line.startswith("Kernel panic - not syncing"):
            break
        match = FRAME.match(line)
        if match:
            frames.append(SUFFIX.sub("", match.group(1)))
    return frames


def _guilty_frame(lines: list[str], header_kind: str) -> str | None:
    """The first frame that is not machinery; for what a timer interrupt stopped, only frames below
    the interrupt entry count (the pc, when the report prints one, is already there)."""
    frames = stack_frames(lines)
    if header_kind in STOPPED_BY_IRQ:
        entries = [i for i, name in enumerate(frames) if IRQ_ENTRY.match(name)]
        if entries:
            frames = frames[entries[-1] + 1:]
    return next((name for name in frames if not SKIP.match(name)), None)
