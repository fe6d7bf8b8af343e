"""Leave-one-set-out accuracy of appeal type, category and urgency: rules, classifier, combined.

For each labelled set named in ``TUNING_SETS`` (fixtures/transcripts/fields-<name>.jsonl) a
char n-gram classifier is trained on all the OTHER sets and scored on that one; counts are
pooled over the sets. The rules are the current ones, which were tuned on every set (see
docs/benchmarks.md), so the rules' figure here is flattering; the classifier's is not. Sets not
named in ``TUNING_SETS`` (a blind set waiting for its first look) are never read.

    python scripts/eval_fields_cv.py                   # the table, as JSON
    python scripts/eval_fields_cv.py --forward         # the rules' own first-look regime
    python scripts/eval_fields_cv.py --write-examples  # rebuild rules/appeal_examples.txt

``combined`` is what production does: for the appeal type the classifier decides where the
rules' confidence is below ``appeal_model_below`` (rules/cues.yaml); category and urgency are
rules only in production, so their ``combined`` is the experiment of letting the classifier
decide where the rules found no cue at all (category) or were unsure (confidence < --below).

``--forward`` replays how the first-look figures were taken: set A is scored with the rules of
v1 (taken from git) and a classifier trained on dev only, B with v2 and dev+A, and so on, so
neither the rules nor the classifier has seen the set it is scored on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callscribe.summarize.appeal_model import AppealModel, ExampleCall, model_text, train
from callscribe.summarize.classify import (
    Decision,
    classify_appeal,
    classify_appeal_by_rules,
    classify_category,
    classify_urgency,
    find_flags,
    model_input,
)
from callscribe.summarize.dialogue import Turn, turns_of
from callscribe.summarize.evaluate import TUNING_SETS, LabelledCall, load_labelled

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "transcripts"
EXAMPLES = ROOT / "callscribe" / "summarize" / "rules" / "appeal_examples.txt"
FIELDS = ("appeal_type", "category", "urgency")
NO_CUE = 0.31  # the rules' confidence when no cue word was found at all is 0.3


def _label(call: LabelledCall, name: str) -> str | None:
    value = call.labels.get(name)
    return str(value[0] if isinstance(value, list) else value) if value is not None else None


def _ok(call: LabelledCall, name: str, got: str) -> bool:
    expected = call.labels[name]
    return got in expected if isinstance(expected, list) else got == expected


def write_examples(sets: dict[str, list[LabelledCall]]) -> int:
    lines = ["# label<TAB>turns joined by 。 -- written by scripts/eval_fields_cv.py"]
    for calls in sets.values():
        for call in calls:
            label = _label(call, "appeal_type")
            text = model_text([s.text.replace("\t", " ") for s in call.transcript.segments])
            if label is not None:
                lines.append(f"{label}\t{text}")
    EXAMPLES.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def _train(calls: list[LabelledCall], name: str) -> AppealModel:
    return train(
        [
            ExampleCall(label, model_input(turns_of(c.transcript)))
            for c in calls
            if (label := _label(c, name)) is not None
        ]
    )


def _current_rules(turns: list[Turn], models: dict[str, AppealModel]) -> dict[str, Decision]:
    """Rules alone per field, plus the production appeal decision under ``appeal_combined``."""
    urgency = classify_urgency(turns)
    urgent = urgency.value == "紧急"
    secret = find_flags(turns).get("confidential", (False, []))[0]
    return {
        "appeal_type": classify_appeal_by_rules(turns, urgent=urgent, confidential=secret),
        "appeal_combined": classify_appeal(
            turns, urgent=urgent, confidential=secret, model=models["appeal_type"]
        ),
        "category": classify_category(turns),
        "urgency": urgency,
    }


def _combine(name: str, value: str, confidence: float, predicted: str, below: float) -> str:
    cut = {"appeal_type": below, "category": NO_CUE, "urgency": below}[name]
    return predicted if confidence < cut else value


def _tally(
    held_calls: dict[str, list[LabelledCall]],
    models_for: Callable[[str], dict[str, AppealModel]],
    rules_for: Callable[[str, LabelledCall, dict[str, AppealModel]], dict[str, tuple[str, float]]],
    below: float,
) -> dict[str, Any]:
    """Score rules, classifier and combined per field on each held set; pooled and per set."""
    pooled = {f: {"rules": 0, "classifier": 0, "combined": 0, "calls": 0} for f in FIELDS}
    per_set: dict[str, dict[str, str]] = {}
    for held, calls in held_calls.items():
        models = models_for(held)
        counts = {f: {"rules": 0, "classifier": 0, "combined": 0, "calls": 0} for f in FIELDS}
        for call in calls:
            ruled = rules_for(held, call, models)
            text = model_input(turns_of(call.transcript))
            for name in FIELDS:
                if _label(call, name) is None:
                    continue
                value, confidence = ruled[name]
                predicted = models[name].predict(text)[0]
                combined = ruled.get(f"{name}_combined", ("", 0.0))[0] or _combine(
                    name, value, confidence, predicted, below
                )
                tally = counts[name]
                tally["rules"] += _ok(call, name, value)
                tally["classifier"] += _ok(call, name, predicted)
                tally["combined"] += _ok(call, name, combined)
                tally["calls"] += 1
        per_set[held] = {
            f: ", ".join(f"{k} {v}" for k, v in c.items() if k != "calls") + f" of {c['calls']}"
            for f, c in counts.items()
        }
        for name in FIELDS:
            for key, count in counts[name].items():
                pooled[name][key] += count
    return {
        "accuracy": {
            name: {
                k: f"{v}/{c['calls']} = {v / c['calls']:.1%}" for k, v in c.items() if k != "calls"
            }
            for name, c in pooled.items()
        },
        "per_set": per_set,
    }


def leave_one_set_out(sets: dict[str, list[LabelledCall]], below: float) -> dict[str, Any]:
    def models_for(held: str) -> dict[str, AppealModel]:
        others = [c for name, calls in sets.items() if name != held for c in calls]
        return {f: _train(others, f) for f in FIELDS}

    def rules_for(
        held: str, call: LabelledCall, models: dict[str, AppealModel]
    ) -> dict[str, tuple[str, float]]:
        decisions = _current_rules(turns_of(call.transcript), models)
        return {k: (d.value, d.confidence) for k, d in decisions.items()}

    return {"regime": "leave one set out, current rules"} | _tally(
        sets, models_for, rules_for, below
    )


# Each held-out set, the commit of the rules it was written against (docs/benchmarks.md).
FIRST_LOOKS = {
    "heldout": "3ec8407",
    "heldout-b": "a844021",
    "heldout-c": "c70ead5",
    "heldout-d": "2b88c9c",
    "heldout-e": "d965c19",
    "heldout-f": "4e9b908",
}
_DUMP = """
import json, sys
from pathlib import Path
from callscribe.summarize.fields import extract_offline
from callscribe.summarize.evaluate import load_labelled
out = {}
for call in load_labelled(Path(sys.argv[1])):
    got = extract_offline(call.transcript)
    out[call.id] = {f: [getattr(got, f), got.confidence[f]] for f in sys.argv[2:]}
