"""Task metrics as plain numpy functions; every score is a fraction in [0, 1] (or a correlation / perplexity).

    accuracy, macro_f1, matthews_corrcoef          classification (ids)
    pearson, spearman                              regression
    entity_spans, entity_scores                    token classification: IOB2 entities, seqeval-style
    squad_exact_match, squad_f1, normalize_answer  extractive QA, the official SQuAD v1.1/v2.0 rules
    perplexity                                     language modelling
    compute_metrics(task, predictions, references) the metrics of one task, as a dict

SQuAD scores are fractions here; the official script prints them times 100.
"""

from __future__ import annotations

import collections
import math
import re
import string
from collections.abc import Sequence

import numpy as np

from rembert_jax.tasks import REGISTRY


def accuracy(predictions, references) -> float:
    predictions, references = _paired(predictions, references)
    return float(np.mean(predictions == references))


def macro_f1(predictions, references, num_labels: int | None = None) -> float:
    """Unweighted mean of per-class F1 over the classes present in predictions or references
    (or over range(num_labels) when given; a class never predicted nor present scores 0 then)."""
    predictions, references = _paired(predictions, references)
    classes = range(num_labels) if num_labels is not None else np.union1d(predictions, references)
    scores = []
    for c in classes:
        tp = np.sum((predictions == c) & (references == c))
        fp = np.sum((predictions == c) & (references != c))
        fn = np.sum((predictions != c) & (references == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def matthews_corrcoef(predictions, references) -> float:
    """Multi-class Matthews correlation (Gorodkin's R_K, as scikit-learn computes it); 0 when undefined."""
    predictions, references = _paired(predictions, references)
    classes, encoded = np.unique(np.concatenate([predictions, references]), return_inverse=True)
    pred, ref = encoded[:len(predictions)], encoded[len(predictions):]
    confusion = np.zeros((len(classes), len(classes)), np.float64)  # [true, predicted]
    np.add.at(confusion, (ref, pred), 1)
    t, p = confusion.sum(1), confusion.sum(0)
    c, s = np.trace(confusion), confusion.sum()
    denominator = math.sqrt((s * s - p @ p) * (s * s - t @ t))
    return 0.0 if denominator == 0 else float((c * s - t @ p) / denominator)


def pearson(predictions, references) -> float:
    predictions, references = _paired(predictions, references, dtype=np.float64)
    if predictions.std() == 0 or references.std() == 0:
        return float("nan")  # undefined for a constant input
    return float(np.corrcoef(predictions, references)[0, 1])


def spearman(predictions, references) -> float:
    """Pearson correlation of the ranks (ties get their average rank)."""
    from scipy.stats import rankdata  # scipy ships with jax

    predictions, references = _paired(predictions, references, dtype=np.float64)
    return pearson(rankdata(predictions), rankdata(references))


def perplexity(mean_negative_log_likelihood: float) -> float:
    """exp of the mean per-token negative log-likelihood (natural log)."""
    return float(math.exp(mean_negative_log_likelihood))


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first, last) of every entity in an IOB2 tag sequence (last inclusive).

    As seqeval's default (conlleval) mode: an entity starts at B-X, or at an I-X that does not continue an
    entity of type X (an I- after O or after another type opens a new entity); "O" and anything without
    a B-/I- prefix closes it. IOBES tags work too: S-X is a one-token entity, E-X ends one.
    """
    spans, current = [], None  # current: [type, first, last]
    for position, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-") if "-" in tag else ("O", "", "")
        continues = prefix in ("I", "E") and current is not None and current[0] == kind
        if current is not None and not continues:
            spans.append(tuple(current))
            current = None
        if prefix in ("B", "S") or (prefix in ("I", "E") and not continues):
            current = [kind, position, position]
        elif continues:
            current[2] = position
        if prefix in ("E", "S") and current is not None:  # IOBES: the entity ends here
            spans.append(tuple(current))
            current = None
    if current is not None:
        spans.append(tuple(current))
    return spans


def entity_scores(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro precision / recall / F1 over exact entity matches (type and span), plus token accuracy."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predicted sequences but {len(references)} references")
    predicted, gold, correct_tokens, tokens = set(), set(), 0, 0
    for i, (pred, ref) in enumerate(zip(predictions, references, strict=True)):
        if len(pred) != len(ref):
            raise ValueError(f"sequence {i}: {len(pred)} predicted tags but {len(ref)} reference tags")
        predicted |= {(i, *span) for span in entity_spans(pred)}
        gold |= {(i, *span) for span in entity_spans(ref)}
        correct_tokens += sum(p == r for p, r in zip(pred, ref, strict=True))
        tokens += len(ref)
    true_positives = len(predicted & gold)
    precision = true_positives / len(predicted) if predicted else 0.0
    recall = true_positives / len(gold) if gold else 0.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1,
            "accuracy": correct_tokens / tokens if tokens else 0.0}


def normalize_answer(text: str) -> str:
    """The official SQuAD normalisation: lower case, drop punctuation, articles and extra whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation)


