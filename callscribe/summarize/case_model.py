"""The trained classifier that decides the appeal type, the category and the urgency.

Character 1-3-gram TF-IDF over the call's words and a linear SVM per field (scikit-learn). It
is trained at first use from the labelled texts packaged in ``rules/classifier_examples.jsonl``
(the citizens' batches of fixtures/corpus and the old engineered sets, never the blind batch
I6); training at start-up rather than shipping a pickle keeps the model readable and reviewable
as text, independent of the scikit-learn version, and never loads executable data.
``scripts/classifier_cv.py --write-examples`` regenerates the file, and
``scripts/classifier_cv.py`` gives the leave-one-batch-out figures behind the choice.

The confidence given with a decision is meant as the probability of being right: the model's
margin is mapped through ``classifier_calibration`` in rules/cues.yaml, a table measured out of
fold (leave one batch out) by ``scripts/classifier_cv.py --calibration``.

Urgency is a binary field (一般/紧急): the SVM's decision value for 紧急 is compared with
``classifier_urgent_above`` in rules/cues.yaml (below zero: 紧急 is called a little more readily
than the plain SVM does), chosen leave-one-batch-out (``scripts/classifier_cv.py --urgency``):
it beat the urgency cue rules and the rules-or-model combinations in both accuracy and 紧急
recall.

The cue rules' per-class scores (``cue_features``) were measured as extra features and as a
fallback; both lowered the leave-one-batch-out accuracy, so the default reads the text alone
(``use_cues`` False).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from callscribe.errors import ConfigurationError
from callscribe.schema import APPEAL_TYPES, CATEGORIES
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.rules import heard_as_meant, load_rules, weights

__all__ = [
    "EXAMPLES_PATH",
    "FIELDS",
    "CaseExample",
    "CaseModel",
    "FieldModel",
    "case_model",
    "cue_features",
    "emphasise_ask",
    "load_examples",
    "model_text",
    "train_field",
    "urgent_above",
]

FIELDS = ("appeal_type", "category", "urgency")
_EXAMPLES = "classifier_examples.jsonl"
EXAMPLES_PATH = Path(__file__).resolve().parent / "rules" / _EXAMPLES
_SEPARATOR = "。"
_WHITESPACE = re.compile(r"\s+")
_RANDOM_STATE = 0


def model_text(turns: Sequence[Turn], *, caller_only: bool = False) -> str:
    """What the classifier reads: every turn in order, joined, homophones undone.

    The agent's turns are read too: leaving them out (``caller_only``) lost 0.6 points of
    category accuracy leave-one-batch-out, four on the two-party calls (classifier-report).
    """
    said = [t.text.strip() for t in turns if t.text.strip() and (t.from_caller or not caller_only)]
    return heard_as_meant(_SEPARATOR.join(said))


_ASK = re.compile(
    r"[^。！？!?；;\n]*(希望|要求|请求|想问|请问|麻烦|能不能|建议|举报|投诉)[^。！？!?；;\n]*"
)


def emphasise_ask(text: str) -> str:
    """The text with its opening and the sentences that state the ask repeated (an experiment)."""
    opening = text[:40]
    asks = _SEPARATOR.join(m.group(0) for m in _ASK.finditer(text))
    return _SEPARATOR.join(p for p in (text, opening, asks) if p)


@functools.cache
def _cue_tables() -> tuple[
    tuple[tuple[str, dict[str, float]], ...], tuple[tuple[re.Pattern[str], str, float], ...]
]:
    cues = load_rules("cues")
    tables = [(f"appeal:{k}", weights(v)) for k, v in cues["appeal_types"].items()]
    tables += [(f"category:{k}", weights(v)) for k, v in load_rules("categories").items()]
    patterns = tuple(
        (re.compile(str(p["pattern"])), f"appeal:{p['appeal']}", float(p["weight"]))
        for p in cues.get("appeal_patterns") or []
    )
    return tuple(tables), patterns


def _cue_names() -> list[str]:
    return [f"appeal:{a}" for a in APPEAL_TYPES] + [f"category:{c}" for c in CATEGORIES]


def cue_features(text: str) -> list[float]:
    """The cue rules' score per appeal type and per category on ``text``, log-damped."""
    import math

    tables, patterns = _cue_tables()
    flat = _WHITESPACE.sub("", text)
    scores = dict.fromkeys(_cue_names(), 0.0)
    for name, table in tables:
        if name in scores:
            scores[name] += sum(weight for cue, weight in table.items() if cue in flat)
    for pattern, name, weight in patterns:
        if name in scores and pattern.search(text):
            scores[name] += weight
    return [math.log1p(max(0.0, s)) for s in scores.values()]


