"""A small supervised appeal-type classifier that backs up the cue words when they are unsure.

Character 1-3-gram TF-IDF and a logistic regression (scikit-learn), trained at first use from
the labelled calls packaged in ``rules/appeal_examples.txt`` (about 130 dialogues, well under a
second). Training at start-up rather than shipping a pickle keeps the model readable and
reviewable as text, independent of the scikit-learn version, and never loads executable data.
``classify_appeal`` asks it only when the rules' confidence is below ``appeal_model_below`` in
cues.yaml; see docs/benchmarks.md for the leave-one-set-out figures behind that choice.

``scripts/eval_fields_cv.py --write-examples`` regenerates the examples from the fixtures.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

from callscribe.errors import ConfigurationError
from callscribe.summarize.rules import heard_as_meant

__all__ = ["AppealModel", "ExampleCall", "appeal_model", "load_examples", "train"]

_EXAMPLES = "appeal_examples.txt"
_TURN_SEPARATOR = "。"


@dataclass(frozen=True)
class ExampleCall:
    """One labelled call: its appeal type and its turns' text, speakers dropped."""

    label: str
    text: str


class AppealModel:
    """A fitted vectorizer and classifier; ``predict`` gives the label and its probability."""

    def __init__(self, vectorizer: Any, classifier: Any) -> None:
        self._vectorizer = vectorizer
        self._classifier = classifier

    def predict(self, text: str) -> tuple[str, float]:
        probabilities = self._classifier.predict_proba(self._vectorizer.transform([text]))[0]
        best = int(probabilities.argmax())
        return str(self._classifier.classes_[best]), float(probabilities[best])


def model_text(turn_texts: list[str]) -> str:
    """The form the model reads: every turn, in order, joined by a full stop."""
    return _TURN_SEPARATOR.join(t.strip() for t in turn_texts if t.strip())


def train(examples: list[ExampleCall]) -> AppealModel:
    """Fit on ``examples`` (texts already normalised the way prediction will see them)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    features = vectorizer.fit_transform([e.text for e in examples])
    classifier = LogisticRegression(C=10.0, max_iter=2000)
    classifier.fit(features, [e.label for e in examples])
    return AppealModel(vectorizer, classifier)


def load_examples() -> list[ExampleCall]:
    """The packaged examples, one ``label<TAB>text`` a line.

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
        if not line.strip() or line.startswith("#"):
            continue
        label, tab, text = line.partition("\t")
        if not tab or not label or not text:
            raise ConfigurationError(f"rules/{_EXAMPLES}:{number}: expected label<TAB>text")
        examples.append(ExampleCall(label, text))
    return examples


@functools.cache
def appeal_model() -> AppealModel:
    """The model trained on the packaged examples, once per process."""
    examples = [ExampleCall(e.label, heard_as_meant(e.text)) for e in load_examples()]
    return train(examples)
