"""Telling people about a plan run's new failures: a JSON webhook and/or an e-mail, as lab.yaml's
`notify:` says. Secrets come from the environment. A notification that cannot be sent is a
warning on stderr: it never changes the run's verdict or loses its results."""
from __future__ import annotations

import json
import os
import smtplib
import sys
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from sisctl.labfile import NotifySpec


def new_failures(summary: dict) -> list[dict]:
    return [v for v in summary.get("history", {}).get("verdicts", []) if v["class"] == "new failure"]


def link(spec: NotifySpec, report: str) -> str:
    """A job's page: under reports_url when the lab serves its reports, else its path."""
    if not report:
        return ""
    page = Path(report) / "index.html"
    return f"{spec.reports_url.rstrip('/')}/{page.parent.name}/index.html" if spec.reports_url else str(page)


def message(spec: NotifySpec, summary: dict) -> dict:
    failures = new_failures(summary)
    return {"plan": summary.get("plan"), "run": Path(summary.get("report", "")).name, "status": summary.get("status"),
            "page": link(spec, summary.get("report", "")),
            "new_failures": [{"job": v["job"], "case": v["case"], "board": v["board"], "kernel": v["kernel"],
                              "detail": v["detail"], "last_pass": v["last_pass"], "first_fail": v["first_fail"],
                              "page": link(spec, (v["first_fail"] or {}).get("report", ""))} for v in failures]}


def notify(spec: NotifySpec, summary: dict) -> list[str]:
    """Send what the spec asks for when the run has new failures; what was sent, by channel."""
    if not new_failures(summary):
        return []
    body, sent = message(spec, summary), []
    for channel, send in (("webhook", _webhook), ("email", _email)):
        try:
            if send(spec, body):
                sent.append(channel)
        except (OSError, smtplib.SMTPException, urllib.error.URLError, ValueError) as err:
            print(f"notify: {channel} not sent: {err}", file=sys.stderr)
    return sent


def _webhook(spec: NotifySpec, body: dict) -> bool:
    hook = spec.webhook
    if not hook.url:
        return False
    headers = {"Content-Type": "application/json"}
    token = os.environ.get(hook.token_env, "") if hook.token_env else ""
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(hook.url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=hook.timeout_s) as answer:
        answer.read()
    return True


def _email(spec: NotifySpec, body: dict) -> bool:
    mail = spec.email
    if not mail.to:
        return False
    text = [f"Plan {body['plan']}, run {body['run']}: {len(body['new_failures'])} new failures", body["page"], ""]
    for f in body["new_failures"]:
        last = f["last_pass"] or {}
        text += [f"- {f['job']} {f['case']}", f"  {f['detail']}",
                 f"  last passed in {last.get('run', '?')} on {last.get('kernel', '?')}; first failed here on "
                 f"{f['kernel']}", f"  {f['page']}"]
    msg = EmailMessage()
    msg["Subject"] = f"[sisctl] {body['plan']}: {len(body['new_failures'])} new failures in {body['run']}"
    msg["From"], msg["To"] = mail.sender, ", ".join(mail.to)
    msg.set_content("\n".join(text) + "\n")
    host, port = mail.smtp.rsplit(":", 1)
    with smtplib.SMTP(host.strip("[]"), int(port), timeout=mail.timeout_s) as smtp:
        if mail.starttls:
            smtp.starttls()
        if mail.user_env:
            smtp.login(os.environ.get(mail.user_env, ""), os.environ.get(mail.password_env, ""))
        smtp.send_message(msg)
    return True
