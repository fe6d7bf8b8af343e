"""QA's audit (desk.audit, desk.sampling) and the desk's metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from callscribe.desk.audit import AuditDesk
from callscribe.desk.metrics import SCORED_FIELDS, field_acceptance, qa_corrections
from callscribe.desk.models import CaseEventRow, CaseRow, TranscriptCorrectionRow
from callscribe.desk.review import ReviewDesk
from callscribe.desk.sampling import SampleRule
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.errors import CaseNotFound
from tests.desk_support import BACKENDS
from tests.test_desk_review import T0, migrated_store, put


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_store(request.param, tmp_path, request) as store:
        yield store


def _segments(*confidences: float) -> list[dict[str, Any]]:
    return [
        {"start": i, "end": i + 1, "speaker": "caller", "text": f"第{i}句。", "confidence": c}
        for i, c in enumerate(confidences)
    ]


def _case_ids(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {r.call_id: r.case_id for r in session.scalars(select(CaseRow))}


def test_a_sample_is_reproducible_from_its_rule_and_seed(engine: Engine) -> None:
    for i in range(12):
        put(engine, f"c-{i:02}")
    audit = AuditDesk(engine)
    rule = SampleRule(by="all", value=None, n=5, seed=7)
    first = audit.draw_sample(rule, actor="quinn")
    again = audit.draw_sample(rule, actor="quinn")
    assert len(first.call_ids) == 5 and first.call_ids == again.call_ids
    by_case = sorted(_case_ids(engine).items(), key=lambda item: item[1])
    expected = random.Random(7).sample([call for call, _case in by_case], 5)
    assert list(first.call_ids) == expected
    other = audit.draw_sample(SampleRule(by="all", value=None, n=5, seed=8), actor="quinn")
    assert other.call_ids != first.call_ids
    everything = audit.draw_sample(SampleRule(by="all", value=None, n=500, seed=1), actor="quinn")
    assert sorted(everything.call_ids) == [f"c-{i:02}" for i in range(12)]

    assert audit.batch(first.batch_id) == first
    assert first.created_at.tzinfo is not None and first.created_by == "quinn"
    listed = audit.batches()
    assert [b.batch_id for b in listed] == [
        everything.batch_id,
        other.batch_id,
        again.batch_id,
        first.batch_id,
    ]
    assert listed[-1].rule == rule
    assert len(audit.batches(limit=2)) == 2
    with pytest.raises(CaseNotFound, match="no audit batch nope"):
        audit.batch("nope")


def test_each_rule_draws_from_its_own_calls(engine: Engine) -> None:
    put(engine, "c-monday", created_at=T0, category="教育", segments=_segments(0.9, 0.8))
    put(engine, "c-tuesday", created_at=T0 + timedelta(days=1), segments=_segments(0.5, 0.6))
    # T0 is 16:00 in Beijing: a day is the hotline's (Beijing) day, not UTC's.
    put(engine, "c-late", created_at=T0 + timedelta(hours=7, minutes=59), segments=_segments(0.3))
    put(engine, "c-midnight", created_at=T0 + timedelta(hours=8), segments=_segments(0.9))
    put(engine, "c-silent", segments=[])
    ReviewDesk(engine).open_case("c-tuesday", actor="olga")
    ReviewDesk(engine).confirm("c-monday", {}, actor="bob", revision=1)
    audit = AuditDesk(engine)

    def drawn(by: Any, value: str | None) -> set[str]:
        batch = audit.draw_sample(SampleRule(by=by, value=value, n=500, seed=3), actor="quinn")
        return set(batch.call_ids)

    assert drawn("day", "2026-11-20") == {"c-monday", "c-late"}
    assert drawn("day", "2026-11-21") == {"c-tuesday", "c-midnight"}
    assert drawn("operator", "olga") == {"c-tuesday"}
    assert drawn("operator", "bob") == {"c-monday"}
    assert drawn("category", "教育") == {"c-monday"}
    assert drawn("low-confidence", None) == {"c-tuesday", "c-late"}
    assert drawn("low-confidence", "0.4") == {"c-late"}
    assert drawn("all", None) == {"c-monday", "c-tuesday", "c-late", "c-midnight", "c-silent"}
    with pytest.raises(ValueError, match="no calls match day 2026-11-22"):
        drawn("day", "2026-11-22")
    with pytest.raises(ValueError, match="no calls match transcript confidence under 0.1"):
        drawn("low-confidence", "0.1")


@pytest.mark.parametrize(
    ("rule", "part"),
    [
        ({"by": "week", "value": None, "n": 5, "seed": 1}, "by"),
        ({"by": "all", "value": None, "n": 0, "seed": 1}, "n"),
        ({"by": "all", "value": None, "n": 501, "seed": 1}, "n"),
        ({"by": "all", "value": None, "n": 5, "seed": 2**63}, "seed"),
        ({"by": "day", "value": "2026-13-01", "n": 5, "seed": 1}, "value"),
        ({"by": "day", "value": None, "n": 5, "seed": 1}, "value"),
        ({"by": "low-confidence", "value": "low", "n": 5, "seed": 1}, "value"),
        ({"by": "low-confidence", "value": "1.5", "n": 5, "seed": 1}, "value"),
        ({"by": "category", "value": "天气", "n": 5, "seed": 1}, "value"),
        ({"by": "operator", "value": " ", "n": 5, "seed": 1}, "value"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_part(rule: dict[str, Any], part: str) -> None:
    with pytest.raises(ValueError, match=f"^{part}:"):
        SampleRule(**rule)


def test_corrections_keep_the_machine_text_and_the_latest_wins(engine: Engine) -> None:
    put(engine, "c-1")
    audit = AuditDesk(engine)
    first = audit.correct_segment("c-1", 1, "我在东城区，胡同口老有车堵者。", actor="quinn")
    assert first.machine_text == "我在东城区，胡同口老有车堵着。"
    assert first.corrected_text == "我在东城区，胡同口老有车堵者。"
    assert first.at.tzinfo is not None and first.actor == "quinn"
    audit.correct_segment("c-1", 1, "我在东城区，胡同口老有车堵着呢。", actor="rita")
    audit.correct_segment("c-1", 0, "您好，北京一二三四五。", actor="quinn")
    latest = audit.corrections("c-1")
    assert sorted(latest) == [0, 1]
    assert latest[1].corrected_text == "我在东城区，胡同口老有车堵着呢。"
    assert latest[1].actor == "rita"
    detail = EmbeddedCaseDesk(engine).case_detail("c-1")
    fixes = [e for e in detail["history"] if e["action"] == "qa-correction"]
    assert [e["note"] for e in fixes] == ["segment 1", "segment 1", "segment 0"]
    assert fixes[1]["old_value"] == "我在东城区，胡同口老有车堵者。"
    assert detail["revision"] == 1 and detail["status"] == "auto-filled"

    with pytest.raises(ValueError, match="^segment 2: .* segments 0 to 1$"):
        audit.correct_segment("c-1", 2, "多余", actor="quinn")
    with pytest.raises(ValueError, match="segment -1"):
        audit.correct_segment("c-1", -1, "多余", actor="quinn")
    with pytest.raises(ValueError, match="^text: NUL"):
        audit.correct_segment("c-1", 0, "a\x00b", actor="quinn")
    with pytest.raises(ValueError, match="^text: at most 2000"):
        audit.correct_segment("c-1", 0, "长" * 2001, actor="quinn")
    with pytest.raises(CaseNotFound):
        audit.correct_segment("c-missing", 0, "x", actor="quinn")
    assert len(audit.corrections("c-1")) == 2


def test_flags_and_comments_are_notes_and_history(engine: Engine) -> None:
    put(engine, "c-1")
    audit = AuditDesk(engine)
    audit.flag_field("c-1", "district", actor="quinn", comment="应为西城区")
    audit.add_comment("c-1", "录音后半段听不清", actor="rita")
    audit.flag_field("c-1", "urgency", actor="quinn")
    notes = audit.notes("c-1")
    assert [(n["kind"], n["field"], n["text"], n["actor"]) for n in notes] == [
        ("flag", "district", "应为西城区", "quinn"),
        ("comment", None, "录音后半段听不清", "rita"),
        ("flag", "urgency", None, "quinn"),
    ]
    assert all(n["at"].endswith("+00:00") for n in notes)
    history = EmbeddedCaseDesk(engine).case_detail("c-1")["history"]
    assert [(e["action"], e["field"]) for e in history[1:]] == [
        ("qa-flag", "district"),
        ("qa-comment", None),
        ("qa-flag", "urgency"),
    ]
    with pytest.raises(ValueError, match="^field: 'extractor'"):
        audit.flag_field("c-1", "extractor", actor="quinn")
    with pytest.raises(ValueError, match="^text: write"):
        audit.add_comment("c-1", " ", actor="quinn")
    with pytest.raises(CaseNotFound):
        audit.notes("c-missing")
    assert len(audit.notes("c-1")) == 3


def test_field_acceptance_counts_confirmed_unchanged_unflagged_values(engine: Engine) -> None:
    for call in ("c-kept", "c-edited", "c-flagged", "c-rejected", "c-open"):
        put(engine, call)
    review, audit = ReviewDesk(engine), AuditDesk(engine)
    assert field_acceptance(engine).cases == 0
    review.confirm("c-kept", {}, actor="olga", revision=1)
    review.confirm("c-edited", {"district": "西城区", "title": "新标题"}, actor="olga", revision=1)
    review.confirm("c-flagged", {}, actor="olga", revision=1)
    audit.flag_field("c-flagged", "category", actor="quinn")
    review.reject("c-rejected", "重复来电", actor="olga", revision=1)
    review.open_case("c-open", actor="olga")

    result = field_acceptance(engine)
    assert result.cases == 3
    assert set(result.per_field) == set(SCORED_FIELDS)
    assert "title" not in result.per_field
    assert result.per_field["district"] == (2, 3)
    assert result.per_field["category"] == (2, 3)
    assert result.per_field["urgency"] == (3, 3)
    assert result.free_text == {"title": (2, 3), "summary": (3, 3)}

    case_ids = _case_ids(engine)
    with Session(engine) as session, session.begin():
        session.execute(
            update(CaseEventRow)
            .where(
                CaseEventRow.case_id == case_ids["c-kept"], CaseEventRow.to_status == "confirmed"
            )
            .values(at=T0)
        )
    recent = field_acceptance(engine, since=T0 + timedelta(days=1))
    assert recent.cases == 2 and recent.per_field["district"] == (1, 2)
    assert field_acceptance(engine, since=T0 - timedelta(days=1)).cases == 3


def test_qa_corrections_give_the_machine_and_the_corrected_text(engine: Engine) -> None:
    put(engine, "c-b")
    put(engine, "c-a")
    put(engine, "c-untouched")
    audit = AuditDesk(engine)
    assert qa_corrections(engine) == []
    audit.correct_segment("c-b", 1, "我在东城区，胡同口老有车堵着呢。", actor="quinn")
    audit.correct_segment("c-a", 0, "您好，北京一二三四五。", actor="quinn")
    audit.correct_segment("c-a", 1, "我在东城区，胡同口老有车堵着。", actor="quinn")
    calls = qa_corrections(engine)
    assert [c.call_id for c in calls] == ["c-a", "c-b"]
    machine = "您好，北京12345。我在东城区，胡同口老有车堵着。"
    assert calls[0].machine_text == machine
    assert calls[0].corrected_text == "您好，北京一二三四五。我在东城区，胡同口老有车堵着。"
    assert calls[0].segments_corrected == 1  # segment 1 was confirmed as the machine wrote it
    assert calls[1].corrected_text == "您好，北京12345。我在东城区，胡同口老有车堵着呢。"
    case_ids = _case_ids(engine)
    with Session(engine) as session, session.begin():
        session.execute(
            update(TranscriptCorrectionRow)
            .where(TranscriptCorrectionRow.case_id == case_ids["c-b"])
            .values(at=T0)
        )
    assert [c.call_id for c in qa_corrections(engine, since=T0 + timedelta(days=1))] == ["c-a"]
