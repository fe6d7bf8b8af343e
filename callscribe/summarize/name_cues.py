"""What one caller turn says about the caller's name, read from its cues.

我叫赵建国 and 我姓钱, the bare answer to 您贵姓 (张伟。/ 林，双木林), a surname explained
(木子李) or spelt character by character (郑州的郑，伟大的伟), an honorific (叫我老柴就行，
柴先生): :func:`said_name` reads them from one turn, with jieba bounding a full name said
without punctuation. Deciding across the call (a decline, a strong surname over a weak one, the
gender, what the agent calls the caller) is :mod:`callscribe.summarize.names`; this module
holds the per-turn reading and the name rules both use, so that each stays a readable size.
Misheard cues (我心前 for 我姓钱, 我交 for 我叫) are matched by sound in
:mod:`callscribe.summarize.name_sounds`; a given name misheard is respelt by the caller's own
glosses of its characters (:func:`callscribe.summarize.name_glosses.respelt_by_glosses`).
"""

from __future__ import annotations

import functools
import logging
import re
from importlib import resources

from callscribe.summarize.dialogue import Turn
from callscribe.summarize.gazetteer import gazetteer
from callscribe.summarize.name_sounds import (
    NameRules,
    asks_surname,
    gloss_surname,
    heard_honorific,
    homophone_surname,
    is_courtesy,
    misheard_cue_ends,
    name_rules,
    sounds,
)

__all__ = [
    "NameRules",
    "asked_name",
    "asks_name",
    "name_rules",
    "said_name",
    "said_of_another",
    "segmenter",
    "surname_at",
]

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+(?=$|[，。！？、,.!?\s])")
"""A name said alone up to punctuation ("我叫冷静怡。") needs no word boundaries."""

_CLOSERS = "，,。.、；;！!？? "
"""Marks that end a name said on its own; what follows is a gloss (王建军，三横王…)."""

_GLOSS = re.compile(r"[\u4e00-\u9fff]{1,3}的(?P<ch>[\u4e00-\u9fff])")
"""A character explained by a word it appears in: 石头的石, 美丽的丽."""

_PLACE_FREQ = 2000
"""jieba word frequency given to place names: high enough to win over a name's HMM guess."""


def surname_at(text: str, pos: int) -> str | None:
    """The surname starting at ``pos`` (a compound one such as 欧阳 first), or None."""
    rules = name_rules()
    for compound in rules.compound:
        if text.startswith(compound, pos):
            return compound
    if pos < len(text) and text[pos] in rules.surnames:
        return text[pos]
    return None


@functools.cache
def segmenter() -> object:
    """jieba with our user dictionary: hotline words and every Beijing place name, so that a
    name said right before a place ("马丽上地西里") ends where the place begins."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    userdict = resources.files("callscribe.summarize").joinpath("rules", "userdict.txt")
    with resources.as_file(userdict) as path:
        jieba.load_userdict(str(path))
    for key in gazetteer().keys:
        jieba.add_word(key, freq=_PLACE_FREQ)
    return jieba


def _full_name_at(text: str, pos: int) -> str | None:
    """A 2-4 character name starting at ``pos``, bounded by jieba's words and stop characters."""
    surname = surname_at(text, pos)
    if surname is None:
        return None
    rules = name_rules()
    rest = text[pos:]
    whole = _CJK_RUN.match(rest)
    if whole and len(surname) + 1 <= len(whole.group()) <= len(surname) + 2:
        said = whole.group()
        if not any(ch in rules.stops for ch in said[len(surname) :]):
            heard = is_courtesy(said) or heard_honorific(said, len(surname))
            return None if heard else said
    words: list[str] = segmenter().lcut(rest[:8])  # type: ignore[attr-defined]
    name = ""
    for word in words:
        if not name:
            name = word
        elif len(name) == len(surname) and len(name + word) <= len(surname) + 2:
            name += word
        else:
            break
        if len(name) >= len(surname) + 1 and not name.startswith(surname):
            return None
    if not name.startswith(surname) or len(name) > len(surname) + 2:
        name = surname + "".join(
            ch for ch in rest[len(surname) : len(surname) + 2] if "\u4e00" <= ch <= "\u9fff"
        )
    while len(name) > len(surname) + 1 and name[-1] in rules.stops:
        name = name[:-1]
    if len(name) == len(surname) + 2 and rest[len(name) : len(name) + 2].endswith(surname):
        # 冯丽二马冯: the gloss 二马冯 (冯 = 二 + 马) began inside the three characters.
        name = name[:-1]
    return name if _could_be_name(name, surname) else None


