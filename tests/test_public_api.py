"""The surfaces other code and other systems depend on cannot drift unnoticed."""

from __future__ import annotations

import dataclasses

import callscribe
from callscribe.casesystem.api_models import CaseFieldsBody, EvidenceBody
from callscribe.schema import CaseFields, Evidence


def test_package_exports_are_sorted_and_exist() -> None:
    assert callscribe.__all__ == sorted(callscribe.__all__)
    for name in callscribe.__all__:
        assert getattr(callscribe, name).__module__.startswith("callscribe."), name


def test_the_desk_contract_carries_every_work_order_field() -> None:
    """The HTTP body mirrors the dataclass; a field added to one must be added to the other."""
    assert set(CaseFieldsBody.model_fields) == {f.name for f in dataclasses.fields(CaseFields)}
    assert set(EvidenceBody.model_fields) == {f.name for f in dataclasses.fields(Evidence)}


def _modules_loaded_by(statement: str) -> set[str]:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", f"{statement}; import sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_stages_never_import_the_queue_the_ledger_or_the_case_desk() -> None:
    loaded = _modules_loaded_by(
        "import callscribe.audio, callscribe.transcribe, callscribe.summarize"
    )
    forbidden = {
        m
        for m in loaded
        if m.startswith(("callscribe.worker", "callscribe.casesystem", "callscribe.ledger", "rq"))
    }
    assert forbidden == set()


def test_the_web_app_never_imports_whisper() -> None:
    loaded = _modules_loaded_by("import callscribe.casesystem.app")
    heavy = {
        m
        for m in loaded
        if m.startswith(
            ("faster_whisper", "ctranslate2", "whisper", "torch", "callscribe.transcribe")
        )
    }
    assert heavy == set()
