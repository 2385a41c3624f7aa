"""lab.yaml's notify: section is checked when the lab file is read: file and key named."""
import pytest

from sisctl.config import ConfigError
from sisctl.labfile import load_lab


@pytest.mark.parametrize("section, key", [
    ("webhook: {url: 'file:///etc/passwd'}", "notify.webhook.url"),
    ("webhook: {url: 'data:,x'}", "notify.webhook.url"),
    ("webhook: {url: 'chat.lab/hook'}", "notify.webhook.url"),
    ("webhook: {url: 'http://chat/hook', token_env: 'a b'}", "notify.webhook.token_env"),
    ("email: {to: [a@b], smtp: '127.0.0.1:99999'}", "notify.email.smtp"),
    ("email: {to: [a@b], smtp: '127.0.0.1:0'}", "notify.email.smtp"),
    ("email: {to: [a@b], smtp: 'mail.lab'}", "notify.email.smtp"),
    ("email: {to: [a@b], user_env: '1x'}", "notify.email.user_env"),
    ("reports_url: 'ftp://x'", "notify.reports_url"),
    ("email: {to: a@b}", "notify.email.to"),
    ("webhook: {url: 'http://x', retries: 3}", "notify.webhook.retries"),
])
def test_bad_notify_values_name_file_and_key(tmp_path, monkeypatch, section, key):
    lab = tmp_path / "lab.yaml"
    lab.write_text(f"notify:\n  {section}\n")
    monkeypatch.setenv("SISCTL_LAB", str(lab))
    with pytest.raises(ConfigError, match=f"lab.yaml: key '{key}'"):
        load_lab()


def test_good_notify_values_load(tmp_path, monkeypatch):
    lab = tmp_path / "lab.yaml"
    lab.write_text("notify:\n  webhook: {url: 'https://chat.lab/hook'}\n"
                   "  email: {to: [a@b], smtp: '[::1]:25'}\n  reports_url: http://reports.lab\n")
    monkeypatch.setenv("SISCTL_LAB", str(lab))
    assert load_lab().notify.email.smtp == "[::1]:25"