sys.stdout.write(json.dumps(out))
"""


def _old_rules(commit: str, path: Path) -> dict[str, dict[str, list[Any]]]:
    """Values and confidences from the rules of ``commit``, run in a separate interpreter.

    Today's gazetteer.py replaces the old one (old ones need jionlp's data unpacked); it decides
    only addresses, never the three fields measured here.
    """
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "callscribe"],
            check=True,
            capture_output=True,
        ).stdout
        tar_path = Path(tmp) / "rules.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        gazetteer = Path("callscribe", "summarize", "gazetteer.py")
        shutil.copy(ROOT / gazetteer, Path(tmp) / gazetteer)
        env = os.environ | {"PYTHONPATH": tmp}
        done = subprocess.run(
            [sys.executable, "-c", _DUMP, str(path), *FIELDS],
            check=True,
            capture_output=True,
            env=env,
            cwd=tmp,
        )
    result: dict[str, dict[str, list[Any]]] = json.loads(done.stdout)
    return result


def forward(sets: dict[str, list[LabelledCall]], below: float) -> dict[str, Any]:
    written_before = {held: ["dev", *list(FIRST_LOOKS)[:i]] for i, held in enumerate(FIRST_LOOKS)}
    dumps = {h: _old_rules(c, FIXTURES / f"fields-{h}.jsonl") for h, c in FIRST_LOOKS.items()}

    def models_for(held: str) -> dict[str, AppealModel]:
        seen = [c for name in written_before[held] for c in sets[name]]
        return {f: _train(seen, f) for f in FIELDS}

    def rules_for(
        held: str, call: LabelledCall, models: dict[str, AppealModel]
    ) -> dict[str, tuple[str, float]]:
        return {f: (str(v), float(c)) for f, (v, c) in dumps[held][call.id].items()}

    held_calls = {held: sets[held] for held in FIRST_LOOKS}
    return {"regime": "first look, rules of FIRST_LOOKS"} | _tally(
        held_calls, models_for, rules_for, below
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-examples", action="store_true")
    parser.add_argument("--forward", action="store_true")
    parser.add_argument("--below", type=float, default=0.6, help="confidence cut-off")
    args = parser.parse_args()
    sets = {name: load_labelled(FIXTURES / f"fields-{name}.jsonl") for name in TUNING_SETS}
    if args.write_examples:
        sys.stdout.write(f"{write_examples(sets)} examples -> {EXAMPLES}\n")
        return 0
    result = forward(sets, args.below) if args.forward else leave_one_set_out(sets, args.below)
    sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
