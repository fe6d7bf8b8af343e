"""Appeal type, category, urgency, callback and confidentiality.

The appeal type, the category and the urgency are decided by the trained classifier
(:mod:`callscribe.summarize.case_model`), which reads the caller's words (character n-grams);
its confidence is a calibrated probability of being right. The cue rules, which read the
explicit words and so mistook annoyed questions for complaints, the office named for the topic
and an old or negated danger for one now, remain as ``classify_appeal_by_rules``,
``classify_category_by_rules`` and ``classify_urgency_by_rules``: their evidence is cited where
they agree with the classifier, and scripts/classifier_cv.py measures them.

The cue tables live in rules/cues.yaml and rules/categories.yaml. Each cue found in a turn adds
its weight (the caller's turns in full, the agent's at ``agent_weight``); the highest total wins,
ties go to the order in the rules. Urgency cues right after a negation (没有人受伤) do not count.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field

from callscribe.schema import APPEAL_TYPES, CATEGORIES, URGENCIES
from callscribe.summarize.case_model import CaseModel, case_model, model_text
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.rules import heard_as_meant, load_rules, weights

__all__ = [
    "Decision",
    "classify_appeal",
    "classify_appeal_by_rules",
    "classify_category",
    "classify_category_by_rules",
    "classify_urgency",
    "classify_urgency_by_rules",
    "find_flags",
    "model_input",
]


@dataclass
class Decision:
    """A chosen label with the turns whose cues decided it, and a confidence."""

    value: str
    turns: list[Turn] = field(default_factory=list)
    confidence: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _CueRules:
    agent_weight: float
    appeal: dict[str, dict[str, float]]
    appeal_priority: list[str]
    urgent_help_bonus: float
    categories: dict[str, dict[str, float]]
    urgency: dict[str, float]
    urgency_threshold: float
    negations: tuple[str, ...]
    not_negations: tuple[str, ...]
    past_before: tuple[str, ...]
    past_after: tuple[str, ...]
    callback: dict[str, tuple[re.Pattern[str], ...]]
    callback_answers: dict[str, tuple[str, ...]]
    secret_cues: tuple[str, ...]
    secret_patterns: tuple[re.Pattern[str], ...]
    secret_promises: tuple[re.Pattern[str], ...]
    agent_label: re.Pattern[str]
    agent_label_weight: float
    problem_default: str
    confidential_report_bonus: float
    appeal_patterns: tuple[tuple[re.Pattern[str], str, float], ...]


@functools.cache
def _rules() -> _CueRules:
    cues = load_rules("cues")
    urgency = cues["urgency"]
    secret = cues["confidential"]
    return _CueRules(
        agent_weight=float(cues["agent_weight"]),
        appeal={str(k): weights(v) for k, v in cues["appeal_types"].items()},
        appeal_priority=[str(a) for a in cues["appeal_priority"]],
        urgent_help_bonus=float(cues["urgent_help_bonus"]),
        categories={str(k): weights(v) for k, v in load_rules("categories").items()},
        urgency=weights(urgency["cues"]),
        urgency_threshold=float(urgency["threshold"]),
        negations=tuple(urgency["negations"]),
        not_negations=tuple(urgency.get("not_negations") or ()),
        past_before=tuple(urgency.get("past_before") or ()),
        past_after=tuple(urgency.get("past_after") or ()),
        callback={
            str(k): tuple(re.compile(str(p)) for p in v)
            for k, v in cues["needs_callback"].items()
            if k in ("true", "false", "question")
        },
        callback_answers={
            str(k): tuple(v)
            for k, v in cues["needs_callback"].items()
            if k in ("answer_yes", "answer_no")
        },
        secret_cues=tuple(secret["cues"]),
        secret_patterns=tuple(re.compile(p) for p in secret["patterns"]),
        secret_promises=tuple(re.compile(p) for p in secret.get("agent_promises") or ()),
        agent_label=re.compile(str(cues["agent_label_pattern"])),
        agent_label_weight=float(cues["agent_label_weight"]),
        problem_default=str(cues["problem_default"]),
        confidential_report_bonus=float(cues["confidential_report_bonus"]),
        appeal_patterns=tuple(
            (re.compile(str(p["pattern"])), str(p["appeal"]), float(p["weight"]))
            for p in cues.get("appeal_patterns") or []
        ),
    )


_WHITESPACE = re.compile(r"\s+")


def _turn_weight(turn: Turn) -> float:
    return 1.0 if turn.from_caller else _rules().agent_weight


def _score(
    turns: list[Turn], tables: dict[str, dict[str, float]]
) -> tuple[dict[str, float], dict[str, list[Turn]]]:
    scores: dict[str, float] = defaultdict(float)
    where: dict[str, list[Turn]] = defaultdict(list)
    for turn in turns:
        w = _turn_weight(turn)
        text = heard_as_meant(_WHITESPACE.sub("", turn.text))
        for label, table in tables.items():
            hit = sum(weight for cue, weight in table.items() if cue in text)
            if hit:
                scores[label] += hit * w
                where[label].append(turn)
    return scores, where


def _decide(
    scores: dict[str, float], where: dict[str, list[Turn]], order: list[str], default: str
) -> Decision:
    ranked = sorted(
        (label for label in scores if scores[label] > 0),
        key=lambda label: (-scores[label], order.index(label) if label in order else len(order)),
    )
    if not ranked:
        return Decision(default, [], 0.3, dict(scores))
    top = ranked[0]
    second = scores[ranked[1]] if len(ranked) > 1 else 0.0
    margin = (scores[top] - second) / scores[top]
    confidence = 0.45 + 0.5 * margin * min(1.0, scores[top] / 4.0)
    return Decision(top, where[top][:3], round(confidence, 3), dict(scores))


def classify_appeal(
    turns: list[Turn], *, urgent: bool, confidential: bool = False, model: CaseModel | None = None
) -> Decision:
    """诉求类型: 咨询 求助 投诉 举报 建议 表扬 其他.

    The trained classifier decides (``model`` if given, else the one trained on the packaged
    examples); the cue rules' evidence is cited where they agree with it. ``urgent`` and
    ``confidential`` weigh in the rules' decision only.
    """
    rules = classify_appeal_by_rules(turns, urgent=urgent, confidential=confidential)
    decision = _ask_model("appeal_type", turns, rules, model or case_model())
    assert decision.value in APPEAL_TYPES
    return decision


def classify_appeal_by_rules(
    turns: list[Turn], *, urgent: bool, confidential: bool = False
) -> Decision:
    """The appeal type from the cue words alone."""
    rules = _rules()
    caller = [t for t in turns if t.from_caller]
    scores, where = _score(caller, rules.appeal)
    for turn in caller:
        for pattern, appeal, weight in rules.appeal_patterns:
            if pattern.search(turn.text):
                scores[appeal] += weight
                where[appeal].append(turn)
    for turn in turns:
        if turn.speaker == "agent":
            for match in rules.agent_label.finditer(turn.text):
                scores[match.group(1)] += rules.agent_label_weight
                where[match.group(1)].append(turn)
    if urgent:
        scores["求助"] += rules.urgent_help_bonus
    if confidential:
        scores["举报"] += rules.confidential_report_bonus
    category = classify_category_by_rules(turns)
    if not any(scores.values()) and category.value != "其他":
        decision = Decision(rules.problem_default, category.turns, 0.4, dict(scores))
    else:
        decision = _decide(scores, where, rules.appeal_priority, "其他")
    return decision


def model_input(turns: list[Turn]) -> str:
    """The call as the classifier reads it (every turn, homophones undone, joined)."""
    return model_text(turns)


def _ask_model(name: str, turns: list[Turn], rules: Decision, model: CaseModel) -> Decision:
    """The classifier's decision for field ``name``, citing the rules' turns where they agree."""
    decided = model.decide(name, model_input(turns))
    if decided.value == rules.value and rules.turns:
        cited = rules.turns
    else:
        cited = [t for t in turns if t.from_caller][:2]
    return Decision(decided.value, cited, decided.confidence, rules.scores)


def classify_category(turns: list[Turn], *, model: CaseModel | None = None) -> Decision:
    """First-level category (住房物业 … 其他), decided by the trained classifier."""
    decision = _ask_model(
        "category", turns, classify_category_by_rules(turns), model or case_model()
    )
    assert decision.value in CATEGORIES
    return decision


def classify_category_by_rules(turns: list[Turn]) -> Decision:
    """The category from the cue words alone."""
    scores, where = _score(turns, _rules().categories)
    decision = _decide(scores, where, list(CATEGORIES), "其他")
    assert decision.value in CATEGORIES
    return decision


_CLAUSE_END = re.compile(r"[，,。.！!？?；;\s]")
_SENTENCE_END = re.compile(r"[。.！!？?；;]")
_NEGATION_REACH = 6


def _negated(text: str, at: int, rules: _CueRules) -> bool:
    """A negation earlier in the cue's clause, within a few characters (没有人受伤, 没有任何人受伤).

    Phrases that contain a negation but do not negate the event (不小心, 止不住, 不知道) are
    removed first.
    """
    before = _CLAUSE_END.split(text[max(0, at - _NEGATION_REACH) : at])[-1]
    for phrase in rules.not_negations:
        before = before.replace(phrase, "")
    return any(n in before for n in rules.negations)


def _sentence_start(text: str, at: int) -> int:
    """Where the sentence holding position ``at`` begins."""
    return max((m.end() for m in _SENTENCE_END.finditer(text, 0, at)), default=0)


def _in_the_past(text: str, at: int, end: int, rules: _CueRules) -> bool:
    """The cue tells of an earlier event (上次着火以后, 上礼拜路塌了), not a danger now."""
    if any(marker in text[_sentence_start(text, at) : at] for marker in rules.past_before):
        return True
    return text[end : end + 3].startswith(rules.past_after)


def classify_urgency(turns: list[Turn], *, model: CaseModel | None = None) -> Decision:
    """紧急 when danger to people or property is described now, else 一般.

    The trained classifier decides (leave one batch out it was right more often than the cue
    rules and missed fewer 紧急 calls: scripts/classifier_cv.py --urgency); the rules' turns are
    cited where they agree.
    """
    rules = classify_urgency_by_rules(turns)
    decision = _ask_model("urgency", turns, rules, model or case_model())
    assert decision.value in URGENCIES
    return decision


def classify_urgency_by_rules(turns: list[Turn]) -> Decision:
    """Urgency from the cue words: 紧急 when their score reaches the threshold.

    A cue does not count after a negation in its clause, nor when it tells of a past event.
    """
    rules = _rules()
    table, threshold = rules.urgency, rules.urgency_threshold
    score = 0.0
    cited: list[Turn] = []
    for turn in turns:
        if not turn.from_caller:
            continue
        text = heard_as_meant(turn.text)
        # Cues are matched with Whisper's spaces removed (没有 井盖); the negation and past
        # checks read the text as said, where a space still ends a clause.
        kept = [i for i, char in enumerate(text) if not char.isspace()]
        joined = "".join(text[i] for i in kept)
        for cue, weight in table.items():
            for match in re.finditer(re.escape(cue), joined):
                start, end = kept[match.start()], kept[match.end() - 1] + 1
                if _negated(text, start, rules) or _in_the_past(text, start, end, rules):
                    continue
                score += weight
                if turn not in cited:
                    cited.append(turn)
                break
    if score >= threshold:
        return Decision("紧急", cited[:3], round(min(0.97, 0.6 + 0.1 * score), 3))
    return Decision("一般", [], round(0.9 - 0.2 * score, 3))


def _answers(text: str, words: tuple[str, ...]) -> bool:
    return text.lstrip("，,。 嗯啊哦").startswith(words)


def find_flags(turns: list[Turn]) -> dict[str, tuple[bool, list[Turn]]]:
    """needs_callback and confidential, only where the call discusses them.

    The caller's answer to the agent's question (需要回复您吗？ 不用不用…) decides the callback
    over any cue word in that same answer (…回电话就算了); later turns may still change it.
    The agent's promise (我们会为您保密) shows the caller asked for confidentiality. The words
    are read with common mis-hearings undone (回覆, 回房); the evidence keeps them as heard.
    """
    heard = [dataclasses.replace(turn, text=heard_as_meant(turn.text)) for turn in turns]
    return {
        name: (value, [turns[t.index] for t in evidence])
        for name, (value, evidence) in _flags(heard).items()
    }


def _flags(turns: list[Turn]) -> dict[str, tuple[bool, list[Turn]]]:
    rules = _rules()
    flags: dict[str, tuple[bool, list[Turn]]] = {}
    previous_answer: tuple[bool, list[Turn]] | None = None
    for turn in turns:
        answer = _callback_answer(turns, turn)
        answered = previous_answer is not None or (turn.speaker is None and answer is not None)
        previous_answer = answer
        if answer is not None:
            flags["needs_callback"] = answer
        if not turn.from_caller:
            if any(p.search(turn.text) for p in rules.secret_promises):
                flags["confidential"] = (True, [turn])
            continue
        cue = None if answered else _callback_cue(turn)
        if cue is not None:
            flags["needs_callback"] = (cue, [turn])
        if any(c in turn.text for c in rules.secret_cues) or any(
            p.search(turn.text) for p in rules.secret_patterns
        ):
            flags["confidential"] = (True, [turn])
    return flags


_NEGATIVE_OFFER = re.compile(r"不(安排|用|需要|必|再)[^。！？?]{0,6}(回复|回电|回访|联系)")


def _callback_cue(turn: Turn) -> bool | None:
    """What a caller's own words say of a callback: 不用回访 (False), 处理完告诉我一声 (True)."""
    callback = _rules().callback
    if any(p.search(turn.text) for p in callback["false"]):
        return False
    if any(p.search(turn.text) for p in callback["true"]):
        return True
    return None


def _callback_answer(turns: list[Turn], turn: Turn) -> tuple[bool, list[Turn]] | None:
    """The caller's answer when ``turn`` asks whether they want a reply; raw text holds both."""
    rules = _rules()
    answers = rules.callback_answers
    for question in rules.callback["question"]:
        match = question.search(turn.text)
        if match is None:
            continue
        # 后面就不安排回访了，可以吗？ -- 可以: agreeing to a question put in the negative.
        start = _sentence_start(turn.text, match.start())
        flip = bool(_NEGATIVE_OFFER.search(turn.text, start, match.end()))
        if turn.speaker is None:
            after = turn.text[match.end() : match.end() + 12].lstrip("您你吗呢？?，, ")
            if after.startswith(answers["answer_no"]):
                return flip, [turn]
            if after.startswith(answers["answer_yes"]):
                return not flip, [turn]
            return None
        nxt = turns[turn.index + 1] if turn.index + 1 < len(turns) else None
        if turn.speaker != "agent" or nxt is None or not nxt.from_caller:
            return None
        if _answers(nxt.text, answers["answer_no"]):
            return flip, [turn, nxt]
        if _answers(nxt.text, answers["answer_yes"]):
            return not flip, [turn, nxt]
        return None
    return None
