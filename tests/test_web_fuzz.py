"""200 generated uploads and 200 generated write-backs against the real desk: each gets an
answer from the documented set, never a 500, and the desk keeps answering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CALLS
from tests.test_web_hostile import running_desk

WAV = (CALLS / "formats" / "turn_pcm16_8k.wav").read_bytes()

UPLOAD_ANSWERS = {200, 202, 400, 413, 415, 422}
WRITE_BACK_ANSWERS = {200, 201, 400, 409, 413, 422}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
metadata_texts = st.one_of(
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.dictionaries(
        st.sampled_from(
            [
                "call_id",
                "caller_number",
                "priority",
                "channel_roles",
                "started_at",
                "encoding",
                "sample_rate",
                "agent_id",
                "x",
            ]
        ),
        json_values,
        max_size=5,
    ).map(json.dumps),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.text(max_size=200),
)
audio_bodies = st.one_of(
    st.just(WAV),
    st.binary(max_size=2048),
    st.binary(max_size=64).map(lambda tail: WAV[:44] + tail),
)
file_names = st.one_of(
    st.just("call.wav"), st.text(max_size=300), st.sampled_from(["../x.wav", ".hidden", "a\x00b"])
)


def _post(client: httpx.Client, name: str, audio: bytes, metadata: str | None) -> int:
    files: dict[str, Any] = {"audio": (name, audio, "application/octet-stream")}
    data = {"metadata": metadata} if metadata is not None else None
    return client.post("/calls", files=files, data=data).status_code


def test_generated_uploads_get_a_documented_answer(tmp_path: Path, redis_url: str) -> None:
    with running_desk(tmp_path, redis_url, max_upload_bytes=64 * 1024) as desk:
        with desk.client("recorder") as client:

            @settings(
                max_examples=200,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(name=file_names, audio=audio_bodies, metadata=st.none() | metadata_texts)
            def upload(name: str, audio: bytes, metadata: str | None) -> None:
                try:
                    status = _post(client, name, audio, metadata)
                except UnicodeEncodeError:
                    return  # httpx cannot put this name in a header: nothing was sent
                assert status in UPLOAD_ANSWERS, (status, name, metadata)

            upload()
            assert client.get("/healthz").status_code == 200


def test_generated_write_backs_get_a_documented_answer(tmp_path: Path, redis_url: str) -> None:
    field_values = st.one_of(st.none(), st.text(max_size=50), st.integers(), json_values)
    with running_desk(tmp_path, redis_url) as desk:
        with desk.client("worker") as client:

            @settings(
                max_examples=200,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            )
            @given(
                fields=st.dictionaries(
                    st.sampled_from(
                        [
                            "district",
                            "category",
                            "appeal_type",
                            "urgency",
                            "title",
                            "summary",
                            "evidence",
                            "confidence",
                            "street",
                            "zzz",
                        ]
                    ),
                    field_values,
                    max_size=6,
                ),
                segments=st.lists(
                    st.dictionaries(
                        st.sampled_from(["start", "end", "text", "speaker", "words"]),
                        field_values,
                        max_size=5,
                    ),
                    max_size=5,
                ),
            )
            def write_back(fields: dict[str, Any], segments: list[Any]) -> None:
                body = {
                    "call_id": "fuzz-1",
                    "status": "auto-filled",
                    "fields": fields,
                    "transcript": {"duration": 1.0, "segments": segments},
                    "metadata": {},
                }
                status = client.put(
                    "/api/cases/fuzz-1",
                    content=json.dumps(body, allow_nan=True),
                    headers={"Content-Type": "application/json"},
                ).status_code
                assert status in WRITE_BACK_ANSWERS, (status, body)

            write_back()
            assert client.get("/healthz").status_code == 200
