"""Leave-one-batch-out accuracy of appeal_type, category and urgency: rules, classifiers, mixes.

Groups: the citizens' batches fixtures/corpus/batch-i1 .. i5 and i7 (when present) and each
old engineered set named in ``TUNING_SETS`` (fixtures/transcripts/fields-<name>.jsonl). Each
group is held out in turn and every model is trained on all the others. Batch I6 is the blind
batch: it is named nowhere here and never read.

    python scripts/classifier_cv.py                     # the table (text); --json for JSON
    python scripts/classifier_cv.py --write-examples    # rebuild rules/classifier_examples.jsonl
    python scripts/classifier_cv.py --calibration       # out-of-fold reliability of the default
    python scripts/classifier_cv.py --urgency           # urgency: rules, SVM, rules-or-SVM

Urgency (--urgency) compares the cue rules (classify_urgency_by_rules), the SVM alone with its
decision value for 紧急 compared with 0 ('svm') or a lower bar ('svm_t<θ>'; the default is
classifier_urgent_above in rules/cues.yaml) and 紧急 where the rules say so or the SVM's value
is over θ ('or_t<θ>'), with 紧急 recall (R) and precision (P). The main table and
--calibration give the default's urgency figures with the other fields.

Methods compared (per field):
  rules      the cue rules alone (classify_appeal_by_rules with the urgency and confidentiality
             flags, classify_category_by_rules), as the extraction made them before the
             classifier became the default (which then also asked a small classifier trained
             on the old sets where the appeal rules were unsure; that one is gone); the cue
             tables were tuned on the old sets, so the rules' figure there is flattering.
  tfidf      char 1-3-gram TF-IDF + linear SVM on every turn's words, the agent's included;
             the default in classify.py.
  tfidf_caller  the same on the caller's and unknown speakers' turns only.
  tfidf_ask  tfidf with the opening and the sentences that state the ask given twice.
  hgb        HistGradientBoostingClassifier over the cue rules' per-class scores.
  tfidf_cues tfidf with the cue rules' per-class scores as extra features (x0.5; x0.1 for
             tfidf_cues01).
  tfidf_c0.5, tfidf_c2  tfidf with the SVM's C at 0.5 and 2 (1 is the default).
  explicit   tfidf, but 我要举报 / 我要投诉 / 我要表扬 in the caller's words decide the appeal type.
  fallback   tfidf, but the rules decide where the classifier's margin is below 0.15.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from callscribe.summarize.case_model import (
    EXAMPLES_PATH,
    FIELDS,
    CaseExample,
    CaseModel,
    FieldModel,
    emphasise_ask,
    model_text,
    train_field,
    urgent_above,
)
from callscribe.summarize.classify import (
    classify_appeal_by_rules,
    classify_category_by_rules,
    classify_urgency_by_rules,
    find_flags,
)
from callscribe.summarize.dialogue import Turn, turns_of
from callscribe.summarize.evaluate import TUNING_SETS, LabelledCall, load_labelled

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fixtures" / "corpus"
TRANSCRIPTS = ROOT / "fixtures" / "transcripts"
# Named, never globbed: batch-i6 is the blind batch and must not be read.
BATCHES = ("i1", "i2", "i3", "i4", "i5", "i7")
FALLBACK_BELOW = 0.15  # the classifier's margin under which the rules decide in 'fallback'
BINS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.9), (0.9, 1.01))


@dataclass
class Row:
    group: str
    call: LabelledCall
    example: CaseExample
    caller_text: str
    rules: dict[str, str]


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def groups() -> dict[str, list[LabelledCall]]:
    """The labelled groups by name, corpus batches first; I6 is never among them."""
    out: dict[str, list[LabelledCall]] = {}
    for batch in BATCHES:
        path = CORPUS / f"batch-{batch}.jsonl"
        if path.is_file():
            out[batch] = load_labelled(path)
    for name in TUNING_SETS:
        out[name] = load_labelled(TRANSCRIPTS / f"fields-{name}.jsonl")
    return out


def _first(value: Any) -> str:
    return str(value[0] if isinstance(value, list) else value)


def _ok(call: LabelledCall, name: str, got: str) -> bool:
    expected = call.labels[name]
    return got in expected if isinstance(expected, list) else got == expected


def rows(sets: dict[str, list[LabelledCall]], *, with_rules: bool = True) -> list[Row]:
    out = []
    for group, calls in sets.items():
        for call in calls:
            turns = turns_of(call.transcript)
            labels = {f: _first(call.labels[f]) for f in FIELDS}
            example = CaseExample.from_turns(turns, labels)
            rules: dict[str, str] = {}
            if with_rules:
                rules = cue_rules(turns)
            caller_text = model_text(turns, caller_only=True)
            out.append(Row(group, call, example, caller_text, rules))
    return out


def cue_rules(turns: list[Turn]) -> dict[str, str]:
    """The cue rules' decisions, as the shipped extraction makes them without the classifier."""
    urgency = classify_urgency_by_rules(turns).value
    secret = find_flags(turns).get("confidential", (False, []))[0]
    appeal = classify_appeal_by_rules(turns, urgent=urgency == "紧急", confidential=secret)
    return {
        "appeal_type": appeal.value,
        "category": classify_category_by_rules(turns).value,
        "urgency": urgency,
    }


