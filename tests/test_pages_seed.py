"""The pages' test bed holds what the pages are tested on."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.pages_support import DEMO_CALL_ID, PASSWORD, SeededStore, fresh_desk


@pytest.mark.model
def test_the_bundled_calls_are_processed_into_cases_with_audio(
    seeded_pages_store: SeededStore, tmp_path: Path
) -> None:
    with fresh_desk(seeded_pages_store, tmp_path) as desk, httpx.Client(base_url=desk.url) as c:
        token = c.post("/api/auth/login", json={"username": "olga", "password": PASSWORD}).json()[
            "token"
        ]
        c.headers["Authorization"] = f"Bearer {token}"
        for call_id in desk.call_ids:
            detail = c.get(f"/api/desk/cases/{call_id}").json()
            assert detail["transcript"]["segments"], call_id
            assert detail["audio_url"], call_id
            audio = c.get(detail["audio_url"], headers={"Range": "bytes=0-99"})
            assert audio.status_code == 206 and len(audio.content) == 100
        assert desk.call_ids[-1] == DEMO_CALL_ID