def _could_be_name(name: str, surname: str) -> bool:
    """Not a stop word after the surname, a courtesy word (谢谢) or a heard honorific (孙女事)."""
    rules = name_rules()
    given = name[len(surname) :]
    if not given or any(ch in rules.stops for ch in given[:1]) or is_courtesy(name):
        return False
    if heard_honorific(name, len(surname)):
        return False
    return not any(h in name for h in rules.honorifics) and bool(
        re.fullmatch(r"[\u4e00-\u9fff]+", name)
    )


def asked_name(turns: list[Turn], turn: Turn) -> bool:
    """Whether ``turn`` answers the agent asking for the name in the turn before."""
    if turn.index == 0:
        return False
    before = turns[turn.index - 1]
    return before.speaker == "agent" and asks_name(before.text)


def asks_name(text: str) -> bool:
    """Whether ``text`` asks for the name: 贵姓, 称呼… (贵姓 also misheard, 贵信)."""
    return any(q in text for q in name_rules().questions) or asks_surname(text)


def said_of_another(text: str, at: int) -> bool:
    """一个姓张的, 那位女的: the word at ``at`` is about someone counted (个, 位), not the
    caller."""
    return text[max(0, at - 1) : at] in ("个", "位")


def _someone_else(text: str, start: int, end: int) -> bool:
    """姓张的小姑娘, 一个姓张的: a third party's surname, not the caller's."""
    return text[end : end + 1] == "的" or said_of_another(text, start)


def said_name(turns: list[Turn], turn: Turn) -> tuple[str | None, str | None, bool]:
    """(full name, surname, strong) said in one caller turn.

    ``strong`` marks a surname the caller gave as their own (我姓…, 免贵姓…, or the answer to
    the agent's question); a bare 姓 may be a third party's (社保所的小姑娘，姓崔) and gives
    way to a strong one said later.
    """
    text = turn.text
    asked = asked_name(turns, turn)
    answer: tuple[str | None, str | None] = (None, None)
    if asked:
        answer = _bare_answer(text.lstrip("，,。 嗯啊哦喂"))
        if answer[0]:
            return answer[0], None, True
        full = _full_name_clause(text, answer[1]) if answer[1] else None
        if full:
            return full, None, True
    if turn.speaker is None:
        raw = _raw_answer(text)
        if raw:
            return raw, None, True
    cued = _cued_name(text, asked)
    if cued[1]:
        full = _full_name_clause(text, cued[1])
        if full:
            return full, None, cued[2]
    spelled = _spelled_name(text) if asked and not cued[0] else None
    if spelled and spelled.startswith(cued[1] or spelled[0]):
        return spelled, None, True
    if cued[0] or cued[1]:
        return cued
    if asked:
        return None, answer[1] or _addressed_as(text), True
    return _name_before_number(text), None, False


_NUMBER_NEXT = re.compile(r"(?:电话|手机|号码|联系方式)?[，,：: ]*[0-9零一幺二三四五六七八九]{3}")


def _name_before_number(text: str) -> str | None:
    """A name said as a clause of its own right before the number or a gloss of one of its
    characters (留吧，柏宏伟，电话幺五八… / 宁丽，安宁的宁，…): a weak reading, kept only when
    no cue gives the name; never a place or a dictionary word."""
    for match in re.finditer(
        f"(?:^|[{re.escape(_CLOSERS)}])([\u4e00-\u9fff]{{2,3}})(?=[{re.escape(_CLOSERS)}])", text
    ):
        clause = match.group(1)
        after = text[match.end(1) + 1 :]
        gloss = _SELF_GLOSS.match(after)
        glossed = (
            gloss is not None
            and gloss.group("ch") in clause
            and gloss.group("ch") in gloss.group("word")
        )
        if not (glossed or _NUMBER_NEXT.match(after)):
            continue
        if _full_name_at(clause, 0) != clause or clause in gazetteer().keys:
            continue
        if segmenter().dt.FREQ.get(clause, 0) > 0:  # type: ignore[attr-defined]
            continue
        return clause
    return None


