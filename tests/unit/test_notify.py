"""New failures sent to a real loopback HTTP server and a real loopback SMTP server (aiosmtpd);
nothing sent without new failures; a receiver that is down is a warning, never an exception."""
import pytest
from aiosmtpd.controller import Controller

from sisctl.labfile import EmailSpec, NotifySpec, WebhookSpec
from sisctl.net import free_port
from sisctl.report.notify import notify
from tests.conftest import http_receiver

SUMMARY = {"plan": "nightly", "status": "failed", "report": "/r/nightly-20261202-030000", "history": {"verdicts": [
    {"class": "new failure", "job": "ktap.qemu-virt-0", "case": "ext4_inode_test.x", "board": "qemu-virt-0",
     "kernel": "6.1.192", "detail": "EXPECTATION FAILED at fs/ext4/inode-test.c:267",
     "last_pass": {"run": "nightly-20261201-030000", "kernel": "6.1.191", "build_id": "b1", "report": "/r/ktap-1"},
     "first_fail": {"run": "nightly-20261202-030000", "kernel": "6.1.192", "build_id": "b2", "report": "/r/ktap-2"},
     "note": ""},
    {"class": "fixed", "job": "smoke.qemu-virt-0", "case": "uname", "board": "qemu-virt-0", "kernel": "6.1.192",
     "detail": "", "last_pass": None, "first_fail": None, "note": ""}]}}


@pytest.fixture
def webhook():
    with http_receiver(204) as receiver:
        yield receiver


@pytest.fixture
def smtp():
    messages = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            messages.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"
    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield f"127.0.0.1:{controller.port}", messages
    controller.stop()


def test_new_failures_go_to_the_webhook_and_by_mail(webhook, smtp, monkeypatch):
    url, received = webhook
    relay, messages = smtp
    monkeypatch.setenv("SISCTL_NOTIFY_TOKEN", "s3cret")
    spec = NotifySpec(WebhookSpec(url=url), EmailSpec(to=["kernel-team@lab.example"], smtp=relay),
                      reports_url="http://reports.lab.example")
    assert notify(spec, SUMMARY) == ["webhook", "email"]
    headers, body = received[0]
    assert headers["Authorization"] == "Bearer s3cret"
    assert [f["case"] for f in body["new_failures"]] == ["ext4_inode_test.x"]   # the fixed case is not news
    assert body["new_failures"][0]["last_pass"]["run"] == "nightly-20261201-030000"
    assert body["new_failures"][0]["page"] == "http://reports.lab.example/ktap-2/index.html"
    assert body["page"] == "http://reports.lab.example/nightly-20261202-030000/index.html"
    rcpt, mail = messages[0]
    assert rcpt == ["kernel-team@lab.example"] and "Subject: [sisctl] nightly: 1 new failures" in mail
    assert "ktap.qemu-virt-0 ext4_inode_test.x" in mail and "last passed in nightly-20261201-030000" in mail


def test_nothing_is_sent_without_new_failures(webhook):
    url, received = webhook
    quiet = {**SUMMARY, "history": {"verdicts": SUMMARY["history"]["verdicts"][1:]}}
    assert notify(NotifySpec(WebhookSpec(url=url)), quiet) == [] and received == []


def test_a_receiver_that_is_down_is_a_warning(capsys):
    dead = f"127.0.0.1:{free_port()}"
    spec = NotifySpec(WebhookSpec(url=f"http://{dead}/hook", timeout_s=2), EmailSpec(to=["x@y"], smtp=dead, timeout_s=2))
    assert notify(spec, SUMMARY) == []
    err = capsys.readouterr().err
    assert "notify: webhook not sent" in err and "notify: email not sent" in err
