"""Titles for kernel error reports, so one bug is one crash folder however often it is hit.

A title is the report's kind plus the guilty frame: the function at `pc :` or the first frame of
the call trace after skipping the report, panic, exception and scheduler machinery (after
syzkaller's pkg/report). A report whose stack names no function (a kernel without kallsyms, a
report cut short) is flagged as having no usable stack; its title falls back to the file and
line in the header when there is one. "EXT4-fs error" lines are ext4 detecting corruption: they
are counted, not reported.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sisctl.board.oops import strip_timestamp

# (pattern on the first line of a report, title kind); the first that matches a console line wins
HEADERS = (
    (re.compile(r"BUG: KASAN: ([\w-]+)"), "KASAN: {0}"),
    (re.compile(r"UBSAN: ([\w-]+(?: [\w-]+)*?) in"), "UBSAN: {0}"),
    (re.compile(r"BUG: soft lockup"), "soft lockup"),
    (re.compile(r"INFO: task \S+ blocked for more than"), "hung task"),
    (re.compile(r"INFO: rcu_\w+ (?:self-)?detected stall"), "rcu stall"),
    (re.compile(r"WARNING: CPU: \d+ PID: \d+ at "), "WARNING"),
    (re.compile(r"kernel BUG at "), "kernel BUG"),
    (re.compile(r"Unable to handle kernel NULL pointer dereference"), "NULL pointer dereference"),
    (re.compile(r"Unable to handle kernel (paging request|access to user memory|write to read-only memory|"
                r"execute from non-executable memory)"), "{0}"),
    (re.compile(r"Internal error: ([\w -]+?):"), "{0}"),
    (re.compile(r"BUG: ([a-z][\w ,-]*?)(?: at | in |:|$)"), "BUG: {0}"),
    (re.compile(r"Kernel panic - not syncing: (.*)"), "panic: {0}"),
)
NOT_BUGS = (re.compile(r"EXT4-fs .*panic forced after error"),)
FS_ERROR = re.compile(r"EXT4-fs error \(|JBD2: .*(?:error|corrupt)")

FRAME = re.compile(r"^\s*(?:pc : )?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[\w+\])?\s*$")
PC_LINE = re.compile(r"^\s*pc : (.*)$")
HEADER_AT = re.compile(r" at ((?:[\w.-]+/)*[\w.-]+\.[ch]:\d+)")
HEADER_FUNC = re.compile(r"(?: at [^ ]+ | in )([A-Za-z_][\w.]*)\+0x[0-9a-f]+")
SUFFIX = re.compile(r"\.(?:isra|constprop|part|cold|llvm)(?:\.\d+)*$")
SKIP = re.compile(r"^(?:" + "|".join((
    r"dump_backtrace", r"show_stack", r"dump_stack(?:_lvl)?", r"panic", r"__warn\w*", r"warn_slowpath\w*",
    r"report_bug", r"bug_handler", r"call_break_hook", r"brk_handler", r"do_debug_exception", r"el1_dbg",
    r"el1h_64_\w+", r"el0t_64_\w+", r"el0_\w+", r"el1_\w+", r"die", r"__die\w*", r"die_kernel_fault",
    r"__do_kernel_fault", r"do_page_fault", r"do_translation_fault", r"do_mem_abort", r"do_bad_area",
    r"invoke_syscall", r"el0_svc_common\w*", r"do_el0_svc", r"__arm64_sys_\w+", r"kasan_\w+", r"__kasan_\w+",
    r"__asan_\w+", r"print_report", r"print_address_description\w*", r"ubsan_\w+", r"__ubsan_handle_\w+",
    r"__schedule", r"schedule\w*", r"io_schedule\w*", r"bit_wait\w*", r"out_of_line_wait_on_bit\w*",
    r"__wait_on_bit\w*", r"__switch_to", r"watchdog\w*", r"__hrtimer_run_queues", r"hrtimer_\w+",
    r"arch_timer_\w+", r"handle_\w*irq\w*", r"generic_handle_\w+", r"gic_handle_irq", r"call_on_irq_stack",
    r"do_interrupt_handler", r"check_hung_\w+", r"kthread", r"ret_from_fork", r"mem\w+", r"__pi_mem\w+",
    r"str\w+", r"__memcpy\w*", r"__memset\w*", r"_raw_spin_\w+", r"mutex_\w+", r"__mutex_\w+",
    r"rwsem_\w+", r"down_\w+", r"up_\w+", r"wait_for_completion\w*", r"__cond_resched", r"preempt_\w+",
)) + r")$")


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
    lines = [strip_timestamp(line).rstrip() for line in log.splitlines()]
    for start, line in enumerate(lines):
        if any(p.search(line) for p in NOT_BUGS):
            return Triaged(line.strip(), "not a bug", None, False, "\n".join(lines[start:]), is_bug=False)
        for pattern, kind_format in HEADERS:
            match = pattern.search(line)
            if match:
                return _titled(kind_format.format(*[_clean(g) for g in match.groups()]), line, lines[start:])
    return None


def _clean(text: str) -> str:
    text = re.sub(r"\b(0x)?[0-9a-f]{8,16}\b", "ADDR", text)
    return re.sub(r"\d+", "N", text.strip()) if "ADDR" not in text else text.strip()


def _titled(kind: str, header: str, lines: list[str]) -> Triaged:
    frame = _header_frame(header, kind) or _guilty_frame(lines)
    usable = frame is not None
    where = frame
    if where is None:
        at = HEADER_AT.search(header)
        where = at.group(1) if at else None
    title = f"{kind} in {where}" if where else kind
    return Triaged(title, kind, frame, usable, "\n".join(lines))


def _header_frame(header: str, kind: str) -> str | None:
    """WARNING, KASAN and UBSAN headers name the function themselves."""
    if not kind.startswith(("WARNING", "KASAN", "UBSAN")):
        return None
    match = HEADER_FUNC.search(header)
    if match:
        name = SUFFIX.sub("", match.group(1))
        return None if SKIP.match(name) else name
    return None


def _guilty_frame(lines: list[str]) -> str | None:
    """The function at pc, else the first call-trace frame that is not machinery."""
    frames = []
    for line in lines[1:200]:
        if PC_LINE.match(line) or FRAME.match(line):
            match = FRAME.match(line.replace("pc : ", "", 1)) if "pc : " in line else FRAME.match(line)
            if match:
                frames.append(SUFFIX.sub("", match.group(1)))
    for name in frames:
        if not SKIP.match(name):
            return name
    return None
