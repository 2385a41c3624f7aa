"""The CI templates in lab/ci/ parse, run the documented command, publish the plan's JUnit and reports,
and retry infrastructure errors (exit 75) only."""
from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

import yaml

CI = Path(__file__).resolve().parents[2] / "lab" / "ci"
COMMAND = "lab/invoke nightly --plan lab/plans/nightly.yaml"
JUNIT = "reports/nightly-*/junit.xml"
JUNIT_WRITTEN = "reports/nightly-20261123-020000/junit.xml"   # where `invoke nightly` writes it


def test_gitlab_template():
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["nightly"]
    assert job["script"] == [COMMAND]
    assert job["retry"]["exit_codes"] == [75]
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["paths"] == ["reports/"]
    assert fnmatch.fnmatch(JUNIT_WRITTEN, job["artifacts"]["reports"]["junit"])
    assert job["tags"] and any("schedule" in rule["if"] for rule in job["rules"])


def test_github_actions_template():
    flow = yaml.safe_load((CI / "github-actions.yml").read_text())
    assert flow[True]["schedule"][0]["cron"]            # YAML 1.1 reads the key `on` as True
    steps = flow["jobs"]["nightly"]["steps"]
    assert [s["run"] for s in steps if "run" in s] == [f"lab/ci/retry-infra 3 {COMMAND}"]
    published = [s for s in steps if s.get("uses", "").startswith(("actions/upload-artifact", "mikepenz/"))]
    assert all(s["if"] == "always()" for s in published) and len(published) == 2
    assert fnmatch.fnmatch(JUNIT_WRITTEN, published[1]["with"]["report_paths"])
    assert "self-hosted" in flow["jobs"]["nightly"]["runs-on"]


def test_jenkinsfile():
    text = (CI / "Jenkinsfile").read_text()
    code = re.sub(r"//.*", "", text)
    assert code.count("{") == code.count("}") and code.count("(") == code.count(")")
    assert f"lab/ci/retry-infra 3 {COMMAND}" in code
    assert f"junit testResults: '{JUNIT}'" in code and "archiveArtifacts artifacts: 'reports/**'" in code
    assert "status == 1" in code and "unstable(" in code


def retry(tries: int, script: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CI / "retry-infra"), str(tries), "bash", "-c", script],
                          capture_output=True, text=True, timeout=30)


def test_retry_repeats_only_infrastructure_errors(tmp_path):
    counter = tmp_path / "n"
    count = f"echo x >> {counter}; "
    done = retry(3, count + f"[ $(wc -l < {counter}) -ge 2 ] && exit 0; exit 75")
    assert done.returncode == 0 and counter.read_text().count("x") == 2
    counter.unlink()
    done = retry(3, count + "exit 75")
    assert done.returncode == 75 and counter.read_text().count("x") == 3
    counter.unlink()
    for status in (1, 2, 130):
        done = retry(3, count + f"exit {status}")
        assert done.returncode == status
    assert counter.read_text().count("x") == 3      # once each: never retried
