"""Samples as folded stacks (root first, one line per distinct stack: `comm;[user];f;g;h COUNT`, the
format flame graph tools read) and as a table of functions by their share of the samples."""
from __future__ import annotations

from collections import Counter

from sisctl.profile.samples import KERNEL, USER, Samples
from sisctl.profile.symbols import Resolver

Folded = dict[tuple[str, ...], int]
USER_FRAME = "[user]"
# Calls the compiler inserts for coverage and sanitizers (KCOV, KASAN's inline checks, KCSAN): their
# time is the instrumented function's, so they are folded into the caller
INSTRUMENTATION = ("__sanitizer_cov_", "__asan_", "__tsan_")


def fold(samples: Samples, resolver: Resolver) -> Folded:
    stacks: Counter = Counter()
    for stack in samples.stacks:
        comm = samples.comms.get(stack.pid, f"pid {stack.pid}").replace(";", ":")   # ';' parts frames
        kernel = [resolver.name(f) for f in stack.frames if f not in (KERNEL, USER)]
        while kernel and kernel[0].startswith(INSTRUMENTATION):     # leaf first
            del kernel[0]
        path = (comm, *([USER_FRAME] if USER in stack.frames else []), *reversed(kernel))
        stacks[path] += stack.count
    return dict(stacks)


def folded_text(folded: Folded) -> str:
    return "".join(f"{';'.join(path)} {count}\n" for path, count in sorted(folded.items()))


MAX_COUNT = 10 ** 12       # more samples than any run takes: a damaged line, left out


def read_folded(text: str) -> Folded:
    """Folded stacks from their text; lines that are not `frame;frame COUNT` are left out."""
    stacks: Counter = Counter()
    for line in text.splitlines():
        path, _, count = line.rpartition(" ")
        frames = tuple(path.split(";"))
        if path and count.isdigit() and int(count) <= MAX_COUNT and all(frames):
            stacks[frames] += int(count)
    return dict(stacks)


def function_counts(folded: Folded) -> tuple[Counter, Counter, int]:
    """Samples per function where it ran (self) and where it was on the stack (total, once per
    sample however deep it recurses), and the samples in all. Process names are not functions."""
    own, total = Counter(), Counter()
    for path, count in folded.items():
        frames = path[1:]
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    return own, total, sum(folded.values())


def top_functions(folded: Folded, limit: int = 20) -> list[dict]:
    own, total, samples = function_counts(folded)
    ranked = sorted(total, key=lambda name: (-own[name], -total[name], name))[:limit]
    return [{"function": name, "self": own[name], "total": total[name],
             "self_share": own[name] / samples if samples else 0.0,
             "total_share": total[name] / samples if samples else 0.0} for name in ranked]
