"""Intake idempotency and sidecar metadata, on the real SQLite ledger."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from callscribe.errors import IntakeRejected, MetadataError
from callscribe.intake.files import check_file_name
from callscribe.intake.metadata import (
    normalize_metadata,
    parse_metadata_json,
    read_sidecar,
    sidecar_for,
)
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallLedger
from callscribe.runtime import open_runtime
from callscribe.settings import get_settings
from tests.conftest import CALLS

FORMATS = CALLS / "formats"


@pytest.fixture
def ledger(data_dir: Path) -> CallLedger:
    return open_runtime(get_settings()).ledger


def _copy(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FORMATS / name, dest)
    return dest


def test_same_bytes_are_one_call_and_call_id_wins_over_sha(
    ledger: CallLedger, data_dir: Path, tmp_path: Path
) -> None:
    first = _copy("turn_pcm16_8k.wav", tmp_path / "a.wav")
    second = _copy("turn_pcm16_8k.wav", tmp_path / "b.wav")
    record, created = register_call_file(first, ledger=ledger, data_dir=data_dir)
    assert created and len(record.call_id) == 64 and record.call_id == record.sha256
    again, created_again = register_call_file(second, ledger=ledger, data_dir=data_dir)
    assert not created_again and again.call_id == record.call_id

    named = _copy("turn_mp3_8k.mp3", tmp_path / "c.mp3")
    meta = {"call_id": "REC-2026-0001", "agent_id": "A17", "custom": {"queue": 3}}
    by_id, made = register_call_file(named, ledger=ledger, data_dir=data_dir, metadata=meta)
    assert made and by_id.call_id == "REC-2026-0001"
    assert by_id.metadata["custom"] == {"queue": 3}
    renamed = _copy("turn_mp3_8k.mp3", tmp_path / "d.mp3")
    _, made_twice = register_call_file(
        renamed, ledger=ledger, data_dir=data_dir, metadata={"call_id": "REC-2026-0001"}
    )
    assert not made_twice


def test_a_call_id_reused_for_other_audio_is_refused(
    ledger: CallLedger, data_dir: Path, tmp_path: Path
) -> None:
    meta = {"call_id": "REC-7"}
    register_call_file(
        _copy("turn_pcm16_8k.wav", tmp_path / "a.wav"),
        ledger=ledger,
        data_dir=data_dir,
        metadata=meta,
    )
    with pytest.raises(IntakeRejected, match="b.wav: call_id REC-7 is already registered"):
        register_call_file(
            _copy("turn_mp3_8k.mp3", tmp_path / "b.wav"),
            ledger=ledger,
            data_dir=data_dir,
            metadata=meta,
        )


def test_size_limit_and_symlinks(ledger: CallLedger, data_dir: Path, tmp_path: Path) -> None:
    audio = _copy("turn_pcm16_8k.wav", tmp_path / "a.wav")
    with pytest.raises(IntakeRejected, match=r"a\.wav: \d+ bytes, over the 1000 byte limit"):
        register_call_file(audio, ledger=ledger, data_dir=data_dir, max_bytes=1000)
    link = tmp_path / "link.wav"
    link.symlink_to(audio)
    with pytest.raises(IntakeRejected, match="link.wav: is a symbolic link"):
        register_call_file(link, ledger=ledger, data_dir=data_dir)


@pytest.mark.parametrize(
    ("roles", "agent"),
    [
        ({"left": "agent", "right": "caller"}, "left"),
        ({"left": "caller", "right": "agent"}, "right"),
        (["caller", "agent"], "right"),
        ({"agent": "right"}, "right"),
        ({"0": "agent", "1": "caller"}, "left"),
    ],
)
def test_channel_roles_forms(roles: object, agent: str) -> None:
    assert normalize_metadata({"channel_roles": roles}, "x.json")["agent_channel"] == agent


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"call_id": "../etc/passwd"}, "call_id '../etc/passwd' must be"),
        ({"call_id": 42}, "call_id 42 must be"),
        ({"started_at": "yesterday"}, "started_at 'yesterday' is not ISO 8601"),
        ({"priority": "asap"}, "priority 'asap' must be one of"),
        ({"channel_roles": {"left": "agent"}}, "channel_roles"),
        ({"encoding": "ulaw", "sample_rate": 0}, "sample_rate 0 must be"),
    ],
)
def test_bad_metadata_values_get_one_line(metadata: dict[str, object], reason: str) -> None:
    with pytest.raises(MetadataError) as caught:
        normalize_metadata(metadata, "call.json")
    assert str(caught.value).startswith("call.json: ") and reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_sidecar_reading(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    audio = inbox / "call1.wav"
    audio.write_bytes(b"RIFF")
    assert sidecar_for(audio) is None
    sidecar = inbox / "call1.json"
    sidecar.write_text('{"call_id": "C1", "caller_number": "13800000000", "x-extra": 1}')
    assert sidecar_for(audio) == sidecar
    assert read_sidecar(sidecar, root=inbox)["x-extra"] == 1

    sidecar.write_text('{"call_id": "C1",,}')
    with pytest.raises(MetadataError, match=r"call1\.json: bad JSON at line 1 column 18"):
        read_sidecar(sidecar, root=inbox)
    sidecar.write_text("[1, 2]")
    with pytest.raises(MetadataError, match="must be a JSON object, not list"):
        read_sidecar(sidecar, root=inbox)
    sidecar.write_text(json.dumps({"audio": "../../secrets/call.wav"}))
    with pytest.raises(MetadataError, match="audio '../../secrets/call.wav' points outside"):
        read_sidecar(sidecar, root=inbox)

    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    sidecar.unlink()
    os.symlink(outside, sidecar)
    with pytest.raises(MetadataError, match="sidecar is a symbolic link"):
        read_sidecar(sidecar, root=inbox)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("..", "not a file name"),
        ("../up.wav", "path separator"),
        ("call\x1b[31m.wav", "control characters"),
        ("call\n.wav", "control characters"),
        ("a" * 300 + ".wav", "too long"),
    ],
)
def test_unsafe_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(IntakeRejected) as caught:
        check_file_name(name)
    assert reason in str(caught.value) and "\n" not in str(caught.value)


def test_a_sidecar_beside_the_file_is_read_when_no_metadata_is_given(
    ledger: CallLedger, data_dir: Path, tmp_path: Path
) -> None:
    raw = _copy("turn_g711u_8k.ulaw", tmp_path / "line7.ulaw")
    (tmp_path / "line7.json").write_text(
        '{"call_id": "L7", "encoding": "ulaw", "sample_rate": 8000}'
    )
    record, created = register_call_file(raw, ledger=ledger, data_dir=data_dir)
    assert created and record.call_id == "L7" and record.metadata["sample_rate"] == 8000
    (tmp_path / "line8.json").write_text("{oops")
    with pytest.raises(MetadataError, match=r"line8\.json: bad JSON"):
        register_call_file(
            _copy("turn_mp3_8k.mp3", tmp_path / "line8.mp3"), ledger=ledger, data_dir=data_dir
        )


def _nested(levels: int) -> str:
    return '{"a": ' * (levels - 1) + "{}" + "}" * (levels - 1)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 5000 + "]" * 5000, "nested more than 32 levels deep"),
        (_nested(33), "nested more than 32 levels deep"),
        ('{"a": NaN}', "not finite"),
        ('{"a": 1e999}', "not finite"),
        ('{"a": "\\u0000"}', "NUL character"),
        ('{"\\udc80": 1}', "unpaired surrogate"),
        ('{"a": ' + "1" * 5000 + "}", "number too long"),
        ('{"a": "' + "x" * 70_000 + '"}', "over 65536 bytes"),
    ],
)
def test_metadata_out_of_bounds_is_one_line(text: str, reason: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata_json(text, "metadata")
    assert str(caught.value).startswith("metadata: ") and reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_metadata_at_the_limits_is_read() -> None:
    assert parse_metadata_json(_nested(32), "metadata")["a"]["a"]
    quoted = {"note": "[" * 100 + '\\"{' * 100}
    assert parse_metadata_json(json.dumps(quoted), "metadata") == quoted
