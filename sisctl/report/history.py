"""Every plan run's test cases, kept across nights in one SQLite file under the state folder.

The reports folder stays the truth: each plan run's summary.json (its jobs, boards, kernels) and
junit.xml (a suite per job, a case per test) are read into the store, and a store that is
missing, damaged or from an older layout is rebuilt from them (`rebuild`). A case's key is its
job (the plan step on one board and kernel variant: `crash-reset.qemu-virt-0-linux-kbuild`) and
its name.
"""
from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from sisctl import paths
from sisctl.errors import InfrastructureError
from sisctl.jsonfile import read_json

LAYOUT = 1
PLAN_RUN_PREFIX = "nightly-"   # plan runs' folders under the reports folder (nightly/run.py names them)
SCHEMA = """
CREATE TABLE runs (run TEXT PRIMARY KEY, plan TEXT, finished REAL, folder TEXT);
CREATE TABLE cases (run TEXT, job TEXT, board TEXT, kernel TEXT, build_id TEXT, name TEXT,
                    outcome TEXT, detail TEXT, report TEXT);
CREATE INDEX cases_key ON cases (job, name);
"""
OUTCOMES = ("pass", "fail", "error", "skip")


@dataclass(frozen=True)
class CaseResult:
    run: str
    finished: float
    job: str
    board: str
    kernel: str        # the kernel's release, as the job's report names it
    build_id: str      # its build id ("" when the job had none)
    name: str
    outcome: str       # pass, fail, error or skip
    detail: str        # the first line of its failure, error or skip message
    report: str        # the job's report folder

    @property
    def bad(self) -> bool:
        return self.outcome in ("fail", "error")


def store_path() -> Path:
    return paths.state_dir() / "history.sqlite"


class NotAPlanRun(ValueError):
    """A reports folder that holds no whole, finished plan run (a campaign's, an aborted or damaged one)."""


def read_plan_run(folder: Path) -> tuple[dict, list[CaseResult]]:
    """A finished plan run's summary and its cases, from its report folder."""
    try:
        summary = read_json(folder / "summary.json")
        if not isinstance(summary, dict) or summary.get("kind") != "nightly":
            raise NotAPlanRun(f"{folder}: not a plan run")
        if summary.get("status") == "aborted":
            raise NotAPlanRun(f"{folder}: an aborted plan run (its results are partial)")
        jobs = {row["id"]: row for row in summary["jobs"]}
        finished = float(summary.get("finished_epoch") or 0)
        found = []
        for suite in ET.parse(folder / "junit.xml").getroot().iter("testsuite"):
            row = jobs.get(suite.get("name"), {})
            for case in suite.iter("testcase"):
                outcome, detail = _outcome(case)
                found.append(CaseResult(folder.name, finished, suite.get("name"), str(row.get("board", "")),
                                        str(row.get("kernel", "")), str(row.get("build_id", "")),
                                        case.get("name", ""), outcome, detail, str(row.get("report", ""))))
        return summary, found
    except NotAPlanRun:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ET.ParseError) as err:
        raise NotAPlanRun(f"{folder}: not a readable plan run ({type(err).__name__}: {err})") from None


def _outcome(case: ET.Element) -> tuple[str, str]:
    for tag, outcome in (("failure", "fail"), ("error", "error"), ("skipped", "skip")):
        node = case.find(tag)
        if node is not None:
            return outcome, (node.get("message") or (node.text or "").strip().split("\n")[0])[:500]
    return "pass", ""


class History:
    """The store: open it with `History.open()`, which rebuilds it when it cannot be read."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    @classmethod
    def open(cls, path: Path | None = None, reports: Path | None = None) -> History:
        """The store, with every plan run of the reports folder it lacks added (runs finished while
        it could not be written); rebuilt when it cannot be read."""
        path = path or store_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            try:
                db = sqlite3.connect(path)
            except sqlite3.Error as err:
                raise InfrastructureError(f"{path}: cannot open the history store ({err})") from None
            try:
                if db.execute("PRAGMA user_version").fetchone()[0] == LAYOUT:
                    db.execute("SELECT count(*) FROM cases").fetchone()
                    history = cls(db)
                    history.sync(reports or paths.reports_dir())
                    return history
            except sqlite3.DatabaseError:
                pass
            db.close()
            paths.set_aside(path)
        return cls.rebuild(path, reports)

    @classmethod
    def rebuild(cls, path: Path | None = None, reports: Path | None = None) -> History:
        """A new store from every plan run under the reports folder."""
        path = path or store_path()
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path)
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version = {LAYOUT}")
        history = cls(db)
        history.sync(reports or paths.reports_dir())
        return history

    def sync(self, reports: Path) -> None:
        """Add the plan runs under `reports` the store does not have."""
        known = {row[0] for row in self.db.execute("SELECT run FROM runs")}
        for folder in sorted(p.parent for p in reports.glob(f"{PLAN_RUN_PREFIX}*/summary.json")):
            if folder.name not in known:
                try:
                    self.add(folder)
                except NotAPlanRun:
                    continue   # a campaign's folder, an aborted run, or one cut short before its files were whole

    def add(self, folder: Path) -> list[CaseResult]:
        """Read a plan run's folder into the store (again: its old rows are replaced)."""
        summary, cases = read_plan_run(folder)
        with self.db:
            self.db.execute("DELETE FROM cases WHERE run = ?", (folder.name,))
            self.db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)",
                            (folder.name, summary.get("plan", ""), float(summary.get("finished_epoch") or 0),
                             str(folder)))
            self.db.executemany("INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                [(c.run, c.job, c.board, c.kernel, c.build_id, c.name, c.outcome, c.detail,
                                  c.report) for c in cases])
        return cases

    def before(self, run: str, plan: str) -> dict[tuple[str, str], list[CaseResult]]:
        """Each case's results in the runs of `plan` that finished before `run`, oldest first."""
        return self._by_case("r.plan = ? AND r.finished < (SELECT finished FROM runs WHERE run = ?) "
                             "ORDER BY r.finished", (plan, run))

    def matching(self, pattern: str, board: str = "", last: int = 20) -> list[CaseResult]:
        """The newest `last` results of each case whose job or name contains `pattern` (SQL LIKE with
        * as the wildcard), oldest first."""
        like = "%" + re.sub(r"([%_\\])", r"\\\1", pattern).replace("*", "%") + "%"   # only * is a wildcard
        found = self._by_case("(c.name LIKE ? ESCAPE '\\' OR c.job || '.' || c.name LIKE ? ESCAPE '\\') "
                              "AND (? = '' OR c.board = ?) ORDER BY c.job, c.name, r.finished",
                              (like, like, board, board))
        return [r for results in found.values() for r in results[-last:]]

    def _by_case(self, where: str, params: tuple) -> dict[tuple[str, str], list[CaseResult]]:
        """The results the condition selects, by case (job, name), in the order it gives."""
        rows = self.db.execute(
            "SELECT c.run, r.finished, c.job, c.board, c.kernel, c.build_id, c.name, c.outcome, c.detail, c.report "
            f"FROM cases c JOIN runs r ON r.run = c.run WHERE {where}", params).fetchall()
        found: dict[tuple[str, str], list[CaseResult]] = {}
        for row in rows:
            result = CaseResult(*row)
            found.setdefault((result.job, result.name), []).append(result)
        return found

    def close(self) -> None:
        self.db.close()

