"""The profile task: where the kernel spends its time while one command runs on a board."""
from __future__ import annotations

import shlex
import sys

from invoke import Exit, task

from sisctl import errors
from sisctl.cli.common import guard, lines, say, usage
from sisctl.duration import parse_duration


@task(help={"board": "board name or path", "cmd": "command string (instead of -- ARGS)",
            "hz": "samples per CPU second (1-10000)", "variant": "boot this RECIPE[+KERNEL-OPTION...] instead "
            "of the flashed kernel", "baseline": "with --candidate: the kernel compared against",
            "candidate": "compare: sample on --baseline and this kernel (ABBA) and rank what changed",
            "rounds": "ABBA rounds of a comparison",
            "sampler": "guest (sisctl's agent, perf events) or host (QEMU's gdbstub: any kernel)", "timeout": "seconds the command may run",
            "json": "print the summary as JSON"})
@guard
def profile(c, board="qemu-virt-0", cmd="", hz=1000, variant="", baseline="", candidate="", rounds=1,
            sampler="guest", timeout="300", json_=False):
    """Sample the kernel's stacks while a command runs: invoke profile --board B -- CMD. Writes folded
    stacks, a top-functions table and a flame graph under reports/; with --baseline and --candidate,
    a differential profile. Exit 1 if the command failed."""
    from sisctl.jobs.profile import run_profile, run_profile_diff
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    command = cmd or shlex.join(argv)
    if not command:
        raise usage("give a command after -- (or --cmd)")
    timeout_s = parse_duration(timeout, "--timeout", above=0)
    if bool(baseline) != bool(candidate) or (candidate and variant):
        raise usage("a comparison takes --baseline and --candidate (and no --variant)")
    if candidate and sampler != "guest":
        raise usage("a comparison samples in the guest (--sampler guest)")
    if rounds < 1:
        raise usage(f"--rounds {rounds}: give 1 or more")
    if candidate:
        summary = run_profile_diff(board, command, baseline, candidate, hz=hz, rounds=rounds, timeout_s=timeout_s,
                                   progress=lines(json_))
        table = "\n".join(f"  {100 * r['change']:+5.1f} %  {r['function']}"
                          for r in summary["growers"][:5] + summary["shrinkers"][:5])
    else:
        summary = run_profile(board, command, hz=hz, variant=variant, timeout_s=timeout_s, progress=lines(json_),
                              sampler=sampler)
        table = "\n".join(f"  {100 * t['self_share']:5.1f} %  {t['function']}" for t in summary["top"][:10])
    say(json_, summary, f"{summary['headline']}\n{table}\nreport {summary['report']}")
    if summary["status"] != "passed":
        raise Exit(f"error: {summary['reason']}", code=errors.TEST_FAILURE)
