"""Notifications after a publish, sent by apprise to a webhook receiver on 127.0.0.1: what arrives, what a failure
looks like (one warning, never an exception), and that the secrets in the URLs are printed nowhere."""
import json
import logging
import sys

import pytest

from hatch_mlbundle.gitlab import ConfigError, Redactor, redacted_output
from hatch_mlbundle.publish import cli, notify
from hatch_mlbundle.publish.options import parse_argv
from hatch_mlbundle.publish.settings import load_settings

from conftest import closed_port

TITLE = "mnist-model 1.1.0 published"
BODY = "**accuracy** 0.981 (+0.4 points)\n\n[release](https://gitlab.example.com/group/mnist/-/releases/v1.1.0)"
CANARIES = ("CANARY-SECRET-123", "CANARY-PATH-TOKEN")


def canary_url(port):
    return f"json://user:{CANARIES[0]}@127.0.0.1:{port}/hook/{CANARIES[1]}"


def send_as_the_cli_does(urls, redactor):
    """As a --verbose run does: inside the masking streams, our loggers and urllib3's printing to stderr."""
    with redacted_output(redactor):
        loggers = [logging.getLogger(name) for name in ("hatch_mlbundle.publish", "hatch_mlbundle.gitlab", "urllib3")]
        saved = [(logger.handlers, logger.propagate, logger.level) for logger in loggers]
        assert cli._logging(verbose=True, quiet=False) == loggers
        try:
            warnings = notify.send(urls, TITLE, BODY, redact=redactor)
            for line in warnings:
                print(line, file=sys.stderr)
        finally:
            for logger, (handlers, propagate, level) in zip(loggers, saved):
                logger.handlers, logger.propagate, logger.level = handlers, propagate, level
    return warnings


def test_the_webhook_gets_one_message_with_title_and_body(receiver):
    port, received = receiver
    warnings = notify.send([f"json://127.0.0.1:{port}/hook"], TITLE, BODY, redact=Redactor())
    assert warnings == []
    assert len(received) == 1
    path, _, message = received[0]
    assert path.startswith("/hook")
    assert (message["title"], message["message"]) == (TITLE, BODY)


def test_an_endpoint_that_is_down_is_one_warning_and_no_exception():
    warnings = notify.send([f"json://127.0.0.1:{closed_port()}/hook"], TITLE, BODY, redact=Redactor())
    assert len(warnings) == 1
    assert "notification 1 of 1 (json://) failed" in warnings[0] and "\n" not in warnings[0]


def test_an_invalid_url_is_one_warning_naming_the_variable_and_the_others_are_still_sent(receiver):
    port, received = receiver
    urls = ["nosuchservice://example.com/x", f"json://127.0.0.1:{port}/hook"]
    warnings = notify.send(urls, TITLE, BODY, redact=Redactor())
    assert len(warnings) == 1
    assert warnings[0].startswith("notification 1 of 2 (nosuchservice://): not a URL apprise can use")
    assert notify.ENV in warnings[0]
    assert len(received) == 1


def test_a_token_apprise_rejects_is_not_shown_even_in_part():
    """apprise itself shows a rejected token as its first and last character ("C...3"): not even that."""
    warnings = notify.send([f"slack://{CANARIES[0]}/{CANARIES[1]}/x"], TITLE, BODY, redact=Redactor())
    assert len(warnings) == 1
    assert "C...3" not in warnings[0] and "C...N" not in warnings[0]
    assert "(Could not load Slack URL: slack://*****/*****/x)" in warnings[0]


