"""The profile job: run one command on a board under the agent's sampler and write where the kernel
spent its time: folded stacks, a top-functions table and a flame graph, on a page of its own."""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import time
from pathlib import Path
from typing import Callable

from sisctl import paths
from sisctl.board.errors import BoardError
from sisctl.board.gdbstub import HostSampler, gdb_args
from sisctl.board.firstuse import ensure_flashed
from sisctl.build.variant import checked_variant
from sisctl.errors import UsageError
from sisctl.jobs.boards import held_board
from sisctl.profile.diff import diff_flame_svg, diff_profiles, growers, shrinkers
from sisctl.profile.flame import flame_svg, static_copy
from sisctl.profile.folded import fold, folded_text, top_functions
from sisctl.net import free_port
from sisctl.profile.samples import Samples, Stack, new_mark, parse_samples, profile_command
from sisctl.profile.symbols import Resolver, add_sources
from sisctl.report.index import write_index
from sisctl.report.jobpage import write_job_page
from sisctl.report.page import Figure, Link, Paragraph, Table

TOP = 20
SAMPLERS = ("guest", "host")


DEADLINE_MARGIN_S = 15     # the agent's own timeout, past the sampler's deadline for the command


def sample_command(session, command: str, hz: int, timeout_s: float) -> tuple[Samples, object]:
    """Run `command` under the sampler in a live session of a board with sisctl's agent: the samples
    and the command's result. A command still running after `timeout_s` is killed by the sampler,
    which still reports; its result then reads as a timeout, as it would have without sampling."""
    mark = new_mark()
    result = session.run(profile_command(command, hz, mark, timeout_s), timeout_s=timeout_s + DEADLINE_MARGIN_S)
    samples, samples.command_stderr = parse_samples(result.stderr.decode(errors="replace"), mark)
    if samples.unsupported_errno is not None:
        why = {errno.ENOENT: "the kernel has no perf events (CONFIG_PERF_EVENTS)",
               errno.EACCES: "perf_event_paranoid forbids it", errno.EPERM: "perf_event_paranoid forbids it",
               errno.EINVAL: f"{hz} Hz is above the kernel's perf_event_max_sample_rate, or the event is "
                             "unsupported"}.get(samples.unsupported_errno, os.strerror(samples.unsupported_errno))
        raise UsageError(f"{session.board.name}: the kernel refused a sampling perf event: {why} "
                         f"(errno {samples.unsupported_errno}); --sampler host samples it from outside")
    if result.reason == "exit" and samples.exit_code is None:
        raise BoardError(session.board.name, "the sampler's report ended early (no exit line): "
                         f"{result.stderr.decode(errors='replace')[-300:]}")
    if samples.deadline_s is not None:
        result = dataclasses.replace(result, reason="timeout", code=-1)
    return samples, result


def write_top_and_flame(out: Path, folded: dict, vmlinux: Path | None, title: str) -> list[dict]:
    """top.json (with source lines where vmlinux has them) and flame.svg of `folded` in `out`; the top."""
    top = add_sources(top_functions(folded, TOP), vmlinux)
    (out / "top.json").write_text(json.dumps(top, indent=1) + "\n")
    (out / "flame.svg").write_text(flame_svg(folded, title))
    return top


def write_profile(out: Path, samples: Samples, resolver: Resolver, title: str) -> dict:
    """profile.folded, top.json and flame.svg in `out`; the figures for a summary."""
    folded = fold(samples, resolver)
    (out / "profile.folded").write_text(folded_text(folded))
    top = write_top_and_flame(out, folded, resolver.vmlinux_path, title)
    return {"samples": samples.total, "counted": samples.counted, "lost": samples.lost, "dropped": samples.dropped,
            "stacks": len(folded), "symbols": resolver.source, "unresolved_frames": resolver.unresolved,
            "top": top}


def _sample_on(board, chosen, command: str, hz: int, timeout_s: float, progress, sampler: str = "guest") -> tuple:
    """One boot of `chosen` (a variant; None: the flashed kernel, from its snapshot) sampling `command`
    by the agent in the guest or (`sampler` host) through QEMU's gdbstub: the samples, the
    command's result, the artifact booted and the run folder."""
    artifact = chosen.build(progress=progress) if chosen else board.flashed().load_artifact()
    port = free_port()
    with board.session(fast=chosen is None and sampler == "guest", artifact=artifact if chosen else None,
                       append=chosen.append if chosen else "", label="profile",
                       qemu_args=gdb_args(port) if sampler == "host" else []) as session:
        progress(f"{board.name}: sampling {command!r} at {hz} Hz from the {sampler} on "
                 f"{chosen.text if chosen else 'the flashed kernel'}")
        if sampler == "guest":
            samples, result = sample_command(session, command, hz, timeout_s)
        else:
            samples, result = host_sample(session, port, command, hz, timeout_s)
    return samples, result, artifact, session.run_dir


