"""Redaction for QA auditors without access to personal data (callscribe.desk.redact).

Phone recall comes first: every phone form the extractor's own tests use is fed through
:func:`redact_text` (read from tests/test_summarize_phone.py, so new forms are covered as they
are added), and neither the extractor nor a plain digit count finds a number afterwards.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from callscribe.desk.redact import (
    HOUSE_TOKEN,
    ID_TOKEN,
    NAME_TOKEN,
    PHONE_TOKEN,
    redact_case,
    redact_text,
)
from callscribe.desk.review import ReviewDesk
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.ledger import CallLedger
from callscribe.summarize.phone import spoken_numbers
from tests.test_desk_review import migrated_store, put

PHONE_TESTS = Path(__file__).with_name("test_summarize_phone.py")
DIGIT = "0-9０-９零〇洞一幺二两三四五六七拐八九"
_SEPARATORS = re.compile(r"[\s,，、.。\-—－_~～…()（）+＋]")
_LONG_RUN = re.compile(f"[{DIGIT}]{{7,}}")


def _extractor_phone_forms() -> list[str]:
    """Every text in the extractor's phone tests in which it finds a number."""
    tree = ast.parse(PHONE_TESTS.read_text(encoding="utf-8"))
    texts = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    return sorted(t for t in texts if spoken_numbers(t))


EXTRA_PHONE_FORMS = [
    "+86 138 1234 5678",
    "+86-139-1234-5678",
    "86 13812345678",
    "0086 13812345678",
    "(010)6512-3456",
    "（010）65123456",
    "010-65123456转8001",
    "0755-12345678",
    "6512 3456",
    "1 3 8 1 2 3 4 5 6 7 8",
    "一三八、一二三四、五六七八",
    "幺三八，嗯，幺二三四，那个，五六七八，对",
    "１３８１２３４５６７８",
    "电话一三八一二三四5678",
    "号码是两三四五六七八九",
    "座机是八二三三五五六六",
]


def _assert_no_number(original: str, redacted: str) -> None:
    assert spoken_numbers(redacted) == [], (original, redacted)
    assert not _LONG_RUN.search(_SEPARATORS.sub("", redacted)), (original, redacted)
    assert PHONE_TOKEN in redacted, (original, redacted)


def test_the_extractors_phone_forms_are_all_found() -> None:
    forms = _extractor_phone_forms()
    assert len(forms) >= 20  # the reading of the phone tests works
    for text in forms:
        _assert_no_number(text, redact_text(text))


@pytest.mark.parametrize("text", EXTRA_PHONE_FORMS)
def test_more_phone_forms_are_found(text: str) -> None:
    redacted = redact_text(text)
    _assert_no_number(text, redacted)
    assert not re.search(f"[{DIGIT}]{{4,}}", _SEPARATORS.sub("", redacted.split("转")[0]))


def test_a_number_beside_a_date_or_an_amount_is_masked_and_they_are_kept() -> None:
    assert redact_text("电话13812345678，12个人都能作证") == f"电话{PHONE_TOKEN}，12个人都能作证"
    assert redact_text("电话13812345678 2024年3月5日打过") == f"电话{PHONE_TOKEN} 2024年3月5日打过"
    assert redact_text("交了1,200元，电话6512 3456") == f"交了1,200元，电话{PHONE_TOKEN}"


def test_the_mask_does_not_tell_the_length_of_a_number() -> None:
    masked = {redact_text(t) for t in ("13812345678", "69543210", "010-65123456", "+8613812345678")}
    assert masked == {PHONE_TOKEN}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("身份证110101199003071234", f"身份证{ID_TOKEN}"),
        ("身份证号11010119900307123X，", f"身份证号{ID_TOKEN}，"),
        ("身份证号11010119900307123x", f"身份证号{ID_TOKEN}"),
        ("老身份证110101900307123", f"老身份证{ID_TOKEN}"),
        ("身份证一一零一零一一九九零零三零七一二三四", f"身份证{ID_TOKEN}"),
        ("我住3号楼2单元501室", f"我住{HOUSE_TOKEN}"),
        ("朝阳路12号院", f"朝阳路{HOUSE_TOKEN}"),
        ("住在十二号院三号楼", f"住在{HOUSE_TOKEN}"),
        ("501室楼上漏水", f"{HOUSE_TOKEN}楼上漏水"),
        ("门牌号是25", f"门牌号是{HOUSE_TOKEN}"),
        ("南锣鼓巷35号门口", f"南锣鼓巷{HOUSE_TOKEN}门口"),
        ("家是3-2-501", f"家是{HOUSE_TOKEN}"),
        ("5栋一单元", f"{HOUSE_TOKEN}"),
    ],
)
def test_ids_and_house_numbers_are_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024年3月5日交了300元",
        "2024-03-05 晚上8点",
        "罚了1,200,000元",
        "3月5号早上8点半",
        "5楼楼道灯坏了",
        "地铁2号线",
        "屋里才十四五度",
        "北京12345，您好",
        "工号好像是幺零二三",
        "一二十个人等了三四个小时",
        "我要投诉，要求他们三天内处理",
        "第一，第二，第三",
        "谢谢您，王府井街道",
        "我们楼里一楼有一户租出去了",
    ],
)
def test_what_is_not_personal_stays(text: str) -> None:
    assert redact_text(text, names=["谢女士", "王建国"]) == text