def _cued_name(text: str, asked: bool) -> tuple[str | None, str | None, bool]:
    """What the cue words give: 我叫赵建国, 我姓钱, 木子李 (see :func:`said_name`)."""
    rules = name_rules()
    full_cued = _full_cued(text, asked)
    if full_cued is not None:
        return full_cued
    for cue in rules.surname_cues:
        for match in re.finditer(re.escape(cue), text):
            at = match.end()
            while text[at : at + 1].isspace():  # raw text: 我姓 罗 罗马的罗
                at += 1
            surname = surname_at(text, at)
            if surname and not _someone_else(text, match.start(), at + len(surname)):
                return None, surname, cue != "姓" or asked
    for pos in misheard_cue_ends(text):
        surname = _heard_surname(text, pos)
        if surname:
            return None, surname, True
    for explanation in rules.explanations:
        at = text.find(explanation)
        if at >= 0:
            surname = surname_at(text, at + len(explanation))
            if surname:
                return None, surname, asked
    gloss = gloss_surname(text)
    if gloss is not None:
        return None, gloss[0], asked
    return None, None, False


def _full_cued(text: str, asked: bool) -> tuple[str | None, str | None, bool] | None:
    """我叫赵建国; 我叫樊，樊女士 (the surname alone before a pause, a strong surname)."""
    misheard = _misheard_full_cue(text)
    if misheard is not None:
        return misheard, None, True
    for match in _SELF_ROLE.finditer(text):
        name = _full_name_at(text, match.end())
        if name and _said_alone(text, match.end(), name, shortest=2):
            return name, None, True
    for cue in name_rules().full_cues:
        for match in re.finditer(re.escape(cue), text):
            name = _full_name_at(text, match.end())
            alone = name is not None and _said_alone(text, match.end(), name)
            if name and (cue != "我是" or asked or alone):
                return name, None, asked or cue.startswith(("我", "名字", "姓名"))
            if cue.startswith(("我叫", "俺叫")):
                surname = surname_at(text, match.end())
                after = text[match.end() + len(surname or "") :][:1]
                if surname and after and after in _CLOSERS:
                    return None, surname, True
    return None


_SELF_ROLE = re.compile(
    r"我是[^，。,.!?！？；;]{0,14}?"
    r"(?:(?:住户|村民|家长|楼长|业主|居民|老师|职工|司机)叫?|叫)(?=[\u4e00-\u9fff])"
)
"""我是育才中学一个学生家长叫孟川, 我是丰收苑八号楼的住户左秀英: the caller's role, then the
name."""


def _said_alone(text: str, start: int, name: str, shortest: int = 3) -> bool:
    """A full name of ``shortest`` to 3 characters ending at a pause, neither a place nor a
    dictionary word: 我是左秀英，… names the caller where 我是北京人 or 我是王府井的 does not."""
    end = start + len(name)
    freq: dict[str, int] = segmenter().dt.FREQ  # type: ignore[attr-defined]
    return (
        shortest <= len(name) <= 3
        and text[end : end + 1] in tuple(_CLOSERS)
        and name not in gazetteer().keys
        and freq.get(name, 0) == 0
    )


def _full_name_clause(text: str, surname: str) -> str | None:
    """The full name said as a clause of its own after the surname (我姓陈，耳东陈，陈晓雯，…)."""
    for clause in re.split(f"[{re.escape(_CLOSERS)}\\s]+", text):
        if (
            clause.startswith(surname)
            and len(surname) < len(clause) <= len(surname) + 2
            and _full_name_at(clause, 0) == clause
        ):
            return clause
    return None


def _raw_answer(text: str) -> str | None:
    """A full name right after the agent's question in unsegmented text, when a gloss of its
    first character follows it (您贵姓石磊石头的石…, 怎么称呼白雪白色的白…)."""
    for question in name_rules().questions:
        for match in re.finditer(re.escape(question), text):
            pos = match.end()
            while pos < len(text) and text[pos] in "呢啊呀？?，, ":
                pos += 1
            name = _full_name_at(text, pos)
            if not name:
                continue
            gloss = _GLOSS.search(text, pos + len(name), pos + len(name) + 8)
            if gloss and gloss.group("ch") == name[0]:
                return name
    return None