def host_sample(session, port: int, command: str, hz: int, timeout_s: float) -> tuple[Samples, object]:
    """Run `command` while the host samples the guest's vCPUs through QEMU's gdbstub."""
    with HostSampler(port, hz) as sampler:
        result = session.run(command, timeout_s=timeout_s)
    if sampler.error:
        raise BoardError(session.board.name, f"host-side sampling failed: {sampler.error}")
    samples = Samples(stacks=[Stack(count, cpu, frames) for count, cpu, frames in sampler.stacks()],
                      comms={cpu: f"cpu{cpu}" for _, cpu, _ in sampler.stacks()}, total=sampler.samples,
                      exit_code=result.code, stopped_s=sampler.stopped_s,
                      command_stderr=result.stderr.decode(errors="replace"))
    return samples, result


def _booted(chosen, artifact) -> dict:
    return {"variant": chosen.text, "kernel_version": artifact.manifest.get("kernel_version"),
            "build_id": artifact.build_id} if chosen else {}


def _start(board_name: str, hz: int, reports: Path | None, progress, sampler: str = "guest"):
    if hz < 1 or hz > 10000:
        raise UsageError(f"--hz {hz}: give 1 to 10000 samples a second")
    if sampler not in SAMPLERS:
        raise UsageError(f"--sampler {sampler!r}: expected {' or '.join(SAMPLERS)}")
    board = held_board(board_name, reports=reports)
    if sampler == "host" and board.spec.qemu is None:
        raise UsageError(f"{board.name}: the host samples through QEMU's gdbstub, and this is a real board")
    if sampler == "guest" and not board.has_agent:
        raise UsageError(f"{board.name}: profiles are sampled by sisctl's agent, which this board's target "
                         "does not run (--sampler host samples a QEMU board from outside)")
    ensure_flashed(board, progress)
    return board


def _ended(result) -> str:
    """Why the command did not succeed, or ''."""
    if result.reason == "timeout":
        return "the command did not end within its timeout and was killed (its samples until then are kept)"
    return "" if result.reason == "exit" and result.code == 0 else f"the command ended with {result.reason} {result.code}"


def run_profile(board_name: str, command: str, hz: int = 1000, variant: str = "", timeout_s: float = 300,
                progress: Callable[[str], None] = print, reports: Path | None = None, sampler: str = "guest") -> dict:
    chosen = checked_variant(variant) if variant else None
    board = _start(board_name, hz, reports, progress, sampler)
    samples, result, artifact, run_dir = _sample_on(board, chosen, command, hz, timeout_s, progress, sampler)
    out = paths.unique_dir(reports or paths.reports_dir(), f"profile-{time.strftime('%Y%m%d-%H%M%S')}-{board.name}")
    resolver = Resolver(samples, artifact.vmlinux)
    figures = write_profile(out, samples, resolver, f"{board.name}: {command}")
    (out / "command.log").write_bytes(result.stdout + samples.command_stderr.encode())
    reason = _ended(result) or ("" if samples.counted else "no samples were taken (did the command run on the CPU?)")
    if reason and samples.command_stderr.strip():
        reason += f"; its stderr ended: {samples.command_stderr.strip().splitlines()[-1][:200]}"
    top = figures["top"][0]["function"] if figures["top"] else "-"
    summary = {"kind": "profile", "board": board.name, "command": command, "hz": hz, "sampler": sampler,
               "guest_stopped_s": round(samples.stopped_s, 3),
               "booted": _booted(chosen, artifact), "status": "failed" if reason else "passed", "reason": reason,
               "headline": f"{samples.counted} samples, top: {top}", "exit_code": result.code,
               "finished_epoch": round(time.time(), 1), "report": str(out),
               "console_log": str(run_dir / "console.log"), "provenance": board.provenance(), **figures}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_job_page(out, summary, profile_sections(figures, out),
                   links=[Link("flame graph (zoomable)", "flame.svg"), Link("folded stacks", "profile.folded"),
                          Link("the command's output", "command.log"),
                          Link("console log", os.path.relpath(run_dir / "console.log", out))])
    write_index(out.parent)
    return summary


