"""The pages' test bed: the bundled sample calls processed by the real model into a desk.

Once per test session the bundled calls (``fixtures/calls``) go through the real pipeline
(register, transcribe with the real Whisper model, extract, write back to the embedded desk).
One more case, ``hotline-demo``, is a hotline dialogue with known fields and personal data
(phones in several spoken forms, a name, an ID number, a house number) over the audio of
``call_mono16k.flac``: the masking and the form tests need values they can name.

Each test gets a fresh copy of that store (:func:`fresh_desk`), served by a real uvicorn on
loopback, with an operator, a second operator, a QA auditor and a redacted QA auditor.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy
from fastapi import FastAPI

from callscribe.db import make_engine, upgrade_database
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallLedger
from callscribe.pipeline import run_call
from callscribe.schema import CaseFields, Evidence, Segment, Speaker, Transcript
from callscribe.settings import Settings
from callscribe.web.app import create_app
from tests.conftest import CALLS
from tests.desk_support import serve

PASSWORD = "correct horse battery"
USERS = {"olga": "operator", "oscar": "operator", "quinn": "qa", "rita": "qa-redacted"}

BUNDLED_CALLS = ("call_stereo8k_mulaw.wav", "sample_call_mono16k.wav")
DEMO_AUDIO = "call_mono16k.flac"
"""A bundled recording not in BUNDLED_CALLS (the same bytes twice would be one call)."""
DEMO_CALL_ID = "hotline-demo"
DEMO_PHONE = "13912345678"
DEMO_NAME = "陈晓雯"
DEMO_ID_NUMBER = "110105198805123456"

DEMO_TURNS: tuple[tuple[Speaker, float, float, str], ...] = (
    ("agent", 0.0, 2.5, "您好，12345市民服务热线，请讲。"),
    ("caller", 2.8, 7.0, "你好，我住东城区东华门街道，胡同口天天有车堵着，消防车都进不来。"),
    ("agent", 7.3, 9.0, "请问您贵姓？"),
    ("caller", 9.2, 11.5, "我姓陈，耳东陈，叫陈晓雯。"),
    ("agent", 11.8, 13.0, "您的联系电话是？"),
    ("caller", 13.2, 17.0, "幺三九一二三四五六七八，也可以打138 0013 8000。"),
    ("agent", 17.2, 19.5, "好的，我跟您核对一下，13912345678，对吗？"),
    ("caller", 19.7, 23.5, "对。我身份证号110105198805123456，住3号楼2单元501室。"),
    ("agent", 23.8, 26.0, "好的，我们会尽快转交处理并给您回电。"),
)


@dataclass(frozen=True)
class SeededStore:
    """A data directory holding the processed calls, to copy for each test."""

    data: Path
    call_ids: tuple[str, ...]
    """The bundled calls' ids, in BUNDLED_CALLS order, then DEMO_CALL_ID."""


def demo_case() -> tuple[CaseFields, Transcript]:
    segments = [
        Segment(start=start, end=end, text=text, speaker=speaker, confidence=conf)
        for (speaker, start, end, text), conf in zip(
            DEMO_TURNS, (0.93, 0.88, 0.95, 0.61, 0.9, 0.42, 0.91, 0.77, 0.94), strict=True
        )
    ]
    transcript = Transcript(duration=26.0, segments=segments, engine="demo", model="none")

    def said(index: int, text: str) -> list[Evidence]:
        segment = segments[index]
        return [Evidence(segment=index, start=segment.start, end=segment.end, text=text)]

    fields = CaseFields(
        caller_name=DEMO_NAME,
        callback_phone=DEMO_PHONE,
        district="东城区",
        street="东华门街道",
        appeal_type="投诉",
        category="交通管理",
        urgency="一般",
        needs_callback=True,
        confidential=False,
        title="胡同口车辆堵路，消防车无法通行",
        summary="来电人反映：东城区东华门街道胡同口长期有车辆堵路。诉求：清理占道车辆。",
        evidence={
            "caller_name": said(3, "叫陈晓雯"),
            "callback_phone": said(6, "13912345678，对吗"),
            "district": said(1, "东城区"),
            "street": said(1, "东华门街道"),
            "category": said(1, "胡同口天天有车堵着"),
            "appeal_type": said(1, "消防车都进不来"),
        },
        confidence={
            "caller_name": 0.55,
            "callback_phone": 0.97,
            "district": 0.95,
            "street": 0.9,
            "appeal_type": 0.8,
            "category": 0.45,
            "urgency": 0.7,
        },
    )
    return fields, transcript


def seed_store(data: Path, transcriber: Any) -> SeededStore:
    """Process the bundled calls with ``transcriber`` and add the demo case."""
    settings = Settings(data=data, db_url=f"sqlite:///{data / 'callscribe.db'}")
    data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    try:
        ledger = CallLedger(engine)
        desk = EmbeddedCaseDesk(engine)
        call_ids = []
        for name in BUNDLED_CALLS:
            record, _ = register_call_file(CALLS / name, ledger=ledger, data_dir=data)
            run_call(
                record.call_id, ledger=ledger, transcriber=lambda: transcriber, case_system=desk
            )
            call_ids.append(record.call_id)
        register_call_file(
            CALLS / DEMO_AUDIO,
            ledger=ledger,
            data_dir=data,
            metadata={"call_id": DEMO_CALL_ID, "caller_number": DEMO_PHONE, "agent_id": "A07"},
        )
        fields, transcript = demo_case()
        desk.put_case(
            DEMO_CALL_ID,
            fields=fields.to_dict(),
            transcript=transcript.to_dict(),
            metadata={"caller_number": DEMO_PHONE, "agent_id": "A07"},
            actor="worker",
        )
        call_ids.append(DEMO_CALL_ID)
    finally:
        engine.dispose()
    return SeededStore(data=data, call_ids=tuple(call_ids))


@dataclass
class PagesDesk:
    url: str
    app: FastAPI
    settings: Settings
    call_ids: tuple[str, ...]


@contextmanager
def fresh_desk(seeded: SeededStore, tmp_path: Path, **overrides: Any) -> Iterator[PagesDesk]:
    """A copy of the seeded store under ``tmp_path``, served on loopback, with the USERS."""
    data = tmp_path / "desk-data"
    shutil.copytree(seeded.data, data, ignore=shutil.ignore_patterns("redis.sock"))
    db = data / "callscribe.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("UPDATE calls SET audio_path = replace(audio_path, :old, :new)"),
            {"old": str(seeded.data.resolve()), "new": str(data.resolve())},
        )
    engine.dispose()
    settings = Settings(data=data, db_url=f"sqlite:///{db}", desk_secure_cookies=False, **overrides)
    app = create_app(settings)
    for name, role in USERS.items():
        app.state.auth.add_user(name, role, PASSWORD)
    try:
        with serve(app) as base:
            yield PagesDesk(base, app, settings, seeded.call_ids)
    finally:
        app.state.engine.dispose()
