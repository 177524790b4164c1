"""The dev mail catcher, `tendero mail`, and the catcher's port choice."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tendero.cli import app
from tendero.mail.catcher import MailCatcher, find_free_port, list_caught, maildir
from tendero.mail.smtp import Mailer
from tendero.mail.templates import render
from tendero.settings import get_settings
from tests.fakes.smtp import free_port
from tests.mail.helpers import MAIL_FROM, smtp_settings

CODE = {"shop": "Corner Shop", "code": "482913", "minutes": "5"}


def wait_for_files(folder: Path, count: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(list(folder.glob("*.eml"))) < count:
        time.sleep(0.02)


async def test_catcher_stores_what_the_mailer_sends(tmp_path: Path) -> None:
    folder = maildir(tmp_path)
    with MailCatcher(folder, port=free_port()) as catcher:
        mailer = Mailer(smtp_settings(catcher.port))
        for number, language in enumerate(("en", "es")):
            mail = render("verification_code", language, CODE)
            await mailer.send(
                to=f"c{number}@example.com", rendered=mail, message_id=f"<{number}@x>"
            )
        wait_for_files(folder, 2)

    names = sorted(path.name for path in folder.iterdir())
    assert len(names) == 2 and all(name.endswith(".eml") for name in names)
    newest, oldest = list_caught(folder)
    assert newest.to == "c1@example.com" and oldest.to == "c0@example.com"
    assert newest.sender == MAIL_FROM
    assert newest.subject == "Tu código de verificación para Corner Shop"
    assert "482913" in newest.text and "\r" not in newest.text
    assert newest.received_at >= oldest.received_at
    assert newest.received_at.utcoffset() is not None
    assert [mail.to for mail in list_caught(folder, limit=1)] == ["c1@example.com"]


def test_list_caught_without_a_folder(tmp_path: Path) -> None:
    assert list_caught(tmp_path / "missing") == []


def test_find_free_port_skips_a_busy_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        other = find_free_port(taken)
        assert other != taken
    idle = free_port()
    assert find_free_port(idle) == idle


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    get_settings.cache_clear()
    monkeypatch.setenv("TENDERO_DATA_DIR", str(tmp_path))
    yield tmp_path
    get_settings.cache_clear()


def test_cli_without_mail_prints_a_hint(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["mail"])
    assert result.exit_code == 0, result.output
    assert "no mail caught yet" in result.output and "127.0.0.1:1025" in result.output


async def test_cli_lists_mails_and_prints_the_newest_body(data_dir: Path) -> None:
    folder = maildir(data_dir)
    with MailCatcher(folder, port=free_port()) as catcher:
        mailer = Mailer(smtp_settings(catcher.port))
        first = render(
            "ticket_created",
            "en",
            {
                "shop": "Corner Shop",
                "ticket_number": "T-9",
                "subject": "[urgent] Lost parcel",
                "priority": "high",
                "category": "shipping",
            },
        )
        await mailer.send(to="agents@example.com", rendered=first, message_id="<1@x>")
        wait_for_files(folder, 1)
        time.sleep(0.01)  # distinct timestamps, so the order below is certain
        second = render("verification_code", "en", CODE)
        await mailer.send(to="c@example.com", rendered=second, message_id="<2@x>")
        wait_for_files(folder, 2)

    runner = CliRunner()
    result = runner.invoke(app, ["mail"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Your verification code for Corner Shop" in result.output
    assert "New ticket #T-9" in result.output
    assert "482913" in result.output  # newest body
    assert "Please pick it up" not in result.output  # older body only with --all-bodies

    result = runner.invoke(app, ["mail", "--all-bodies"], env={"COLUMNS": "200"})
    assert "482913" in result.output and "Please pick it up" in result.output
    # Shown as typed, not as rich markup: in the table, the rule and the body.
    assert result.output.count("[urgent] Lost parcel") == 3

    result = runner.invoke(app, ["mail", "--last", "1"], env={"COLUMNS": "200"})
    assert "New ticket #T-9" not in result.output