def squad_exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer (no answers: gold is "")."""
    return max(float(normalize_answer(prediction) == normalize_answer(a)) for a in (list(answers) or [""]))


def squad_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best token-overlap F1 against the gold answers (no answers: gold is "")."""
    return max(_token_f1(prediction, a) for a in (list(answers) or [""]))


def _token_f1(prediction: str, answer: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(answer).split()
    if not pred_tokens or not gold_tokens:  # the v2.0 rule: no-answer matches only no-answer
        return float(pred_tokens == gold_tokens)
    common = sum((collections.Counter(pred_tokens) & collections.Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def compute_metrics(task: str, predictions, references, *, num_labels: int | None = None) -> dict[str, float]:
    """The metrics of `task` from already decoded predictions:

    sequence_classification / multiple_choice  predictions, references: class ids [N] -> accuracy,
        macro_f1, matthews_corrcoef; with float references of a regression (num_labels == 1): pearson,
        spearman, mse
    token_classification   lists of tag-name sequences -> precision, recall, f1, accuracy
    question_answering     {id: answer text}, {id: [gold answer texts]} -> exact_match, f1 (fractions)
    masked_lm / causal_lm  predictions: mean token NLL (references unused) -> loss, perplexity
    """
    kind = REGISTRY[task].labels if task in REGISTRY else None
    if kind in ("classes", "choice"):
        if num_labels == 1:
            p, r = _paired(predictions, references, dtype=np.float64)
            return {"pearson": pearson(p, r), "spearman": spearman(p, r), "mse": float(np.mean((p - r) ** 2))}
        return {"accuracy": accuracy(predictions, references),
                "macro_f1": macro_f1(predictions, references, num_labels),
                "matthews_corrcoef": matthews_corrcoef(predictions, references)}
    if kind == "token_classes":
        return entity_scores(predictions, references)
    if kind == "span":
        missing = sorted(set(references) - set(predictions))
        if missing:
            raise ValueError(f"no prediction for {len(missing)} question(s), e.g. id {missing[0]!r}")
        if not references:
            raise ValueError("no references: nothing to score")
        return {"exact_match": float(np.mean([squad_exact_match(predictions[k], v) for k, v in references.items()])),
                "f1": float(np.mean([squad_f1(predictions[k], v) for k, v in references.items()]))}
    if kind == "token_ids":
        loss = float(predictions)
        return {"loss": loss, "perplexity": perplexity(loss)}
    raise ValueError(f"task is {task!r}; no metrics defined for it")


def _paired(predictions, references, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    predictions, references = np.asarray(predictions, dtype), np.asarray(references, dtype)
    if predictions.shape != references.shape or predictions.ndim != 1:
        raise ValueError(f"predictions {predictions.shape} and references {references.shape} must both be [N]")
    if predictions.size == 0:
        raise ValueError("no predictions: nothing to score")
    return predictions, references
