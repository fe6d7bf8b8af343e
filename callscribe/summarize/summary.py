"""Title (≤30 characters) and summary (≤200) in the 来电人反映：…。诉求：…。 style.

Built from the caller's own clauses: the ones carrying the most category and urgency cues say
what happened; a clause with 希望/要求/能不能… says what they want, else the appeal type's
usual request stands in.
"""

from __future__ import annotations

import functools
import re

from callscribe import defaults
from callscribe.schema import CaseFields
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.phone import spoken_numbers
from callscribe.summarize.rules import load_rules, weights

__all__ = ["write_summary", "write_title"]

_CLAUSE = re.compile(r"[，。！？；,.!?;\s]+")
_LEAD = re.compile(
    r"^(喂|你好|您好|嗯|啊|哎|那个|就是|对|是|我想要|我想|我要|反映个事|我反映个情况"
    r"|我?(?:投诉|举报|表扬|反映|咨询)(?:一下)?)+"
)
_APPEAL_VERB = re.compile(r"(投诉|举报|表扬|咨询)")
_NOT_DEMAND = re.compile(r"(称呼|贵姓|电话|回复|回个|您|姓名)")
_DEMAND = re.compile(r"(希望|要求|请你们|麻烦|能不能|赶紧|尽快|想问|怎么|能否|需要哪些)")
_PROBLEM_CHARS = 80
"""Characters of the caller's opening statement kept in the summary."""
_DEFAULT_DEMAND = {
    "投诉": "尽快核实处理",
    "举报": "相关部门依法查处",
    "求助": "尽快派人处置",
    "咨询": "解答相关政策",
    "建议": "相关部门研究采纳",
    "表扬": "对相关人员予以表扬",
    "其他": "了解办理情况",
}


@functools.cache
def _cue_weights() -> dict[str, float]:
    table: dict[str, float] = {}
    for cues in load_rules("categories").values():
        table.update(weights(cues))
    table.update(weights(load_rules("cues")["urgency"]["cues"]))
    return table


def _turn_clauses(turn: Turn) -> list[str]:
    out = []
    for clause in _CLAUSE.split(turn.text):
        lead = _LEAD.match(clause.strip())
        clause = _LEAD.sub("", clause.strip())
        if lead and _APPEAL_VERB.search(lead.group()) and len(clause) < 10:
            continue
        if len(clause) < 4 or spoken_numbers(clause) or "12345" in clause:
            continue
        out.append(clause)
    return out


def _clauses(turns: list[Turn]) -> list[str]:
    return [c for turn in turns if turn.from_caller for c in _turn_clauses(turn)]


def _score(clause: str) -> float:
    return sum(w for cue, w in _cue_weights().items() if cue in clause)


def _opening(turns: list[Turn]) -> list[str]:
    """The clauses of the caller's first substantive turn: where callers state the problem."""
    for turn in turns:
        if turn.from_caller:
            clauses = _turn_clauses(turn)
            if clauses:
                return clauses
    return []


def _problem(turns: list[Turn], budget: int = _PROBLEM_CHARS) -> list[str]:
    """The opening statement (up to ``budget`` characters), plus the strongest later clause."""
    opening = _opening(turns)
    kept: list[str] = []
    for clause in opening:
        if kept and sum(map(len, kept)) + len(clause) > budget:
            break
        kept.append(clause)
    later = [c for c in _clauses(turns) if c not in opening and _score(c) > 0]
    if later:
        best = max(later, key=_score)
        if _score(best) > max(map(_score, kept), default=0.0):
            kept.append(best)
    return kept


def _demand(turns: list[Turn], appeal_type: str) -> str:
    for clause in _clauses(turns):
        if _DEMAND.search(clause) and not _NOT_DEMAND.search(clause):
            return clause
    return _DEFAULT_DEMAND.get(appeal_type, _DEFAULT_DEMAND["其他"])


def _place(fields: CaseFields) -> str:
    if fields.address:
        return fields.address
    return "".join(p for p in (fields.district, fields.street) if p)


def write_title(fields: CaseFields, turns: list[Turn]) -> str:
    """Where and what, at most TITLE_MAX_CHARS characters."""
    clauses = _opening(turns)
    where = fields.street or fields.district or ""
    what = max(clauses, key=_score) if clauses else fields.category
    if where and where[:2] in what:
        where = ""
    return (where + what)[: defaults.TITLE_MAX_CHARS]


def write_summary(fields: CaseFields, turns: list[Turn]) -> str:
    """来电人反映：<place><what happened>。诉求：<what they want>。 at most SUMMARY_MAX_CHARS."""
    problem = "，".join(_problem(turns)) or "相关问题"
    place = _place(fields)
    if place and (place in problem or (fields.street or "\0")[:2] in problem):
        place = ""
    demand = _demand(turns, fields.appeal_type).rstrip("？?")
    text = f"来电人反映：{place}{'，' if place else ''}{problem}。诉求：{demand}。"
    if len(text) > defaults.SUMMARY_MAX_CHARS:
        text = text[: defaults.SUMMARY_MAX_CHARS - 1] + "。"
    return text
