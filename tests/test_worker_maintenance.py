"""The worker drains write-backs that no live rq job owns any more."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rq.serializers import JSONSerializer

from callscribe.intake.queue import connect, enqueue_call, open_queue
from callscribe.ledger import CallStatus
from callscribe.runtime import open_runtime
from callscribe.settings import get_settings
from callscribe.worker.worker import CallWorker
from tests.test_writeback_outbox import _seed
from tests.writeback_fake import TOKEN, FakeCaseSystem


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCaseSystem]:
    system = FakeCaseSystem().start()
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_URL", system.url)
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_TOKEN", TOKEN)
    get_settings.cache_clear()
    try:
        yield system
    finally:
        system.stop()


def test_worker_writes_back_orphans_and_leaves_owned_calls_to_their_jobs(
    redis_url: str, data_dir: Path, fake: FakeCaseSystem
) -> None:
    ledger = open_runtime(get_settings()).ledger
    orphan, owned = _seed(ledger, 2)
    queue = open_queue(connect(redis_url), get_settings().queue)
    enqueue_call(queue, owned)
    worker = CallWorker([queue], connection=queue.connection, serializer=JSONSerializer)

    delivered = worker.drain_orphaned_write_backs()

    assert delivered == [orphan]
    assert fake.creations == {orphan: 1}
    assert ledger.get(orphan).status == CallStatus.DONE  # type: ignore[union-attr]
    assert ledger.get(owned).status == CallStatus.WRITING_BACK  # type: ignore[union-attr]


def test_enqueue_sends_a_call_marked_urgent_to_the_urgent_queue(
    redis_url: str, data_dir: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from click.testing import CliRunner

    from callscribe import defaults
    from callscribe.cli import main
    from tests.conftest import SPEECH

    urgent = tmp_path / "gas-leak.wav"
    shutil.copyfile(SPEECH / "SSB00050015.wav", urgent)
    urgent.with_suffix(".json").write_text(json.dumps({"priority": "urgent"}), encoding="utf-8")
    normal = tmp_path / "parking.wav"
    shutil.copyfile(SPEECH / "BAC009S0724W0121.wav", normal)

    result = CliRunner().invoke(main, ["enqueue", str(urgent), str(normal)])

    assert result.exit_code == 0, result.output
    urgent_id, normal_id = result.stdout.split()
    connection = connect(redis_url)
    assert open_queue(connection, defaults.URGENT_QUEUE_NAME).job_ids == [f"call-{urgent_id}"]
    assert open_queue(connection, defaults.QUEUE_NAME).job_ids == [f"call-{normal_id}"]