def profile_sides(board, sides: dict, command: str, out: Path, hz: int = 1000, rounds: int = 1,
                  timeout_s: float = 300, progress: Callable[[str], None] = print) -> dict:
    """`command` sampled on the baseline and candidate variants of `sides`, interleaved ABBA `rounds`
    times: each side's profile in out/<side>/, the differential one in out/diff.json and diff.svg."""
    merged = {side: Samples() for side in sides}
    artifacts, problems = {}, []
    for side in ("baseline", "candidate", "candidate", "baseline") * rounds:
        samples, result, artifacts[side], _ = _sample_on(board, sides[side], command, hz, timeout_s, progress)
        merged[side].stacks += samples.stacks
        merged[side].kallsyms.update(samples.kallsyms)
        merged[side].comms.update(samples.comms)
        merged[side].ktext = samples.ktext
        merged[side].total += samples.total
        merged[side].lost += samples.lost
        merged[side].dropped += samples.dropped
        ended = _ended(result)
        problems += [f"{side}: {ended}"] if ended else []
    folded, figures = {}, {}
    for side, samples in merged.items():
        (out / side).mkdir(parents=True, exist_ok=True)
        resolver = Resolver(samples, artifacts[side].vmlinux)
        figures[side] = write_profile(out / side, samples, resolver, f"{side}: {command}")
        folded[side] = fold(samples, resolver)
    rows = diff_profiles(folded["baseline"], folded["candidate"])
    (out / "diff.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "diff.svg").write_text(diff_flame_svg(folded["candidate"], rows,
                                                 f"{sides['candidate'].text} against {sides['baseline'].text}"))
    empty = [side for side, samples in merged.items() if not samples.counted]
    problem = "; ".join(problems) or (f"no samples on the {' and '.join(empty)} side" if empty else "")
    return {"rows": rows, "growers": growers(rows), "shrinkers": shrinkers(rows), "problem": problem,
            "sides": figures, "booted": {side: _booted(sides[side], artifacts[side]) for side in sides}}


def run_profile_diff(board_name: str, command: str, baseline: str, candidate: str, hz: int = 1000,
                     rounds: int = 1, timeout_s: float = 300, progress: Callable[[str], None] = print,
                     reports: Path | None = None) -> dict:
    """`command` sampled on both kernels, interleaved ABBA `rounds` times, and the differential profile."""
    sides = {"baseline": checked_variant(baseline, "--baseline"), "candidate": checked_variant(candidate, "--candidate")}
    board = _start(board_name, hz, reports, progress)
    out = paths.unique_dir(reports or paths.reports_dir(),
                           f"profile-diff-{time.strftime('%Y%m%d-%H%M%S')}-{board.name}")
    done = profile_sides(board, sides, command, out, hz, rounds, timeout_s, progress)
    grew = done["growers"]
    summary = {"kind": "profile-diff", "board": board.name, "command": command, "hz": hz, "rounds": rounds,
               "booted": {"sides": done["booted"]}, "status": "failed" if done["problem"] else "passed",
               "reason": done["problem"],
               "headline": f"top grower: {grew[0]['function']}" if grew else "no function changed beyond noise",
               "growers": grew, "shrinkers": done["shrinkers"], "finished_epoch": round(time.time(), 1),
               "report": str(out), "provenance": board.provenance(), "sides": done["sides"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_job_page(out, summary, diff_sections(done["rows"], out),
                   links=[Link("differential flame graph (zoomable)", "diff.svg"),
                          Link("baseline profile", "baseline/flame.svg"), Link("candidate profile", "candidate/flame.svg")])
    write_index(out.parent)
    return summary


def diff_sections(rows: list[dict], out: Path) -> list:
    shown = [r for r in rows if r["significant"]] or rows[:5]
    table = [[r["function"], f"{100 * r['before_share']:.1f}", f"{100 * r['after_share']:.1f}",
              f"{100 * r['change']:+.1f}", f"{r['p_value']:.2g}", "yes" if r["significant"] else "no"] for r in shown]
    svg = (out / "diff.svg").read_text()
    return [Paragraph("Functions whose share of the samples changed beyond sampling noise (two-proportion "
                      "test, Bonferroni-corrected, and at least one percentage point); where none did, the "
                      "five largest changes."),
            Table("Changed functions", ["function", "baseline self %", "candidate self %", "change", "p", "named"], table),
            Figure("Differential flame graph", static_copy(svg),
                   "the candidate's stacks; red: grew, blue: shrank; open diff.svg to zoom")]


def top_table(top: list[dict]) -> Table:
    """The top functions with their self and total share, and their source line where DWARF tells."""
    sources = any(t.get("source") for t in top)
    rows = [[t["function"], t["self"], f"{100 * t['self_share']:.1f}", t["total"], f"{100 * t['total_share']:.1f}",
             *([t.get("source") or None] if sources else [])] for t in top]
    return Table("Top functions", ["function", "self", "self %", "total", "total %", *(["source"] if sources else [])],
                 rows)


def profile_sections(figures: dict, out: Path) -> list:
    svg = (out / "flame.svg").read_text()
    return [Paragraph(f"{figures['counted']} samples in {figures['stacks']} distinct stacks; symbols from "
                      f"{figures['symbols']}; {figures['lost']} lost, {figures['dropped']} dropped."),
            top_table(figures["top"]),
            Figure("Flame graph", static_copy(svg),
                   "callers below, callees above; open flame.svg to zoom")]
