"""kselftest on a QEMU board: the collections' static binaries on a read-only virtio disk, run one
test at a time by the agent with a per-test timeout. A test is a case, and so is each subtest its
own TAP reports (a kselftest_harness test's `global.basic_interface`).

As the kernel's runner decides: exit 0 passes, exit 4 (KSFT_SKIP) skips, a test past its timeout
is an error, any other exit fails. A kernel that dies during a test makes that test an error
with the report's title; the next boot goes on with the tests after it.
"""
from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Callable

from sisctl.board.qemu import Disk, mount_script
from sisctl.build.kselftest import Kselftests
from sisctl.campaign.core.kind import Context
from sisctl.campaign.ktap.ktap import parse
from sisctl.campaign.ktap.summary import test_record
from sisctl.errors import BoardError, UsageError

DISK = "kselftest"
MOUNT = "/mnt/kselftest"
WORK = "/tmp/kselftest"
KSFT_SKIP = 4
OUTPUT_KEPT = 40


def suite_of(collection: str) -> str:
    return f"kselftest.{collection}"


def outcome(reason: str, code: int, text: str) -> tuple[str, str, list[str]]:
    """status, reason and diagnostics of one test's run, as the kernel's runner reads them."""
    failing = [f"{'.'.join(path)}: {t.status}" + (f" ({t.reason})" if t.reason else "")
               for path, t in parse(text).root.leaves() if t.status in ("fail", "error")] if text else []
    tail = text.splitlines()[-OUTPUT_KEPT:]
    if reason == "timeout":
        return "error", "did not finish within its timeout", failing + tail
    if reason == "exit" and code == 0:
        return "pass", "", []
    if reason == "exit" and code == KSFT_SKIP:
        skipped = next((line for line in reversed(tail) if "SKIP" in line), "")
        return "skip", skipped.lstrip("#ok 0123456789-").strip(), []
    return "fail", f"{'exit' if reason == 'exit' else 'killed by signal'} {code}", failing + tail


class KselftestRun:
    def __init__(self, ctx: Context, built: Kselftests, timeout_s: float, recorded: Callable[[], set],
                 append: Callable[[dict], None], boot_args: dict):
        if ctx.board.spec.qemu is None:
            raise UsageError(f"{ctx.board.name}: kselftest binaries reach the board on a virtio disk, which only "
                             "QEMU boards have")
        self.ctx, self.built, self.timeout_s = ctx, built, timeout_s
        self.recorded, self.append, self.boot_args = recorded, append, boot_args

    def run(self, boot_number: Callable[[], int]) -> None:
        disk = self.ctx.scratch / "kselftest.ext4"   # a copy: QEMU opens its disks for writing
        shutil.copyfile(self.built.image, disk)
        for _ in range(len(self.built.tests) + 1):   # every boot gives at least one test its record
            remaining = [t for t in self.built.tests if (suite_of(t[0]), t[1]) not in self.recorded()]
            if not remaining:
                return
            self._session(remaining, disk, boot_number())

    def _session(self, remaining: list[tuple[str, str]], disk: Path, number: int) -> None:
        current, ran = None, 0
        self.append({"type": "boot", "boot": number, "glob": "kselftest", "crash": ""})
        try:
            with self.ctx.board.session(fast=True, append="kunit.enable=0", label=f"kselftest-{number}",
                                        disks=[Disk(DISK, disk)], **self.boot_args) as session:
                mounted = session.run(mount_script(DISK, MOUNT, read_only=True), 60)
                if not mounted.ok:
                    raise BoardError(self.ctx.board.name, f"kselftest disk did not mount: {mounted.text.strip()}")
                for collection, test in remaining:
                    current = (collection, test)
                    self.ctx.progress(f"\r{self.ctx.board.name}: kselftest {collection}:{test}")
                    # from a writable copy: tests make their scratch files where they run
                    here = shlex.quote(collection)
                    command = (f"mkdir -p {WORK} && cp -r {MOUNT}/{here} {WORK}/ 2>/dev/null; "
                               f"cd {WORK}/{here} && ./{shlex.quote(test)}")
                    result = session.run(command, self.timeout_s)
                    status, reason, diagnostics = outcome(result.reason, result.code, result.text)
                    for path, sub in parse(result.text).root.leaves():   # the test's own TAP, a case each
                        self.append(test_record(number, suite_of(collection), test, ".".join(path), sub.status,
                                                sub.reason, sub.diagnostics))
                    self.append(test_record(number, suite_of(collection), test, "", status, reason, diagnostics,
                                            seconds=round(result.duration_s, 2)))
                    current, ran = None, ran + 1
        except BoardError as err:
            if current is None:
                raise   # the board failed between tests: not the kernel's verdict on one
            title = getattr(err, "title", "") or str(err).splitlines()[0]
            collection, test = current
            self.append(test_record(number, suite_of(collection), test, "", "error",
                                    f"the kernel died or hung in this test: {title}",
                                    err.log_tail.splitlines()[-OUTPUT_KEPT:] if err.log_tail else []))
