"""HttpCaseSystem against a fake external case system on a real loopback HTTP server."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from callscribe.errors import (
    CaseSystemUnavailable,
    ConfigurationError,
    RetryableError,
    WriteBackConflict,
    WriteBackRejected,
)
from callscribe.schema import CaseFields, Segment, Transcript
from callscribe.writeback.contract import CaseSubmission
from callscribe.writeback.http_client import HttpCaseSystem, parse_retry_after
from tests.writeback_fake import TOKEN, FakeCaseSystem, Step

CLIENT_TIMEOUT_S = 1.0
"""Generous enough that a loaded machine never times out a request the fake answers at once."""


@pytest.fixture
def fake() -> Iterator[FakeCaseSystem]:
    system = FakeCaseSystem(slow_s=CLIENT_TIMEOUT_S * 2).start()
    try:
        yield system
    finally:
        system.stop()


def _client(url: str, *, attempts: int = 6, token: str = TOKEN, **kw: float) -> HttpCaseSystem:
    return HttpCaseSystem(
        url,
        token,
        timeout_s=CLIENT_TIMEOUT_S,
        attempts=attempts,
        backoff_s=kw.get("backoff_s", 0.01),
        backoff_max_s=kw.get("backoff_max_s", 2.0),
    )


def _submission(call_id: str = "call-0001") -> CaseSubmission:
    transcript = Transcript(
        duration=9.5,
        segments=[
            Segment(0.0, 4.0, "您好，12345热线。", speaker="agent", confidence=0.9),
            Segment(4.5, 9.5, "我们小区门口的路灯坏了。", speaker="caller", confidence=0.8),
        ],
    )
    fields = CaseFields(district="海淀区", appeal_type="投诉", summary="来电人反映路灯坏了。")
    return CaseSubmission(call_id=call_id, fields=fields, transcript=transcript)


def test_write_back_survives_timeouts_500s_dropped_connections_and_429(
    fake: FakeCaseSystem,
) -> None:
    fake.plan.extend(
        [
            Step("slow"),  # applied, but answered after the client's timeout
            Step("500", detail="database is restarting"),
            Step("drop"),
            Step("503"),
            Step("429", retry_after="1"),
        ]
    )
    with _client(fake.url) as client:
        stored = client.upsert_case(_submission())

    puts = fake.puts("call-0001")
    assert len(puts) == 6
    assert fake.creations == {"call-0001": 1}, "a retried PUT must update, never duplicate"
    assert len(fake.cases) == 1
    assert stored.case_id == fake.cases["call-0001"]["case_id"]
    assert stored.fields["district"] == "海淀区"
    assert stored.transcript["segments"][1]["text"] == "我们小区门口的路灯坏了。"
    assert puts[-1].answered == 200, "the PUT after the slow one updates the case it created"
    assert puts[-1].at - puts[-2].at >= 1.0, "Retry-After: 1 was not honoured"


def test_retry_after_as_an_http_date_is_honoured(fake: FakeCaseSystem) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    fake.plan.append(Step("429", retry_after=when))
    with _client(fake.url) as client:
        client.upsert_case(_submission())
    first, second = fake.puts()
    assert second.at - first.at >= 0.9
    assert fake.creations == {"call-0001": 1}


def test_400_is_permanent_keeps_the_servers_message_and_is_not_retried(
    fake: FakeCaseSystem,
) -> None:
    fake.plan.append(Step("400", detail="field district: 火星区 is not a district of this city"))
    with _client(fake.url) as client, pytest.raises(WriteBackRejected) as info:
        client.upsert_case(_submission())
    assert "HTTP 400" in str(info.value)
    assert "火星区 is not a district of this city" in str(info.value)
    assert len(fake.puts()) == 1
    assert not fake.cases


def test_a_wrong_token_is_rejected_not_retried(fake: FakeCaseSystem) -> None:
    with _client(fake.url, token="stolen") as client, pytest.raises(WriteBackRejected) as info:
        client.upsert_case(_submission())
    assert "HTTP 401" in str(info.value) and "bearer token" in str(info.value)
    assert len(fake.puts()) == 1


def test_409_is_a_conflict_with_the_servers_message(fake: FakeCaseSystem) -> None:
    fake.confirmed.add("call-0001")
    with _client(fake.url) as client, pytest.raises(WriteBackConflict) as info:
        client.upsert_case(_submission())
    assert "confirmed by an operator" in str(info.value)
    assert len(fake.puts()) == 1


def test_exhausted_retries_raise_retryable_unavailable(fake: FakeCaseSystem) -> None:
    fake.plan.extend(Step("503", detail="maintenance") for _ in range(10))
    with _client(fake.url, attempts=3) as client, pytest.raises(CaseSystemUnavailable) as info:
        client.upsert_case(_submission())
    assert isinstance(info.value, RetryableError)
    assert "after 3 attempt(s)" in str(info.value) and "maintenance" in str(info.value)
    assert len(fake.puts()) == 3


def test_a_retry_after_longer_than_we_wait_goes_to_the_queue_at_once(
    fake: FakeCaseSystem,
) -> None:
    fake.plan.append(Step("429", retry_after="120"))
    started = time.monotonic()
    with _client(fake.url, backoff_max_s=5.0) as client, pytest.raises(CaseSystemUnavailable) as i:
        client.upsert_case(_submission())
    assert time.monotonic() - started < 2.0
    assert i.value.retry_after == 120.0
    assert len(fake.puts()) == 1


def test_nothing_listening_is_unavailable_after_backoff() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with _client(f"http://127.0.0.1:{port}", attempts=3) as client:
        with pytest.raises(CaseSystemUnavailable) as info:
            client.upsert_case(_submission())
    assert "ConnectError" in str(info.value)


def test_get_case_reads_back_and_404_is_none(fake: FakeCaseSystem) -> None:
    with _client(fake.url) as client:
        assert client.get_case("call-0001") is None
        stored = client.upsert_case(_submission())
        fake.plan.append(Step("500"))
        again = client.get_case("call-0001")
        assert client.healthy()
    assert again is not None and again.case_id == stored.case_id
    assert json.dumps(again.fields, ensure_ascii=False).count("海淀区") == 1


def test_call_ids_are_escaped_into_one_path_segment(fake: FakeCaseSystem) -> None:
    with _client(fake.url) as client:
        client.upsert_case(_submission("a/b?c"))
    assert list(fake.cases) == ["a/b?c"]


def test_configuration_is_checked_up_front() -> None:
    with pytest.raises(ConfigurationError, match="CALLSCRIBE_CASE_SYSTEM_TOKEN"):
        HttpCaseSystem("http://127.0.0.1:9", "")
    with pytest.raises(ConfigurationError, match="CALLSCRIBE_CASE_SYSTEM_URL"):
        HttpCaseSystem("ftp://cases", TOKEN)


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    past = format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(past) == 0.0
