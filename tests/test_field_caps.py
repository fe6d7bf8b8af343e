"""The free-text work-order fields are capped alike by the API, the desk and the review page."""

from __future__ import annotations

import pytest

from callscribe.desk.review import validate_edits
from callscribe.schema import FIELD_MAX_CHARS
from callscribe.web.pages.review_view import FIELD_SPECS
from callscribe.web.schemas import CaseFieldsBody, FieldEdits

# Streets and communities are also checked against the gazetteer; the cap is what is tested.
_NO_PLACE = {"district": None, "street": None, "community": None}


def _api_cap(model: type[CaseFieldsBody] | type[FieldEdits], name: str) -> int:
    caps = [m.max_length for m in model.model_fields[name].metadata if hasattr(m, "max_length")]
    assert len(caps) == 1, (model.__name__, name)
    return int(caps[0])


@pytest.mark.parametrize("name", sorted(FIELD_MAX_CHARS))
def test_the_api_caps_each_field_at_the_shared_limit(name: str) -> None:
    assert _api_cap(CaseFieldsBody, name) == FIELD_MAX_CHARS[name]
    assert _api_cap(FieldEdits, name) == FIELD_MAX_CHARS[name]


@pytest.mark.parametrize("name", ["caller_name", "address", "title", "summary"])
def test_the_desk_refuses_one_character_more_than_the_api(name: str) -> None:
    cap = FIELD_MAX_CHARS[name]
    validate_edits({name: "长" * cap}, current=_NO_PLACE)
    with pytest.raises(ValueError, match=f"^{name}: at most {cap} characters"):
        validate_edits({name: "长" * (cap + 1)}, current=_NO_PLACE)


def test_the_review_page_offers_the_api_limits() -> None:
    offered = {spec.name: spec.max_chars for spec in FIELD_SPECS if spec.max_chars is not None}
    shown = {spec.name for spec in FIELD_SPECS}
    assert offered == {name: cap for name, cap in FIELD_MAX_CHARS.items() if name in shown}
    assert {"caller_name", "callback_phone", "address", "summary"} <= set(offered)
