"""Extractive QA post-processing: start/end logits of every window -> answer text per question.

The same procedure as transformers' `run_qa` example (`postprocess_qa_predictions`): for each question,
over all of its windows, pair the `n_best` highest start and end logits, keep spans that lie inside the
context, end at or after they start and are at most `max_answer_length` tokens long, score a span by
start + end logit, and map the best one back to characters of the context with the token offsets.
With `allow_null_answer` (SQuAD v2) the empty answer competes with score min over windows of
start[0] + end[0] (the [CLS] logits) and wins when it beats the best span by more than
`null_score_diff_threshold`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def postprocess_qa_predictions(
    examples: Sequence[dict],
    feature_example: Sequence[int],
    offsets: Sequence[Sequence[tuple[int, int] | None]],
    start_logits,
    end_logits,
    *,
    n_best: int = 20,
    max_answer_length: int = 30,
    allow_null_answer: bool = False,
    null_score_diff_threshold: float = 0.0,
    context_key: str = "context",
    id_key: str = "id",
) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """Answer text per example id, and the n-best list per id (dicts: text, score, probability,
    offsets (char start, end), null (True for the empty answer)).

    examples: the QA records; feature_example [N]: the example of each feature (window);
    offsets: per feature, per token, (char_start, char_end) in the context or None outside it;
    start_logits, end_logits: [N, S] (S >= each feature's length; positions past it are ignored).
    An example none of whose spans is valid gets "" (and an empty n-best list).
    """
    start_logits = np.asarray(start_logits, np.float64)  # [N, S]
    end_logits = np.asarray(end_logits, np.float64)  # [N, S]
    if start_logits.shape != end_logits.shape or start_logits.shape[0] != len(feature_example):
        raise ValueError(
            f"start_logits {start_logits.shape} and end_logits {end_logits.shape} must both be "
            f"[num_features={len(feature_example)}, S]"
        )
    features_of: dict[int, list[int]] = {}
    for feature, example in enumerate(feature_example):
        features_of.setdefault(int(example), []).append(feature)

    predictions, nbest = {}, {}
    for example_index, example in enumerate(examples):
        candidates, null_score = [], None
        for feature in features_of.get(example_index, []):
            starts, ends, feature_offsets = start_logits[feature], end_logits[feature], offsets[feature]
            feature_null = starts[0] + ends[0]
            if null_score is None or feature_null < null_score:
                null_score = feature_null
            candidates += _spans(starts, ends, feature_offsets, n_best, max_answer_length)
        if allow_null_answer and null_score is not None:
            candidates.append({"offsets": (0, 0), "score": float(null_score), "null": True})
        # Highest score first; equal scores keep discovery order (stable), so results are deterministic.
        candidates = sorted(candidates, key=lambda c: -c["score"])[:n_best]
        context = example[context_key]
        for candidate in candidates:
            # sentencepiece pieces that start a word ("▁the") have offsets that include the space before it
            candidate["text"] = "" if candidate["null"] else context[slice(*candidate["offsets"])].strip()
        if candidates:
            scores = np.array([c["score"] for c in candidates])
            probabilities = np.exp(scores - scores.max())
            probabilities /= probabilities.sum()
            for candidate, probability in zip(candidates, probabilities, strict=True):
                candidate["probability"] = float(probability)
        example_id = str(example.get(id_key, example_index))
        predictions[example_id] = _choose(candidates, null_score, allow_null_answer, null_score_diff_threshold)
        nbest[example_id] = candidates
    return predictions, nbest


def _spans(starts, ends, feature_offsets, n_best: int, max_answer_length: int) -> list[dict]:
    length = len(feature_offsets)
    top_starts = np.argsort(-starts[:length], kind="stable")[:n_best]
    top_ends = np.argsort(-ends[:length], kind="stable")[:n_best]
    spans = []
    for s in top_starts:
        for e in top_ends:
            if feature_offsets[s] is None or feature_offsets[e] is None:
                continue  # a question or special token
            if e < s or e - s + 1 > max_answer_length:
                continue
            spans.append({"offsets": (feature_offsets[s][0], feature_offsets[e][1]),
                          "score": float(starts[s] + ends[e]), "null": False})
    return spans


def _choose(candidates, null_score, allow_null_answer: bool, threshold: float) -> str:
    spans = [c for c in candidates if not c["null"]]
    if not spans:
        return ""
    best = spans[0]
    if allow_null_answer and null_score is not None and null_score - best["score"] > threshold:
        return ""
    return best["text"]
