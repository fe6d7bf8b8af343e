"""Desk commands: users disable/enable/passwd, eval desk, eval qa (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from callscribe.cli import main
from callscribe.desk.accounts import AuthStore
from callscribe.desk.audit import AuditDesk
from callscribe.desk.review import ReviewDesk
from callscribe.errors import ConfigurationError
from callscribe.settings import get_settings
from tests.desk_support import BACKENDS
from tests.test_desk_review import migrated_store, put


@pytest.fixture(params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """The store the commands use (CALLSCRIBE_DB_URL), opened here too."""
    with migrated_store(request.param, data_dir.parent, request) as store:
        monkeypatch.setenv("CALLSCRIBE_DB_URL", store.url.render_as_string(hide_password=False))
        get_settings.cache_clear()
        yield store


def _run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def _error_line(result: Result) -> str:
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert lines, result.output
    return lines[-1]


def test_users_can_be_disabled_enabled_and_given_a_new_password(engine: Engine) -> None:
    assert (
        _run("users", "add", "olga", "--role", "operator", input="long password\n" * 2).exit_code
        == 0
    )
    redacted = _run("users", "add", "quinn", "--role", "qa-redacted", input="pw-pw-pw-pw\n" * 2)
    assert redacted.exit_code == 0, redacted.output
    auth = AuthStore(engine)
    session = auth.sign_in("olga", "long password")
    assert session is not None and auth.authenticate(session.token) is not None

    disabled = _run("users", "disable", "olga")
    assert disabled.exit_code == 0, disabled.output
    assert auth.authenticate(session.token) is None
    assert auth.sign_in("olga", "long password") is None
    listed = _run("users", "list").output
    assert "olga\toperator\tdisabled" in listed and "quinn\tqa-redacted\tactive" in listed

    assert _run("users", "enable", "olga").exit_code == 0
    again = auth.sign_in("olga", "long password")
    assert again is not None

    changed = _run("users", "passwd", "olga", input="another password\n" * 2)
    assert changed.exit_code == 0, changed.output
    assert auth.authenticate(again.token) is None
    assert auth.sign_in("olga", "long password") is None
    assert auth.sign_in("olga", "another password") is not None
    assert "at least 8" in _error_line(_run("users", "passwd", "olga", input="short\n" * 2))

    for command in ("disable", "enable", "passwd"):
        result = _run("users", command, "ghost", input="long password\n" * 2)
        assert _error_line(result) == "Error: no user named 'ghost'", command
    with pytest.raises(ConfigurationError, match="no user named 'ghost'"):
        auth.set_password("ghost", "long password")


def test_eval_desk_counts_fields_kept_unchanged(engine: Engine) -> None:
    empty = _run("eval", "desk")
    assert empty.exit_code == 0 and empty.output.strip() == "no confirmed cases"
    assert json.loads(_run("eval", "desk", "--json").output)["cases"] == 0
    for call in ("c-1", "c-2", "c-3"):
        put(engine, call)
    review = ReviewDesk(engine)
    review.confirm("c-1", {}, actor="olga", revision=1)
    review.confirm("c-2", {"district": "西城区", "summary": "改写的摘要"}, actor="olga", revision=1)
    AuditDesk(engine).flag_field("c-1", "urgency", actor="quinn")

    table = _run("eval", "desk")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0] == "2 confirmed cases"
    assert "accepted unchanged" in lines[1] and "share" in lines[1]
    district = next(line.split() for line in lines if line.split()[0] == "district")
    assert district == ["district", "1", "2", "50.0%"]
    urgency = next(line.split() for line in lines if line.split()[0] == "urgency")
    assert urgency == ["urgency", "1", "2", "50.0%"]
    assert lines.index("  not scored (free text):") < [ln.split()[0] for ln in lines].index(
        "summary"
    )

    report = json.loads(_run("eval", "desk", "--json").output)
    assert report["cases"] == 2
    assert report["fields"]["district"] == {"accepted": 1, "total": 2, "share": 0.5}
    assert report["fields"]["category"] == {"accepted": 2, "total": 2, "share": 1.0}
    assert report["free_text"]["summary"] == {"accepted": 1, "total": 2, "share": 0.5}
    assert "title" not in report["fields"]

    later = _run("eval", "desk", "--since", "2999-01-01")
    assert later.exit_code == 0 and later.output.startswith("no confirmed cases since 2999-01-01")
    assert _run("eval", "desk", "--since", "2020-01-01T08:00:00+08:00").output.startswith("2 ")
    bad = _run("eval", "desk", "--since", "yesterday")
    assert bad.exit_code == 2 and "'--since'" in _error_line(bad)


def test_eval_qa_scores_the_machine_against_qas_text(engine: Engine) -> None:
    empty = _run("eval", "qa")
    assert empty.exit_code == 0 and empty.output.strip() == "no transcripts corrected by QA"
    put(engine, "c-1")
    put(engine, "c-2")
    put(engine, "c-3")
    audit = AuditDesk(engine)
    audit.correct_segment("c-1", 1, "我在东城区，胡同口老有车堵着呢。", actor="quinn")
    audit.correct_segment("c-2", 0, "您好，北京一二三四五。", actor="quinn")

    report = json.loads(_run("eval", "qa", "--json").output)
    # 您好北京12345我在东城区胡同口老有车堵着: 22 characters scored
    assert [(c["call_id"], c["ref_chars"], c["errors"]) for c in report["calls"]] == [
        ("c-1", 23, 1),
        ("c-2", 22, 5),
    ]
    assert (report["errors"], report["ref_chars"], report["cer"]) == (6, 45, round(6 / 45, 4))
    assert report["calls"][0]["segments_corrected"] == 1

    table = _run("eval", "qa")
    assert table.exit_code == 0, table.output
    rows = [line.split() for line in table.output.splitlines()]
    assert rows[1] == ["c-1", "23", "1", "4.35%"]
    assert rows[2] == ["c-2", "22", "5", "22.73%"]
    assert table.output.splitlines()[-1].startswith("TOTAL CER 13.33% (6/45) over 2 calls")
    assert _run("eval", "qa", "--since", "2999-01-01").output.startswith(
        "no transcripts corrected by QA since"
    )
    assert "'--since'" in _error_line(_run("eval", "qa", "--since", "2026-02-30"))