def test_names_are_masked_with_their_honorific_forms() -> None:
    text = "我叫赵建国。好的赵先生。赵女士不在。欧阳娜娜和欧阳女士。我姓谢，谢女士说谢谢。"
    redacted = redact_text(text, names=["赵建国", "欧阳娜娜", "谢女士"])
    assert redacted == (
        f"我叫{NAME_TOKEN}。好的{NAME_TOKEN}。{NAME_TOKEN}不在。{NAME_TOKEN}和{NAME_TOKEN}。"
        f"我姓{NAME_TOKEN}，{NAME_TOKEN}说谢谢。"
    )
    assert redact_text("赵建国", names=[" ", ""]) == "赵建国"


def test_a_redacted_case_shows_no_personal_data(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with migrated_store("sqlite", tmp_path, request) as engine:
        segments = [
            {"start": 0, "end": 2, "speaker": "agent", "text": "您好，请问怎么称呼？"},
            {"start": 2, "end": 5, "speaker": "caller", "text": "我叫赵建国，电话一三九一二"},
            {
                "start": 5,
                "end": 8,
                "speaker": "caller",
                "text": "三四五六七八，住3号楼2单元501室。",
            },
            {"start": 8, "end": 9, "speaker": "caller", "text": "身份证110101199003071234。"},
            {"start": 9, "end": 10, "speaker": "agent", "text": "好的赵先生，2024年3月5日的事。"},
        ]
        put(
            engine,
            "c-1",
            segments=segments,
            caller_name="赵建国",
            callback_phone="13912345678",
            address="东城区朝阳路12号院3号楼2单元501室",
            summary="来电人赵先生（13912345678）反映胡同口车辆堵路。",
        )
        audio = tmp_path / "c-1.wav"
        audio.write_bytes(b"RIFF")
        CallLedger(engine).register(
            "c-1", audio_path=str(audio), source_name="c-1.wav", sha256="0" * 64
        )
        EmbeddedCaseDesk(engine).edit_fields("c-1", {"caller_name": "赵建民"}, actor="olga")
        ReviewDesk(engine).reject(
            "c-1", "重复来电，赵先生已于13912345678来电", actor="olga", revision=2
        )
        detail = EmbeddedCaseDesk(engine).case_detail("c-1")
    detail["metadata"] = {"caller_number": "13912345678", "ani": "010-65123456", "agent_id": "a-7"}
    detail["evidence"]["callback_phone"] = [
        {"segment": 1, "start": 2.0, "end": 5.0, "text": "一三九一二"}
    ]
    original = json.dumps(detail, ensure_ascii=False)
    redacted = redact_case(detail)

    assert json.dumps(detail, ensure_ascii=False) == original  # a copy: the input is untouched
    text = json.dumps(redacted, ensure_ascii=False)
    for secret in (
        "赵建国",
        "赵建民",
        "赵先生",
        "13912345678",
        "65123456",
        "一三九",
        "501室",  # not bare digits: timestamps in the trail hold any run of them
        "11010119",
    ):
        assert secret not in text, secret
    assert redacted["fields"]["caller_name"] == NAME_TOKEN
    assert redacted["machine_fields"]["caller_name"] == NAME_TOKEN
    assert redacted["fields"]["callback_phone"] == PHONE_TOKEN
    assert redacted["fields"]["address"] == f"东城区朝阳路{HOUSE_TOKEN}"
    assert redacted["audio_url"] is None and detail["audio_url"] is not None
    assert redacted["metadata"] == {
        "caller_number": PHONE_TOKEN,
        "ani": PHONE_TOKEN,
        "agent_id": "a-7",
    }
    texts = [s["text"] for s in redacted["transcript"]["segments"]]
    assert texts[1] == f"我叫{NAME_TOKEN}，电话{PHONE_TOKEN}"  # a number said across two segments
    assert texts[2] == f"{PHONE_TOKEN}，住{HOUSE_TOKEN}。"
    assert texts[3] == f"身份证{ID_TOKEN}。"
    assert texts[4] == f"好的{NAME_TOKEN}，2024年3月5日的事。"
    assert redacted["transcript"]["text"].startswith(
        f"您好，请问怎么称呼？我叫{NAME_TOKEN}，电话{PHONE_TOKEN}，住{HOUSE_TOKEN}。"
    )
    assert redacted["fields"]["district"] == "东城区"
    assert redacted["history"][-1]["note"] == f"重复来电，{NAME_TOKEN}已于{PHONE_TOKEN}来电"
    name_edit = next(e for e in redacted["history"] if e["field"] == "caller_name")
    assert (name_edit["old_value"], name_edit["new_value"]) == (NAME_TOKEN, NAME_TOKEN)
    assert redacted["evidence"]["callback_phone"][0]["text"] == PHONE_TOKEN
    assert redacted["evidence"]["district"][0]["text"] == "东城区"
