"""Run a kernel's KUnit suites at boot and keep a record per test, whatever the kernel does.

The first boot lists the tests the filter selects (kunit.action=list), so a test that never
reports is known by name; the next runs them (kunit.filter_glob). A boot cut short inside KTAP
output (a panic, an oops that ends the boot, a hang past the boot timeout) makes the test that
was running an error with the report's title; the next boot runs the tests still unreported,
a suite or a test at a time, until every listed test has a record. A killed campaign resumes
with the tests it has no record of.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from sisctl import paths
from sisctl.board.oops import report_start
from sisctl.build.artifact import Artifact
from sisctl.build.kselftest import build_kselftests, parse_collections
from sisctl.build.variant import parse_variant
from sisctl.campaign.core.kind import Context
from sisctl.campaign.core.records import read_records
from sisctl.campaign.ktap.kselftest import KselftestRun
from sisctl.campaign.ktap.ktap import VERSION, parse, strip_prefix
from sisctl.campaign.ktap.options import KtapConfig
from sisctl.campaign.ktap.summary import test_record
from sisctl.errors import BoardError, UsageError

LISTED = re.compile(r"^([^\s.]+)\.(\S+)$")


@dataclass(frozen=True)
class Listed:
    suite: str
    case: str

    @property
    def name(self) -> str:
        return f"{self.suite}.{self.case}"


def listed_tests(console: str) -> list[Listed]:
    """The suite.case lines kunit.action=list prints after its KTAP header."""
    lines = [strip_prefix(line).strip() for line in console.splitlines()]
    start = next((i for i, line in enumerate(lines) if VERSION.match(line)), None)
    if start is None:
        return []
    found = []
    for line in lines[start + 1:]:
        match = LISTED.match(line)
        if match:
            found.append(Listed(*match.groups()))
    return list(dict.fromkeys(found))


class KtapCampaign:
    def __init__(self, ctx: Context, config: KtapConfig):
        self.ctx, self.config = ctx, config
        self.records = list(read_records(ctx.out / "records.jsonl"))
        self.variant = parse_variant(config.kernel, "--kernel") if config.kernel else None

    def run(self) -> None:
        artifact, initrd = self._kernel()
        built = None   # kselftests are built first: a collection that does not build is bad input before a boot
        if self.config.kselftest:
            built = build_kselftests(parse_collections(self.config.kselftest), progress=self.ctx.progress)
            self.ctx.progress.total(len(built.tests))
        if self.config.suites:
            self._kunit(artifact, initrd, len(built.tests) if built else 0)
        if built is not None:
            KselftestRun(self.ctx, built, self.config.kselftest_timeout_s, self._recorded, self._append,
                         {"artifact": artifact, "initrd": initrd}).run(self._next_boot)

    def _recorded(self) -> set[tuple[str, str]]:
        return {(r["suite"], r["case"]) for r in self.records if r.get("type") == "test"}

    def _next_boot(self) -> int:
        return sum(r.get("type") == "boot" for r in self.records) + 1

    def _kunit(self, artifact, initrd, kselftests: int) -> None:
        listed = self._listed(artifact, initrd)
        self.ctx.progress.total(len(listed) + kselftests)
        for _ in range(len(listed) + 1):   # every boot gives at least one test its record
            remaining = self._remaining(listed)
            if not remaining:
                return
            first = len(remaining) == len(listed)
            glob = self.config.suites if first else self._glob(listed, remaining)
            covered = remaining if first else [t for t in remaining if glob in (t.suite, t.name)]
            self._run_boot(glob, covered, artifact, initrd)

    # --- the kernel and its tests ---------------------------------------------------------
    def _kernel(self) -> tuple[Artifact | None, Path | None]:
        if self.variant is None:
            return None, None
        artifact = self.variant.build(progress=self.ctx.progress)
        self.ctx.figures["booted"] = {"variant": self.variant.text, "kernel_version": artifact.manifest.get(
            "kernel_version"), "build_id": artifact.build_id, "kernel_sha256": artifact.sha256,
            **({"source": artifact.manifest["source"]} if artifact.manifest.get("source") else {})}
        return artifact, self.ctx.board.guest_image(artifact)

    def _listed(self, artifact, initrd) -> list[Listed]:
        recorded = next((r for r in self.records if r.get("type") == "list"), None)
        if recorded is not None:
            return [Listed(*name.split(".", 1)) for name in recorded["tests"]]
        console, problem, _ = self._boot("list", f"kunit.action=list kunit.filter_glob={self.config.suites}",
                                         artifact, initrd)
        if problem is not None:
            raise problem
        tests = listed_tests(console)
        if not tests:
            header = any(VERSION.match(strip_prefix(line).strip()) for line in console.splitlines())
            where = f"no KUnit test matches --suites {self.config.suites!r}" if header else \
                "KUnit is disabled on this kernel (kunit.enable=0)" if "kunit: disabled" in console else \
                "no KTAP output: is the kernel built with CONFIG_KUNIT=y?"
            raise UsageError(f"{self.ctx.board.name}: {where}")
        self._append({"type": "list", "glob": self.config.suites, "tests": [t.name for t in tests]})
        return tests

    def _remaining(self, listed: list[Listed]) -> list[Listed]:
        done = self._recorded()
        return [t for t in listed if (t.suite, t.case) not in done]

    def _glob(self, listed: list[Listed], remaining: list[Listed]) -> str:
        """The next boot's filter: the first unreported test's whole suite when none of the suite has
        run yet (and the filter picks whole suites), else that one test."""
        head = remaining[0]
        whole = all(t in remaining for t in listed if t.suite == head.suite)
        return head.suite if whole and "." not in self.config.suites else head.name

    # --- one boot ---------------------------------------------------------------------------
    def _run_boot(self, glob: str, covered: list[Listed], artifact, initrd) -> None:
        number = self._next_boot()
        console, problem, seconds = self._boot(f"run-{number}", f"kunit.filter_glob={glob}", artifact, initrd)
        parsed = parse(console)
        if not parsed.found and problem is not None:
            raise problem   # the kernel never got to its tests: the board or the boot failed
        self._append({"type": "boot", "boot": number, "glob": glob, "seconds": round(seconds, 2),
                      "ended": "ready" if problem is None else str(problem).splitlines()[0],
                      "crash": parsed.crash})
        named = {t.name for t in covered}
        for path, test in parsed.root.leaves():
            if not test.name:
                continue   # the test a crash cut short: named below from the list
            suite, case, param = path[0], path[1] if len(path) > 1 else path[0], ".".join(path[2:])
            if f"{suite}.{case}" in named:
                self._append(test_record(number, suite, case, param, test.status, test.reason, test.diagnostics))
        unreported = self._remaining(covered)
        if not unreported:
            if problem is not None:
                raise problem   # every test reported, then the boot failed
            return
        if problem is not None or parsed.crash:
            cause = parsed.crash or _report_title(console) or str(problem).splitlines()[0]
            cut = next((t for _, t in parsed.root.leaves() if not t.name), None)
            self._append(test_record(number, unreported[0].suite, unreported[0].case, "", "error",
                                    f"the kernel crashed in this test: {cause}", cut.diagnostics if cut else []))
        else:
            for test in unreported:
                self._append(test_record(number, test.suite, test.case, "", "error",
                                        "listed, but the boot that ran its suite never reported it", []))

    def _boot(self, label: str, append: str, artifact, initrd) -> tuple[str, BoardError | None, float]:
        """Boot with `append`; the console log, the board's failure (or None) and the seconds it took."""
        run_dir = paths.unique_dir(self.ctx.scratch / "boots", label)
        extra = f" {self.variant.append}" if self.variant and self.variant.append else ""
        self.ctx.progress(f"\r{self.ctx.board.name}: boot {label} ({append}{extra})")
        started, problem = time.monotonic(), None
        try:
            with self.ctx.board.session(fast=False, append=f"{append}{extra}", label=f"ktap-{label}",
                                        ready_timeout_s=self.config.boot_timeout_s, artifact=artifact,
                                        initrd=initrd, run_dir=run_dir):
                pass
        except BoardError as err:
            problem = err
        log = run_dir / "console.log"
        console = log.read_text(errors="replace") if log.exists() else ""
        return console, problem, time.monotonic() - started

    def _append(self, record: dict) -> None:
        new_test = record["type"] == "test" and (record["suite"], record["case"]) not in self._recorded()
        self.ctx.records.append(record)
        self.records.append(record)
        if new_test:
            self.ctx.progress.advance()


def _report_title(console: str) -> str:
    """The title of the first kernel report on a console log, if any."""
    for line in console.splitlines():
        found = report_start(line)
        if found:
            return found.title
    return ""
