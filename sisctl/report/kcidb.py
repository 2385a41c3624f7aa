"""A plan run, or one campaign, as a KCIDB v5 document (KernelCI's results format), validated
against the schema kcidb-io ships.

One checkout and one build per kernel artifact the run booted (its build id, else its sha256),
and a test per JUnit case. KCIDB test paths are dotted identifiers: the case name's leading
parts that fit stay in the path under the job's kind (`ktap.ext4_inode_test.inode_test_...`);
what does not fit (a parameter's description, a fuzz finding's title) goes into the test's
`misc.name`, whole.
"""
from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import kcidb_io

from sisctl.errors import UsageError
from sisctl.jsonfile import read_json

ORIGIN = "sisctl"
PART = re.compile(r"[A-Za-z0-9_-]+")
STATUS = {"failure": "FAIL", "error": "ERROR", "skipped": "SKIP"}


class InvalidDocument(Exception):
    """A document the KCIDB schema refuses: a bug in the export, never bad input."""


def kcidb_path(kind: str, name: str) -> tuple[str, str]:
    """The dotted path of a case, and what of its name did not fit ('' when all of it did)."""
    parts = name.split(".")
    kept = []
    for part in parts:
        if not PART.fullmatch(part):
            break
        kept.append(part)
    rest = "" if len(kept) == len(parts) else name
    return ".".join([PART.fullmatch(kind) and kind or "misc", *kept]), rest


def _epoch(value, fallback: float) -> float:
    try:
        return float(value or fallback)
    except (TypeError, ValueError):
        return fallback


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _json(path: Path) -> dict:
    try:
        data = read_json(path)
    except (OSError, ValueError) as err:
        raise UsageError(f"{path}: not a readable summary ({err})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a summary (a JSON {type(data).__name__}, not an object)")
    return data


def _cases(path: Path) -> list[ET.Element]:
    try:
        return list(ET.parse(path).getroot().iter("testcase"))
    except (OSError, ET.ParseError) as err:
        raise UsageError(f"{path}: not a readable JUnit file ({err})") from None


def _jobs(folder: Path) -> tuple[list[dict], float]:
    """The jobs of a plan run (or the one job a campaign folder is): id, kind, report folder."""
    summary = _json(folder / "summary.json")
    try:
        finished = float(summary.get("finished_epoch") or 0)
        if summary.get("kind") == "nightly":
            return [{"id": str(j["id"]), "kind": str(j["kind"]), "report": str(j.get("report") or "")}
                    for j in summary["jobs"]], finished
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise UsageError(f"{folder / 'summary.json'}: not a plan run's summary ({type(err).__name__}: {err})") \
            from None
    return [{"id": folder.name, "kind": str(summary.get("kind", "misc")), "report": str(folder)}], finished


def checkout(checkout_id: str, origin: dict) -> dict:
    """A kernel's checkout: for a tree built from git (a command recipe), its commit, `git describe`
    and whether it had uncommitted changes."""
    found = {"id": checkout_id, "origin": ORIGIN, "valid": True,
             "tree_name": f"linux-{origin.get('kernel_version', 'unknown')}",
             "misc": {"kernel_version": origin.get("kernel_version", "")}}
    source = origin.get("source") if isinstance(origin.get("source"), dict) else {}
    if re.fullmatch(r"[0-9a-f]{40}", str(source.get("git_commit", ""))):
        found["git_commit_hash"] = source["git_commit"]
        found["git_commit_name"] = str(source.get("git_describe", "")).replace("\0", "")
        found["misc"]["dirty"] = bool(source.get("dirty"))
    return found


def document(folder: Path) -> dict:
    """The KCIDB document of the plan run or campaign in `folder`."""
    jobs, finished = _jobs(folder)
    checkouts, builds, tests = {}, {}, []
    for job in jobs:
        report = Path(job["report"]) if job["report"] else None
        if report is None or not (report / "junit.xml").exists():
            continue   # a job that never ran has no tests to say; the plan's own JUnit says why
        own = _json(report / "summary.json") if (report / "summary.json").exists() else {}
        origin = {**own.get("provenance", {}), **own.get("booted", {})}
        artifact = origin.get("build_id") or (origin.get("kernel_sha256") or "unknown")[:40]
        build_id = f"{ORIGIN}:{artifact}"
        checkouts.setdefault(build_id, checkout(build_id, origin))
        builds.setdefault(build_id, {"id": build_id, "checkout_id": build_id, "origin": ORIGIN,
                                     "architecture": "arm64", "status": "PASS",
                                     "misc": {k: origin.get(k, "") for k in ("build_id", "kernel_sha256",
                                                                             "kernel_version", "variant")}})
        for n, case in enumerate(_cases(report / "junit.xml")):
            path, rest = kcidb_path(job["kind"], case.get("name", ""))
            verdict = next((c for c in case if c.tag in STATUS), None)
            test = {"id": f"{ORIGIN}:{folder.name}:{job['id']}:{n}", "build_id": build_id, "origin": ORIGIN,
                    "path": path, "status": STATUS[verdict.tag] if verdict is not None else "PASS",
                    "start_time": _iso(_epoch(own.get("finished_epoch"), finished)),
                    "environment": {"comment": own.get("board", "") or origin.get("board", ""),
                                    "misc": {"board": origin.get("board", ""), "firmware": origin.get("firmware", ""),
                                             "sisctl_version": origin.get("sisctl_version", "")}},
                    "misc": {"job": job["id"], "report": str(report), **({"name": rest} if rest else {})}}
            if verdict is not None and (verdict.get("message") or verdict.text):
                test["log_excerpt"] = (verdict.text or verdict.get("message") or "").replace("\0", "")[:16000]
            tests.append(test)
    if not tests:
        raise UsageError(f"{folder}: no job of it has results (junit.xml) to write")
    data = {"version": {"major": kcidb_io.schema.LATEST.major, "minor": kcidb_io.schema.LATEST.minor},
            "checkouts": list(checkouts.values()), "builds": list(builds.values()), "tests": tests}
    validate(data)
    return data


def validate(data: dict) -> None:
    """InvalidDocument naming the first problem the KCIDB schema finds."""
    try:
        kcidb_io.schema.LATEST.validate(data)
    except jsonschema.ValidationError as err:
        where = ".".join(str(p) for p in err.absolute_path) or "(top)"
        raise InvalidDocument(f"not a valid KCIDB v{kcidb_io.schema.LATEST.major} document at {where}: "
                              f"{err.message}") from None