@dataclass
class CaseExample:
    """One labelled text: what the model reads, its cue features and its labels."""

    text: str
    labels: dict[str, str]
    cues: list[float] = field(default_factory=list)

    @classmethod
    def from_turns(cls, turns: Sequence[Turn], labels: dict[str, str]) -> CaseExample:
        text = model_text(turns)
        return cls(text, labels, cue_features(text))

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, **{f: self.labels[f] for f in FIELDS}}


class FieldModel:
    """A fitted vectorizer and linear classifier for one field (the vectorizer may be shared)."""

    def __init__(
        self, vectorizer: Any, classifier: Any, cue_weight: float | None, above: float = 0.0
    ) -> None:
        self._vectorizer = vectorizer
        self._classifier = classifier
        self._cue_weight = cue_weight
        self.above = above

    @property
    def uses_cues(self) -> bool:
        return self._cue_weight is not None

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self._classifier.classes_]

    def features(self, texts: list[str], cues: list[list[float]] | None) -> Any:
        """The rows the classifier reads: n-gram weights, then the cue scores if used."""
        return self.join_cues(self._vectorizer.transform(texts), cues)

    def join_cues(self, ngrams: Any, cues: list[list[float]] | None) -> Any:
        if self._cue_weight is None:
            return ngrams
        from scipy.sparse import csr_matrix, hstack

        return hstack([ngrams, csr_matrix(cues) * self._cue_weight]).tocsr()

    def predict_features(self, row: Any) -> tuple[str, float]:
        """The best class and its margin over the runner-up (decision values; uncalibrated)."""
        values = self._classifier.decision_function(row)[0]
        if self._classifier.classes_.size == 2:
            # Binary: one decision value d for classes_[1], which is chosen where d is over
            # ``above`` (0 as the SVM has it); the margin is 2|d - above|, as the one-against-
            # the-rest scores -d and d would give at 0.
            shifted = float(values) - self.above
            return self.classes[int(shifted > 0)], 2 * abs(shifted)
        order = values.argsort()[::-1]
        return self.classes[int(order[0])], float(values[order[0]] - values[order[1]])

    def predict_raw(self, text: str, cues: list[float] | None = None) -> tuple[str, float]:
        """The best class for ``text`` and its margin."""
        return self.predict_features(self.features([text], [cues or []]))


def _vectorizer(min_df: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=min_df)


def _fit(features: Any, labels: list[str], c: float) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, random_state=_RANDOM_STATE).fit(features, labels)


def train_field(
    texts: list[str],
    cues: list[list[float]] | None,
    labels: list[str],
    *,
    cue_weight: float = 0.5,
    c: float = 1.0,
    min_df: int = 2,
    above: float = 0.0,
) -> FieldModel:
    """Fit one field's model; ``cues`` None leaves the cue features out.

    A linear SVM (liblinear, one class against the rest) rather than a logistic regression:
    as accurate here and some fifty times faster to fit on the n-grams, which keeps the
    start-up training to a few seconds; its margins are turned into probabilities of being
    right by the calibration table.
    """
    vectorizer = _vectorizer(min_df).fit(texts)
    model = FieldModel(vectorizer, None, None if cues is None else cue_weight, above)
    model._classifier = _fit(model.features(texts, cues), labels, c)
    return model