def write_examples(data: list[Row]) -> int:
    lines = [
        json.dumps(
            {"group": r.group, "id": r.call.id, **r.example.to_json()},
            ensure_ascii=False,
        )
        for r in data
    ]
    EXAMPLES_PATH.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


Method = Callable[[list[Row], list[Row], str], list[tuple[str, float]]]


def _fit_predict(
    train: list[Row],
    test: list[Row],
    name: str,
    *,
    text: Callable[[Row], str] = lambda r: r.example.text,
    cues: bool = False,
) -> tuple[FieldModel, list[tuple[str, float]]]:
    model = train_field(
        [text(r) for r in train],
        [r.example.cues for r in train] if cues else None,
        [r.example.labels[name] for r in train],
        above=urgent_above() if name == "urgency" else 0.0,
    )
    return model, [model.predict_raw(text(r), r.example.cues if cues else None) for r in test]


def m_rules(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
    return [(r.rules[name], 0.0) for r in test]


def m_tfidf(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
    return _fit_predict(train, test, name)[1]


def m_tfidf_caller(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
    return _fit_predict(train, test, name, text=lambda r: r.caller_text)[1]


def m_tfidf_ask(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
    return _fit_predict(train, test, name, text=lambda r: emphasise_ask(r.example.text))[1]


def m_tfidf_cues(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
    return _fit_predict(train, test, name, cues=True)[1]


def m_tfidf_cues01(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
    model = train_field(
        [r.example.text for r in train],
        [r.example.cues for r in train],
        [r.example.labels[name] for r in train],
        cue_weight=0.1,
    )
    return [model.predict_raw(r.example.text, r.example.cues) for r in test]


def _m_tfidf_c(c: float) -> Method:
    def method(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
        model = train_field(
            [r.example.text for r in train], None, [r.example.labels[name] for r in train], c=c
        )
        return [model.predict_raw(r.example.text) for r in test]

    return method


_EXPLICIT = {"我要举报": "举报", "我要投诉": "投诉", "我要表扬": "表扬", "我想表扬": "表扬"}


def m_explicit(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
    """tfidf, but an explicit 我要举报/我要投诉/我要表扬 decides the appeal type."""
    predicted = _fit_predict(train, test, name)[1]
    if name != "appeal_type":
        return predicted
    out = []
    for r, (value, margin) in zip(test, predicted, strict=True):
        said = [label for cue, label in _EXPLICIT.items() if cue in r.example.text]
        out.append((said[0], margin) if said else (value, margin))
    return out


def m_hgb(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.array([r.example.cues for r in train])
    model = HistGradientBoostingClassifier(
        max_iter=50, learning_rate=0.2, max_leaf_nodes=15, random_state=0
    )
    model.fit(x, [r.example.labels[name] for r in train])
    probabilities = model.predict_proba(np.array([r.example.cues for r in test]))
    return [(str(model.classes_[int(p.argmax())]), float(p.max())) for p in probabilities]


def m_fallback(train: list[Row], test: list[Row], name: str) -> list[tuple[str, float]]:
    predicted = _fit_predict(train, test, name)[1]
    return [
        (r.rules[name], p) if p < FALLBACK_BELOW else (v, p)
        for r, (v, p) in zip(test, predicted, strict=True)
    ]


METHODS: dict[str, Method] = {
    "rules": m_rules,
    "tfidf": m_tfidf,
    "tfidf_caller": m_tfidf_caller,
    "tfidf_ask": m_tfidf_ask,
    "hgb": m_hgb,
    "tfidf_c0.5": _m_tfidf_c(0.5),
    "tfidf_c2": _m_tfidf_c(2.0),
    "explicit": m_explicit,
    "tfidf_cues": m_tfidf_cues,
    "tfidf_cues01": m_tfidf_cues01,
    "fallback": m_fallback,
}


def cross_validate(data: list[Row], methods: list[str]) -> dict[str, Any]:
    """Right counts per held-out group, field and method; out-of-fold predictions too."""
    names = list(dict.fromkeys(r.group for r in data))
    table: dict[str, dict[str, dict[str, int]]] = {}
    oof: dict[str, dict[str, list[tuple[str, float, bool]]]] = {}
    for held in names:
        train = [r for r in data if r.group != held]
        test = [r for r in data if r.group == held]
        table[held] = {"calls": {"n": len(test)}}
        for name in FIELDS:
            counts = table[held].setdefault(name, {})
            for method in methods:
                predicted = METHODS[method](train, test, name)
                right = [_ok(r.call, name, v) for r, (v, _) in zip(test, predicted, strict=True)]
                counts[method] = sum(right)
                oof.setdefault(method, {}).setdefault(name, []).extend(
                    (v, p, ok) for (v, p), ok in zip(predicted, right, strict=True)
                )
        sys.stderr.write(f"  {held}: done\n")
    return {"table": table, "oof": oof}


def reliability(
    triples: list[tuple[str, float, bool]], confidence: Callable[[float], float]
) -> list[str]:
    lines = []
    for low, high in BINS:
        inside = [ok for _, p, ok in triples if low <= confidence(p) < high]
        if inside:
            share = sum(inside) / len(inside)
            lines.append(f"[{low:.1f},{min(high, 1.0):.1f}) {len(inside):4d} right {share:6.1%}")
    return lines


def calibration(triples: list[tuple[str, float, bool]], name: str) -> list[str]:
    """Out-of-fold accuracy by margin, an isotonic fit, and the packaged table's reliability."""
    from sklearn.isotonic import IsotonicRegression

    margins = np.array([p for _, p, _ in triples])
    right = np.array([ok for _, _, ok in triples], dtype=float)
    lines = []
    edges = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.3, 99.0]
    for low, high in zip(edges, edges[1:], strict=False):
        inside = right[(margins >= low) & (margins < high)]
        if len(inside):
            lines.append(
                f"  margin [{low:.1f},{high:.1f}) {len(inside):4d} right {inside.mean():6.1%}"
            )
    fit = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(margins, right)
    points = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.3, 1.6]
    lines.append("  isotonic: " + ", ".join(f"{x}: {fit.predict([x])[0]:.3f}" for x in points))
    lines.append("  packaged table:")
    lines += ["    " + line for line in reliability(triples, CaseModel.calibrate_for(name))]
    return lines


URGENT = "紧急"
# Decision values of the urgency SVM (positive: 紧急) above which 'or_t<θ>' calls a call 紧急
# even where the rules do not.
OR_THRESHOLDS = (-0.3, -0.1, 0.0, 0.2)
# The same for 'svm_t<θ>', the SVM alone.
SVM_THRESHOLDS = (-0.4, -0.3, -0.2, -0.1)
# 'rescue_t<θ>': the SVM over classifier_urgent_above, or the rules' 紧急 with the SVM over θ.
RESCUE_THRESHOLDS = (-0.5, -0.6, -0.8)


@dataclass
class UrgencyRow:
    group: str
    call: LabelledCall
    text: str
    label: str
    rules: str


def urgency_rows(sets: dict[str, list[LabelledCall]]) -> list[UrgencyRow]:
    out = []
    for group, calls in sets.items():
        for call in calls:
            turns = turns_of(call.transcript)
            out.append(
                UrgencyRow(
                    group,
                    call,
                    model_text(turns),
                    _first(call.labels["urgency"]),
                    classify_urgency_by_rules(turns).value,
                )
            )
    return out


def _urgency_methods() -> list[str]:
    return [
        "rules",
        "svm",
        *(f"svm_t{t:+.1f}" for t in SVM_THRESHOLDS),
        *(f"or_t{t:+.1f}" for t in OR_THRESHOLDS),
        *(f"rescue_t{t:+.1f}" for t in RESCUE_THRESHOLDS),
    ]


def urgency_cv(data: list[UrgencyRow]) -> dict[str, Any]:
    """Leave one group out for urgency: per group and method the predictions' counts.

    Returns per group and method (tp, fp, fn, right, n), and the out-of-fold (rules' value,
    the SVM's signed decision value, the label) of every call.
    """
    names = list(dict.fromkeys(r.group for r in data))
    table: dict[str, dict[str, list[int]]] = {}
    oof: list[tuple[UrgencyRow, float]] = []
    for held in names:
        train = [r for r in data if r.group != held]
        test = [r for r in data if r.group == held]
        model = train_field([r.text for r in train], None, [r.label for r in train])
        signed = []
        for r in test:
            value, margin = model.predict_raw(r.text)
            signed.append(margin / 2 if value == URGENT else -margin / 2)
        oof += list(zip(test, signed, strict=True))
        table[held] = {}
        for method in _urgency_methods():
            got = [_urgency_by(method, r.rules, d) for r, d in zip(test, signed, strict=True)]
            table[held][method] = _urgency_counts(test, got)
        sys.stderr.write(f"  {held}: done\n")
    return {"table": table, "oof": oof}


def _urgency_by(method: str, rules: str, signed: float) -> str:
    if method == "rules":
        return rules
    if method == "svm":
        return URGENT if signed > 0 else "一般"
    if method.startswith("svm_t"):
        return URGENT if signed > float(method.removeprefix("svm_t")) else "一般"
    if method.startswith("rescue_t"):
        low = float(method.removeprefix("rescue_t"))
        rescued = rules == URGENT and signed > low
        return URGENT if signed > urgent_above() or rescued else "一般"
    threshold = float(method.removeprefix("or_t"))
    return URGENT if rules == URGENT or signed > threshold else "一般"


def _urgency_counts(test: list[UrgencyRow], got: list[str]) -> list[int]:
    tp = sum(1 for r, g in zip(test, got, strict=True) if g == URGENT and r.label == URGENT)
    fp = sum(1 for r, g in zip(test, got, strict=True) if g == URGENT and r.label != URGENT)
    fn = sum(1 for r, g in zip(test, got, strict=True) if g != URGENT and r.label == URGENT)
    right = sum(_ok(r.call, "urgency", g) for r, g in zip(test, got, strict=True))
    return [tp, fp, fn, right, len(test)]


def _urgency_cell(c: list[int]) -> str:
    tp, fp, fn, right, n = c
    recall = tp / (tp + fn) if tp + fn else 1.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    return f"{right / n:.1%} R{recall:.0%} P{precision:.0%}"


def format_urgency(result: dict[str, Any], corpus: list[str]) -> list[str]:
    methods = _urgency_methods()
    lines = ["## urgency (accuracy, 紧急 recall R and precision P)"]
    lines.append("| held out | n | " + " | ".join(methods) + " |")
    lines.append("| --- | ---: | " + " | ".join("---:" for _ in methods) + " |")
    pooled: dict[str, dict[str, list[int]]] = {}
    for held, entry in result["table"].items():
        part = "corpus" if held in corpus else "old sets"
        for m in methods:
            for key in (part, "all"):
                sums = pooled.setdefault(key, {}).setdefault(m, [0] * 5)
                pooled[key][m] = [a + b for a, b in zip(sums, entry[m], strict=True)]
        if part == "corpus":
            n = entry[methods[0]][4]
            lines.append(
                f"| {held} | {n} | " + " | ".join(_urgency_cell(entry[m]) for m in methods) + " |"
            )
    for part in ("old sets", "corpus", "all"):
        if part in pooled:
            n = pooled[part][methods[0]][4]
            cells = " | ".join(_urgency_cell(pooled[part][m]) for m in methods)
            lines.append(f"| {part} | {n} | {cells} |")
    return lines


def format_table(result: dict[str, Any], methods: list[str], corpus: list[str]) -> list[str]:
    table = result["table"]
    lines = []
    for name in FIELDS:
        lines.append(f"## {name}")
        lines.append("| held out | n | " + " | ".join(methods) + " |")
        lines.append("| --- | ---: | " + " | ".join("---:" for _ in methods) + " |")
        pooled = {"corpus": dict.fromkeys(methods, 0), "old sets": dict.fromkeys(methods, 0)}
        size = {"corpus": 0, "old sets": 0}
        for held, entry in table.items():
            n = entry["calls"]["n"]
            part = "corpus" if held in corpus else "old sets"
            size[part] += n
            for m in methods:
                pooled[part][m] += entry[name][m]
            if part == "corpus":
                cells = " | ".join(f"{entry[name][m] / n:.1%}" for m in methods)
                lines.append(f"| {held} | {n} | {cells} |")
        for part in ("old sets", "corpus"):
            n = size[part]
            if n:
                cells = " | ".join(f"{pooled[part][m] / n:.1%}" for m in methods)
                lines.append(f"| {part} (pooled) | {n} | {cells} |")
        total = size["corpus"] + size["old sets"]
        cells = " | ".join(
            f"{(pooled['corpus'][m] + pooled['old sets'][m]) / total:.1%}" for m in methods
        )
        lines.append(f"| **all** | {total} | {cells} |")
        lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write-examples", action="store_true")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--calibration", action="store_true")
    parser.add_argument("--urgency", action="store_true", help="the urgency figures instead")
    args = parser.parse_args()
    sets = groups()
    if args.urgency:
        result = urgency_cv(urgency_rows(sets))
        _say("\n".join(format_urgency(result, [b for b in BATCHES if b in sets])))
        return 0
    if args.write_examples:
        count = write_examples(rows(sets, with_rules=False))
        _say(f"wrote {count} examples to {EXAMPLES_PATH.relative_to(ROOT)}")
        return 0
    methods = [m for m in args.methods.split(",") if m]
    started = time.perf_counter()
    data = rows(sets, with_rules="rules" in methods or "fallback" in methods)
    sys.stderr.write(f"features in {time.perf_counter() - started:.1f} s\n")
    result = cross_validate(data, methods)
    corpus = [b for b in BATCHES if b in sets]
    if args.json:
        _say(json.dumps(result["table"], ensure_ascii=False, indent=1))
    else:
        _say("\n".join(format_table(result, methods, corpus)))
    if args.calibration:
        for method in methods:
            if method in ("rules", "hgb", "fallback"):
                continue
            for name in FIELDS:
                _say(f"\n{method} {name}:")
                _say("\n".join(calibration(result["oof"][method][name], name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
