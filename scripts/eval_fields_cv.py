"""Leave-one-set-out accuracy of the appeal type: rules alone, classifier alone, combined.

For each labelled file in fixtures/transcripts/fields-*.jsonl the appeal classifier is trained
on all the OTHER files and scored on that one; counts are pooled over the files. The rules are
the current ones, which were tuned on every set except F (see docs/benchmarks.md), so their
figure here is flattering; the classifier's is not.

    python scripts/eval_fields_cv.py                   # the table, as JSON
    python scripts/eval_fields_cv.py --forward         # the rules' own first-look regime
    python scripts/eval_fields_cv.py --write-examples  # rebuild rules/appeal_examples.txt

``--forward`` replays how the first-look figures were taken: set A is scored with the rules of
v1 (taken from git) and a classifier trained on dev only, B with v2 and dev+A, and so on, so
neither the rules nor the classifier has seen the set it is scored on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from callscribe.summarize.appeal_model import ExampleCall, model_text, train
from callscribe.summarize.classify import (
    classify_appeal,
    classify_appeal_by_rules,
    classify_urgency,
    find_flags,
    model_input,
)
from callscribe.summarize.dialogue import turns_of
from callscribe.summarize.evaluate import LabelledCall, load_labelled

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "transcripts"
EXAMPLES = ROOT / "callscribe" / "summarize" / "rules" / "appeal_examples.txt"


def _label(call: LabelledCall) -> str | None:
    value = call.labels.get("appeal_type")
    return str(value[0] if isinstance(value, list) else value) if value is not None else None


def _ok(call: LabelledCall, got: str) -> bool:
    expected = call.labels["appeal_type"]
    return got in expected if isinstance(expected, list) else got == expected


def write_examples(sets: dict[str, list[LabelledCall]]) -> int:
    lines = ["# label<TAB>turns joined by 。 -- written by scripts/eval_fields_cv.py"]
    for calls in sets.values():
        for call in calls:
            label = _label(call)
            text = model_text([s.text.replace("\t", " ") for s in call.transcript.segments])
            if label is not None:
                lines.append(f"{label}\t{text}")
    EXAMPLES.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def leave_one_set_out(sets: dict[str, list[LabelledCall]]) -> dict[str, Any]:
    tally = {"rules": 0, "classifier": 0, "combined": 0}
    per_set: dict[str, dict[str, int]] = {}
    total = 0
    ms: list[float] = []
    for held, calls in sets.items():
        train_on = [
            ExampleCall(label, model_input(turns_of(c.transcript)))
            for name, others in sets.items()
            if name != held
            for c in others
            if (label := _label(c)) is not None
        ]
        model = train(train_on)
        counts = {k: 0 for k in tally} | {"calls": 0}
        for call in calls:
            if _label(call) is None:
                continue
            turns = turns_of(call.transcript)
            urgent = classify_urgency(turns).value == "紧急"
            confidential = find_flags(turns).get("confidential", (False, []))[0]
            started = time.perf_counter()
            combined = classify_appeal(turns, urgent=urgent, confidential=confidential, model=model)
            ms.append((time.perf_counter() - started) * 1e3)
            got = {
                "rules": classify_appeal_by_rules(turns, urgent=urgent, confidential=confidential),
                "combined": combined,
            }
            counts["rules"] += _ok(call, got["rules"].value)
            counts["combined"] += _ok(call, got["combined"].value)
            counts["classifier"] += _ok(call, model.predict(model_input(turns))[0])
            counts["calls"] += 1
        per_set[held] = counts
        total += counts["calls"]
        for k in tally:
            tally[k] += counts[k]
    return {
        "field": "appeal_type",
        "calls": total,
        "accuracy": {k: f"{v}/{total} = {v / total:.1%}" for k, v in tally.items()},
        "per_set": per_set,
        "combined_ms_max": round(max(ms), 2),
    }


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
    fields = extract_offline(call.transcript)
    out[call.id] = [fields.appeal_type, fields.confidence["appeal_type"]]
sys.stdout.write(json.dumps(out))
"""


def _old_rules(commit: str, path: Path) -> dict[str, list[Any]]:
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
        env = os.environ | {"PYTHONPATH": tmp}
        done = subprocess.run(
            [sys.executable, "-c", _DUMP, str(path)],
            check=True,
            capture_output=True,
            env=env,
            cwd=tmp,
        )
    result: dict[str, list[Any]] = json.loads(done.stdout)
    return result


def forward(sets: dict[str, list[LabelledCall]], below: float) -> dict[str, Any]:
    tally = {"rules": 0, "classifier": 0, "combined": 0}
    per_set: dict[str, str] = {}
    seen = list(sets["dev"])
    total = 0
    for held, commit in FIRST_LOOKS.items():
        model = train(
            [
                ExampleCall(label, model_input(turns_of(c.transcript)))
                for c in seen
                if (label := _label(c)) is not None
            ]
        )
        rules = _old_rules(commit, FIXTURES / f"fields-{held}.jsonl")
        counts = dict.fromkeys(tally, 0)
        calls = [c for c in sets[held] if _label(c) is not None]
        for call in calls:
            value, confidence = rules[call.id]
            predicted = model.predict(model_input(turns_of(call.transcript)))[0]
            counts["rules"] += _ok(call, value)
            counts["classifier"] += _ok(call, predicted)
            counts["combined"] += _ok(call, value if confidence >= below else predicted)
        per_set[held] = f"rules {commit}: " + ", ".join(
            f"{k} {v}/{len(calls)}" for k, v in counts.items()
        )
        total += len(calls)
        for k in tally:
            tally[k] += counts[k]
        seen += sets[held]
    return {
        "field": "appeal_type",
        "calls": total,
        "accuracy": {k: f"{v}/{total} = {v / total:.1%}" for k, v in tally.items()},
        "per_set": per_set,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-examples", action="store_true")
    parser.add_argument("--forward", action="store_true")
    parser.add_argument("--below", type=float, default=0.6, help="with --forward")
    args = parser.parse_args()
    sets = {
        path.stem.removeprefix("fields-"): load_labelled(path)
        for path in sorted(FIXTURES.glob("fields-*.jsonl"))
    }
    if args.write_examples:
        sys.stdout.write(f"{write_examples(sets)} examples -> {EXAMPLES}\n")
        return 0
    if args.forward:
        result = forward(sets, args.below)
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        return 0
    sys.stdout.write(json.dumps(leave_one_set_out(sets), ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