@pytest.mark.parametrize("up", [True, False], ids=["delivered", "endpoint-down"])
def test_canary_secrets_in_the_url_are_printed_nowhere(receiver, capfd, caplog, up):
    port, received = receiver
    caplog.set_level(logging.DEBUG)
    urls = [canary_url(port if up else closed_port()), "slack://CANARY-SECRET-123/CANARY-PATH-TOKEN/x"]
    warnings = send_as_the_cli_does(urls, Redactor())
    out, err = capfd.readouterr()
    assert len(warnings) == (1 if up else 2)
    assert len(received) == (1 if up else 0)
    if up:  # the secrets went where they belong: to the receiver
        path, headers, _ = received[0]
        assert path.startswith(f"/hook/{CANARIES[1]}") and headers["Authorization"].startswith("Basic ")
    assert "apprise: Loaded JSON URL: json://" in err and "*****" in err  # apprise's log was shown, masked
    for canary in CANARIES:  # caplog: what reached the root logger, unmasked (apprise's records must not)
        for text in (out, err, caplog.text, *warnings):
            assert canary not in text


def test_the_cli_masks_the_url_secrets_before_anything_runs():
    slack = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ")  # apprise's own example of a Slack URL
    env = {notify.ENV: canary_url(8080) + ", mailto://me:CANARY-SECRET-123@example.com slack://" + "/".join(slack)}
    redactor = Redactor(cli._env_secrets(env))
    text = redactor.redact(f"sending to https://127.0.0.1:8080/hook/{CANARIES[1]} as me:{CANARIES[0]}; "
                           f"https://hooks.slack.com/services/{'/'.join(slack)}")
    assert not any(secret in text for secret in CANARIES + slack)
    assert "127.0.0.1:8080/hook" in text  # the host and ordinary words are left readable


def test_a_telegram_bot_token_after_the_colon_is_masked():
    """tgram://<bot id>:<bot token>/<chat>: the token sits where a port would; apprise logs the POST URL with it."""
    token = "AAHsecretBOTtoken-CANARY"
    redactor = Redactor(notify.secret_forms([f"tgram://123456789:{token}/12345"]))
    logged = redactor.redact(f"Telegram POST URL: https://api.telegram.org/bot123456789:{token}/sendMessage")
    assert token not in logged and "api.telegram.org" in logged


def test_apprise_missing_is_one_warning_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "apprise", None)  # `import apprise` raises ImportError
    warnings = notify.send([canary_url(closed_port())], TITLE, BODY, redact=Redactor())
    assert warnings == [f"notifications not sent: apprise is not installed; {notify.INSTALL_HINT}"]
    assert "hatch-mlbundle[notify]" in warnings[0]
    assert notify.send([], TITLE, BODY, redact=Redactor()) == []  # no URLs: apprise is not even asked for


def test_settings_read_several_urls_split_like_apprise(tmp_path):
    urls = ("json://127.0.0.1:1/a?to=x,y", "slack://T1/B2/C3", "mailto://u:p@example.com")
    env = {notify.ENV: f"  {urls[0]},{urls[1]}\n {urls[2]} ;"}
    settings = load_settings({"root": str(tmp_path)}, env)
    assert settings.notify_urls == urls
    assert settings.notify_dev is False
    assert "slack" not in repr(settings)  # the URLs are secrets
    assert load_settings({"root": str(tmp_path)}, {}).notify_urls == ()


def test_notify_dev_is_a_flag_a_variable_or_a_pyproject_setting(tmp_path):
    assert load_settings({"root": str(tmp_path), "notify-dev": True}, {}).notify_dev is True
    assert load_settings({"root": str(tmp_path)}, {"MLBUNDLE_PUBLISH_NOTIFY_DEV": "yes"}).notify_dev is True
    (tmp_path / "pyproject.toml").write_text("[tool.mlbundle.publish]\nnotify-dev = true\n")
    assert load_settings({"root": str(tmp_path)}, {}).notify_dev is True
    assert parse_argv(["--notify-dev"], "mlbundle-publish") == {"notify-dev": True}
    (tmp_path / "pyproject.toml").write_text("[tool.mlbundle.publish]\nnotify-dev = 1\n")
    with pytest.raises(ConfigError, match="notify-dev must be true or false"):
        load_settings({"root": str(tmp_path)}, {})