def _addressed_as(text: str) -> str | None:
    """叫我老柴就行，柴先生: the surname in front of an honorific, or after 老/小."""
    for pos in range(len(text)):
        surname = surname_at(text, pos)
        if surname is None:
            continue
        after = text[pos + len(surname) :]
        if any(after.startswith(h) for h in name_rules().honorifics if name_rules().honorifics[h]):
            return surname
        if heard_honorific(text, pos + len(surname)) and not is_courtesy(text[pos:]):
            return surname
        if text[pos - 1 : pos] in ("老", "小") and text[pos - 3 : pos - 1] == "叫我":
            return surname
    return None


def _bare_answer(head: str) -> tuple[str | None, str | None]:
    """The reply to "您贵姓？": 张伟。 / 林，双木林 / 王先生 / 孙孙建华 (the surname stuttered)."""
    stutter = len(head) > 2 and head[0] == head[1] and not is_courtesy(head)
    if stutter and surname_at(head, 0) == head[0]:
        head = head[1:]
    name = _full_name_at(head, 0)
    if name and _common_word(name) and not _SELF_GLOSS.search(head):
        name = None  # 方便，女是: a word heard for 姓方，方女士, not a name
    if name and (len(head) <= len(name) + 2 or head[len(name) : len(name) + 1] in _CLOSERS):
        return name, None
    surname = surname_at(head, 0) or _repeated_surname(head)
    if surname is None or is_courtesy(head):
        return None, None
    after = head[len(surname) : len(surname) + 1]
    if not after or not "\u4e00" <= after <= "\u9fff":
        return None, surname
    if any(head.startswith(surname + h) for h in name_rules().honorifics):
        return None, surname
    return None, None


_COMMON_WORD_FREQ = 500
"""jieba frequency from which a two-character answer is an ordinary word (方便), not a name."""


def _common_word(name: str) -> bool:
    freq: dict[str, int] = segmenter().dt.FREQ  # type: ignore[attr-defined]
    return freq.get(name, 0) >= _COMMON_WORD_FREQ


def _misheard_full_cue(text: str) -> str | None:
    """我交章明华，弓长章: 我叫 heard as 我交, a surname heard by sound, and a gloss that spells
    the surname it sounds like: the gloss's surname and the characters after it."""
    gloss = gloss_surname(text)
    if gloss is None:
        return None
    for at in range(len(text) - 4):
        if text[at] != "我" or text[at + 1] == "叫" or "jiao" not in sounds(text[at + 1]):
            continue
        said = _CJK_RUN.match(text, at + 2)
        if said is None or len(said.group()) not in (2, 3) or at + 2 >= gloss[1]:
            continue
        if sounds(said.group()[0]) & sounds(gloss[0]):
            return gloss[0] + said.group()[1:]
    return None


def _repeated_surname(head: str) -> str | None:
    """湖，湖先生: a character that is no surname, said again before an honorific, is the
    surname it sounds like (胡)."""
    if not head:
        return None
    for at in range(1, min(len(head) - 1, 4)):
        if head[at] == head[0] and heard_honorific(head, at + 1):
            return homophone_surname(head[0])
    return None


def _heard_surname(text: str, pos: int) -> str | None:
    """The surname after a misheard 我姓 (我心前，前先生): one from the list, or a character
    that sounds like one when the caller repeats it before an honorific in the same turn."""
    surname = surname_at(text, pos)
    if surname and not is_courtesy(text[pos:]):
        return surname
    if pos >= len(text):
        return None
    heard = text[pos]
    for at in range(pos + 1, len(text) - 1):
        if text[at] == heard and heard_honorific(text, at + 1):
            return homophone_surname(heard)
    return None


_SELF_GLOSS = re.compile(r"(?P<word>[\u4e00-\u9fff]{2,3}?)的(?P<ch>[\u4e00-\u9fff])")


def _spelled_name(text: str) -> str | None:
    """A name spelt character by character (郑州的郑，伟大的伟): the whole name when the word
    before each 的 holds the character after it and the first character is a surname."""
    chars: list[str] = []
    end = -1
    for match in _SELF_GLOSS.finditer(text):
        if match.group("ch") not in match.group("word"):
            continue
        if chars and text[end : match.start()].strip(_CLOSERS):
            break
        chars.append(match.group("ch"))
        end = match.end()
    name = "".join(chars)
    if 2 <= len(name) <= 3 and surname_at(name, 0) and not is_courtesy(name):
        return name
    return None
