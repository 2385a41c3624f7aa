"""The KTAP campaign's options (suites, kernel, boot timeout) and the config they make."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sisctl.campaign.core.options import Option
from sisctl.duration import parse_duration
from sisctl.errors import UsageError

GLOB = re.compile(r"[A-Za-z0-9_*?\[\]-]+(\.[A-Za-z0-9_*?\[\]-]+)?")


@dataclass
class KtapConfig:
    board: str
    seed: int = 1
    suites: str = "*"               # kunit.filter_glob: SUITE_GLOB[.TEST_GLOB]; "" : no KUnit
    kernel: str = ""                # a variant booted without flashing it; "" = the board's flashed kernel
    boot_timeout_s: float = 300.0   # one boot, its tests included
    kselftest: str = ""             # kselftest collections, comma-separated ("" : none)
    kselftest_timeout_s: float = 45.0   # per kselftest test, as the kernel's own runner has it


def parse_suites(text: Any) -> str:
    text = str(text).strip()
    if text in ("", "none"):
        return ""
    if not GLOB.fullmatch(text):
        raise UsageError(f"--suites {text!r}: expected SUITE_GLOB[.TEST_GLOB] as kunit.filter_glob takes it "
                         "(e.g. ext4_*, list-kunit-test.*add*)")
    return text


def parse_kernel(text: Any) -> str:
    if not text:
        return ""
    from sisctl.build.variant import checked_variant
    checked_variant(str(text), "--kernel")
    return str(text)


def parse_boot_timeout(text: Any) -> float:
    return parse_duration(text, "--boot-timeout", at_least=5)


def parse_kselftest(text: Any) -> str:
    """Collections as a comma-separated text or (in a plan) a list."""
    from sisctl.build.kselftest import parse_collections
    if isinstance(text, list):
        text = ",".join(str(t) for t in text)
    return ",".join(parse_collections(text or ""))


def parse_kselftest_timeout(text: Any) -> float:
    return parse_duration(text, "--kselftest-timeout", at_least=1)


OPTIONS = (
    Option("suites", parse_suites, "*", "KUnit suites to run, as kunit.filter_glob (SUITE_GLOB[.TEST_GLOB]); "
           "none for no KUnit"),
    Option("kselftest", parse_kselftest, "", "kselftest collections to run, comma-separated (e.g. size,mincore)"),
    Option("kselftest_timeout", parse_kselftest_timeout, "45s", "the longest one kselftest test may run",
           field="kselftest_timeout_s"),
    Option("kernel", parse_kernel, "", "kernel variant RECIPE[+KERNEL-OPTION...] booted without flashing it "
           "(default: the board's flashed kernel)"),
    Option("boot_timeout", parse_boot_timeout, "5m", "the longest one boot may take, its tests included",
           field="boot_timeout_s"),
)
