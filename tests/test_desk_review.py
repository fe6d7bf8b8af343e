"""The operators' review (callscribe.desk.review) on a real store, SQLite and PostgreSQL.

Also holds the store fixture and case helpers the other desk domain tests import.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from callscribe.db import make_engine, upgrade_database
from callscribe.desk.models import CaseRow
from callscribe.desk.review import ReviewDesk, ReviewFilter
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.errors import CaseNotFound, CaseStateConflict
from callscribe.schema import CATEGORIES, DISTRICTS
from tests.desk_support import BACKENDS, case_body, store_url

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@contextmanager
def migrated_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    """A migrated, empty store on ``backend``."""
    with store_url(backend, tmp_path, request) as url:
        store = make_engine(url)
        try:
            upgrade_database(store)
            yield store
        finally:
            store.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_store(request.param, tmp_path, request) as store:
        yield store


def put(
    engine: Engine,
    call_id: str,
    *,
    created_at: datetime | None = None,
    segments: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> None:
    """Write a machine-filled case as the worker does; optionally backdate it."""
    body = case_body(call_id, **fields)
    if segments is not None:
        body["transcript"]["segments"] = segments
        body["transcript"]["text"] = "".join(s["text"] for s in segments)
    EmbeddedCaseDesk(engine).put_case(
        call_id,
        fields=body["fields"],
        transcript=body["transcript"],
        metadata=body["metadata"],
        actor="worker",
    )
    if created_at is not None:
        with Session(engine) as session, session.begin():
            session.execute(
                update(CaseRow).where(CaseRow.call_id == call_id).values(created_at=created_at)
            )


def moves(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (e["from_status"], e["to_status"]) for e in detail["history"] if e["action"] == "status"
    ]


def test_queue_is_urgent_first_then_oldest_and_pages(engine: Engine) -> None:
    put(engine, "c-old", created_at=T0)
    put(engine, "c-new", created_at=T0 + timedelta(hours=3))
    put(engine, "c-urgent-late", created_at=T0 + timedelta(hours=5), urgency="紧急")
    put(engine, "c-urgent-early", created_at=T0 + timedelta(hours=1), urgency="紧急")
    put(engine, "c-tie-a", created_at=T0 + timedelta(hours=2))
    put(engine, "c-tie-b", created_at=T0 + timedelta(hours=2))
    put(engine, "c-done", created_at=T0 - timedelta(hours=1))
    desk = ReviewDesk(engine)
    desk.confirm("c-done", {}, actor="olga", revision=1)

    items, total = desk.review_queue(ReviewFilter(), limit=100)
    order = [i["call_id"] for i in items]
    assert total == 6
    assert order[:3] == ["c-urgent-early", "c-urgent-late", "c-old"]
    assert set(order[3:5]) == {"c-tie-a", "c-tie-b"} and order[5] == "c-new"
    ties = sorted(items[3:5], key=lambda i: i["case_id"])
    assert [i["call_id"] for i in ties] == order[3:5]

    paged = [
        i["call_id"]
        for offset in (0, 2, 4)
        for i in desk.review_queue(ReviewFilter(), limit=2, offset=offset)[0]
    ]
    assert paged == order
    urgent, urgent_total = desk.review_queue(ReviewFilter(urgency="紧急"))
    assert urgent_total == 2 and {i["call_id"] for i in urgent} == {
        "c-urgent-early",
        "c-urgent-late",
    }
    decided, _ = desk.review_queue(ReviewFilter(status=("confirmed",)))
    assert [i["call_id"] for i in decided] == ["c-done"]


def test_queue_bounds_are_compared_in_utc(engine: Engine) -> None:
    put(engine, "c-1", created_at=T0)
    beijing = timezone(timedelta(hours=8))
    desk = ReviewDesk(engine)
    hour_before = (T0 - timedelta(hours=1)).astimezone(beijing)
    hour_after = (T0 + timedelta(hours=1)).astimezone(beijing)
    assert desk.review_queue(ReviewFilter(since=hour_before))[1] == 1
    assert desk.review_queue(ReviewFilter(since=hour_after))[1] == 0
    assert desk.review_queue(ReviewFilter(until=hour_after))[1] == 1
    assert desk.review_queue(ReviewFilter(until=hour_before))[1] == 0


def test_queue_items_carry_the_lowest_confidence(engine: Engine) -> None:
    put(
        engine,
        "c-1",
        street="东华门街道",
        confidence={"district": 0.9, "street": 0.4, "caller_name": 0.1, "title": 0.55},
    )
    put(engine, "c-2", confidence={})
    desk = ReviewDesk(engine, low_confidence=0.6)
    items = {i["call_id"]: i for i in desk.review_queue(ReviewFilter())[0]}
    # caller_name has no value, so its 0.1 does not count
    assert items["c-1"]["confidence_min"] == pytest.approx(0.4)
    assert items["c-1"]["low_fields"] == 2
    assert items["c-1"]["district"] == "东城区" and items["c-1"]["revision"] == 1
    assert items["c-2"]["confidence_min"] is None and items["c-2"]["low_fields"] == 0
    assert (
        ReviewDesk(engine, low_confidence=0.5).review_queue(ReviewFilter())[0][0]["low_fields"] == 1
    )


def test_opening_takes_an_auto_filled_case_once(engine: Engine) -> None:
    put(engine, "c-1")
    desk = ReviewDesk(engine)
    first = desk.open_case("c-1", actor="olga")
    assert (first["status"], first["reviewer"], first["taken_by"]) == ("in-review", "olga", None)
    assert first["revision"] == 2
    assert moves(first) == [("auto-filled", "in-review")]
    other = desk.open_case("c-1", actor="bob")
    assert (other["status"], other["reviewer"], other["taken_by"]) == ("in-review", "olga", "olga")
    assert other["revision"] == 2 and len(other["history"]) == len(first["history"])
    assert desk.open_case("c-1", actor="olga")["taken_by"] is None
    desk.confirm("c-1", {}, actor="olga", revision=2)
    decided = desk.open_case("c-1", actor="bob")
    assert (decided["status"], decided["taken_by"]) == ("confirmed", None)
    with pytest.raises(CaseNotFound):
        desk.open_case("c-missing", actor="olga")


def test_confirm_applies_the_edits_and_confirms_in_one_step(engine: Engine) -> None:
    put(engine, "c-1")
    desk = ReviewDesk(engine)
    done = desk.confirm(
        "c-1",
        {"district": "西城区", "street": "新街口街道", "title": "胡同口车辆堵路"},
        actor="olga",
        revision=1,
    )
    assert done["status"] == "confirmed" and done["reviewer"] == "olga"
    assert done["fields"]["district"] == "西城区" and done["fields"]["street"] == "新街口街道"
    assert done["machine_fields"]["district"] == "东城区"
    assert sorted(done["edited_fields"]) == ["district", "street"]
    trail = [(e["action"], e["field"]) for e in done["history"]]
    assert trail == [
        ("created", None),
        ("status", None),
        ("field-edit", "district"),
        ("field-edit", "street"),
        ("status", None),
        ("confirmed", None),
    ]
    assert moves(done) == [("auto-filled", "in-review"), ("in-review", "confirmed")]
    district = next(e for e in done["history"] if e["field"] == "district")
    assert (district["machine_value"], district["old_value"], district["new_value"]) == (
        "东城区",
        "东城区",
        "西城区",
    )
    assert all(e["actor"] == "olga" for e in done["history"][1:])
    assert EmbeddedCaseDesk(engine).get_case("c-1").status == "confirmed"  # type: ignore[union-attr]
    with pytest.raises(CaseStateConflict, match="confirmed"):
        desk.confirm("c-1", {}, actor="olga", revision=done["revision"])


def test_a_stale_revision_says_who_changed_the_case(engine: Engine) -> None:
    put(engine, "c-1")
    desk = ReviewDesk(engine)
    desk.open_case("c-1", actor="olga")
    with pytest.raises(CaseStateConflict) as raised:
        desk.confirm("c-1", {"title": "x"}, actor="bob", revision=1)
    message = str(raised.value)
    assert "changed by olga at revision 2 while you had revision 1" in message
    assert "reload" in message
    with pytest.raises(CaseStateConflict, match="changed by olga"):
        desk.reject("c-1", "重复来电", actor="bob", revision=1)
    after = EmbeddedCaseDesk(engine).case_detail("c-1")
    assert (after["status"], after["revision"], after["fields"]["title"]) == (
        "in-review",
        2,
        "胡同口车辆堵路",
    )


def test_two_operators_confirming_at_once_one_wins(engine: Engine) -> None:
    put(engine, "c-1")
    desk = ReviewDesk(engine)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def confirm(actor: str) -> None:
        barrier.wait()
        try:
            desk.confirm("c-1", {"title": f"{actor} 的标题"}, actor=actor, revision=1)
            outcomes.append("ok")
        except CaseStateConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=confirm, args=(f"op{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 3 + ["ok"]
    detail = EmbeddedCaseDesk(engine).case_detail("c-1")
    assert [e["action"] for e in detail["history"]].count("confirmed") == 1
    assert detail["fields"]["title"] == f"{detail['reviewer']} 的标题"


@pytest.mark.parametrize(
    ("edits", "field"),
    [
        ({"extractor": "me"}, "extractor"),
        ({"district": "火星区"}, "district"),
        ({"category": None}, "category"),
        ({"urgency": "很急"}, "urgency"),
        ({"appeal_type": "闲聊"}, "appeal_type"),
        ({"street": "新街口街道"}, "street"),  # a street of 西城区 on a 东城区 case
        ({"district": "西城区"}, "street"),  # the case's 东城区 street would stay behind
        ({"street": "东华门街道", "community": "新街口社区"}, "community"),
        ({"needs_callback": "yes"}, "needs_callback"),
        ({"title": "x" * 2001}, "title"),
        ({"summary": "x" * 2001}, "summary"),
        ({"caller_name": "赵" * 65}, "caller_name"),
        ({"address": "东" * 201}, "address"),
        ({"address": "东城区\x00"}, "address"),
        ({"title": None}, "title"),
        ({"callback_phone": "call me maybe"}, "callback_phone"),
        ({"caller_name": 42}, "caller_name"),
    ],
)
def test_bad_edits_are_refused_naming_the_field(
    engine: Engine, edits: dict[str, Any], field: str
) -> None:
    put(engine, "c-1", street="东华门街道")
    with pytest.raises(ValueError) as raised:
        ReviewDesk(engine).confirm("c-1", edits, actor="olga", revision=1)
    message = str(raised.value)
    assert field in message and "\n" not in message
    unchanged = EmbeddedCaseDesk(engine).case_detail("c-1")
    assert (unchanged["status"], unchanged["revision"], len(unchanged["history"])) == (
        "auto-filled",
        1,
        1,
    )


def test_good_edits_of_every_kind_are_kept(engine: Engine) -> None:
    put(engine, "c-1")
    edits = {
        "caller_name": "赵先生",
        "callback_phone": "+86 139-1234-5678",
        "district": "西城区",
        "street": "新街口街道",
        "community": ReviewDesk(engine).field_options()["communities"]["西城区"]["新街口街道"][0],
        "needs_callback": True,
        "confidential": None,
        "urgency": "紧急",
        "summary": "长" * 2000,
        "address": "东" * 200,
    }
    done = ReviewDesk(engine).confirm("c-1", edits, actor="olga", revision=1)
    assert {k: done["fields"][k] for k in edits} == edits
    assert done["urgency"] == "紧急"


def test_reject_needs_a_reason(engine: Engine) -> None:
    put(engine, "c-1")
    desk = ReviewDesk(engine)
    with pytest.raises(ValueError, match="^reason: say why the case is rejected$"):
        desk.reject("c-1", "  ", actor="olga", revision=1)
    with pytest.raises(ValueError, match="reason"):
        desk.reject("c-1", "长" * 2001, actor="olga", revision=1)
    rejected = desk.reject("c-1", "重复来电", actor="olga", revision=1)
    assert rejected["status"] == "rejected" and rejected["reviewer"] == "olga"
    assert moves(rejected) == [("auto-filled", "in-review"), ("in-review", "rejected")]
    assert rejected["history"][-1]["note"] == "重复来电"
    with pytest.raises(CaseStateConflict, match="rejected"):
        desk.reject("c-1", "again", actor="olga", revision=rejected["revision"])


def test_the_json_api_operations_still_work_beside_the_review(engine: Engine) -> None:
    put(engine, "c-1")
    store = EmbeddedCaseDesk(engine)
    edited = store.edit_fields("c-1", {"title": "新标题"}, actor="olga", revision=1)
    assert (edited["status"], edited["revision"]) == ("in-review", 2)
    with pytest.raises(CaseStateConflict, match="changed by olga at revision 2"):
        store.set_status("c-1", "confirmed", actor="bob", revision=1)
    done = ReviewDesk(engine).confirm("c-1", {}, actor="olga", revision=2)
    assert done["fields"]["title"] == "新标题" and done["status"] == "confirmed"


def test_field_options_come_from_the_schema_and_the_gazetteer() -> None:
    options = ReviewDesk(make_engine("sqlite:///:memory:")).field_options()
    assert options["districts"] == list(DISTRICTS)
    assert options["categories"] == list(CATEGORIES)
    assert "新街口街道" in options["streets"]["西城区"]
    assert "新街口街道" not in options["streets"]["东城区"]
    assert set(options["streets"]) == set(DISTRICTS)
    assert all(options["streets"][d] for d in DISTRICTS)
    communities = options["communities"]["西城区"]["新街口街道"]
    assert len(communities) > 5 and all(c.endswith(("社区", "村")) for c in communities)
    assert sum(len(c) for s in options["communities"].values() for c in s.values()) > 7000
