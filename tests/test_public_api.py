"""The surfaces other code and other systems depend on cannot drift unnoticed."""

from __future__ import annotations

import dataclasses

import callscribe
from callscribe.schema import CaseFields, Evidence
from callscribe.web.schemas import CaseFieldsBody, EvidenceBody


def test_package_exports_are_sorted_and_exist() -> None:
    assert callscribe.__all__ == sorted(callscribe.__all__)
    for name in callscribe.__all__:
        assert getattr(callscribe, name).__module__.startswith("callscribe."), name


def test_the_desk_contract_carries_every_work_order_field() -> None:
    """The HTTP body mirrors the dataclass; a field added to one must be added to the other."""
    assert set(CaseFieldsBody.model_fields) == {f.name for f in dataclasses.fields(CaseFields)}
    assert set(EvidenceBody.model_fields) == {f.name for f in dataclasses.fields(Evidence)}