@dataclass(frozen=True)
class Decided:
    """A field's value, the model's margin for it and the calibrated confidence."""

    value: str
    margin: float
    confidence: float


class CaseModel:
    """The fields' models and the calibration that turns a margin into a confidence."""

    def __init__(self, vectorizer: Any, models: dict[str, FieldModel]) -> None:
        self._vectorizer = vectorizer
        self.models = models

    @staticmethod
    def calibrate_for(name: str) -> Callable[[float], float]:
        """The fitted mapping margin -> chance of being right for field ``name``."""
        points = _calibration()[name]

        def mapping(p: float) -> float:
            for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
                if p <= x1:
                    return y0 + (y1 - y0) * (p - x0) / (x1 - x0) if x1 > x0 else y1
            return points[-1][1]

        return mapping

    def decide(self, name: str, text: str) -> Decided:
        """Field ``name`` for ``text`` (as :func:`model_text` gives it), with its confidence."""
        model = self.models[name]
        cues = [cue_features(text)] if model.uses_cues else None
        value, margin = model.predict_features(model.join_cues(self._ngrams(text), cues))
        return Decided(value, margin, round(self.calibrate_for(name)(margin), 3))

    @functools.lru_cache(maxsize=4)  # noqa: B019 - one model per process, kept for its life
    def _ngrams(self, text: str) -> Any:
        """The text's n-gram row, shared by the fields (appeal and category ask in turn)."""
        return self._vectorizer.transform([text])


@functools.cache
def _calibration() -> dict[str, list[tuple[float, float]]]:
    table = load_rules("cues").get("classifier_calibration") or {}
    out = {}
    for name in FIELDS:
        points = sorted((float(p), float(c)) for p, c in (table.get(name) or {0: 0, 1: 1}).items())
        if len(points) < 2:
            raise ConfigurationError(f"rules/cues.yaml: classifier_calibration.{name}: 2+ points")
        out[name] = points
    return out


@functools.cache
def urgent_above() -> float:
    """The urgency SVM's decision value over which a call is 紧急 (rules/cues.yaml)."""
    return float(load_rules("cues").get("classifier_urgent_above", 0.0))


def load_examples() -> list[CaseExample]:
    """The packaged examples: one JSON object a line with text and a label per field.

    Raises:
        ConfigurationError: the file is missing or a line is not of that shape.
    """
    resource = resources.files("callscribe.summarize").joinpath("rules", _EXAMPLES)
    try:
        lines = resource.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ConfigurationError(f"rules/{_EXAMPLES}: cannot be read: {err}") from err
    examples = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            labels = {f: str(data[f]) for f in FIELDS}
            text = str(data["text"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ConfigurationError(
                f"rules/{_EXAMPLES}:{number}: expected JSON with text, " + ", ".join(FIELDS)
            ) from err
        examples.append(CaseExample(text, labels))
    return examples


def train(examples: list[CaseExample], *, use_cues: bool = False) -> CaseModel:
    """Fit every field on ``examples`` over one shared vectorizer.

    ``use_cues`` adds the cue rules' scores as features (measured, not the default).
    """
    texts = [e.text for e in examples]
    vectorizer = _vectorizer(min_df=2)
    ngrams = vectorizer.fit_transform(texts)
    cues = [e.cues or cue_features(e.text) for e in examples] if use_cues else None
    models = {}
    for name in FIELDS:
        above = urgent_above() if name == "urgency" else 0.0
        model = FieldModel(vectorizer, None, 0.5 if use_cues else None, above)
        model._classifier = _fit(
            model.join_cues(ngrams, cues), [e.labels[name] for e in examples], 1.0
        )
        models[name] = model
    return CaseModel(vectorizer, models)


@functools.cache
def case_model() -> CaseModel:
    """The model trained on the packaged examples, once per process."""
    return train(load_examples())
