"""Extractive QA features: (question, context) -> windows of a long context, with answer spans as tokens.

Records are flattened SQuAD: {"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}}
(`files` flattens SQuAD JSON to this). A context longer than the window is cut into overlapping
windows (`doc_stride` tokens shared by neighbours), each one feature:
    input_ids [S], token_type_ids [S]   [CLS] question [SEP] context-window [SEP]
    start_positions, end_positions      token indices of the first answer inside this window,
                                        or 0 ([CLS]) when the answer is not in the window / there is none
                                        (only when the records carry answers)
and, for post-processing, per feature: the example index and the character offsets of its context
tokens (None for question and special tokens).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .spec import DataSpec
from .task_features import column, require_texts

_CLS_INDEX = 0


def encode_question_answering(records, spec: DataSpec, tokenizer, source: str, *, labeled: bool = True):
    """Returns (features, feature_example [N] int, offsets: per feature a list of (start, end) | None)."""
    task = "question answering"
    # Leading spaces in questions only waste window room (the same as transformers' run_qa example).
    questions = [q.lstrip() for q in require_texts(
        column(records, spec.question_column, source, task=task, key="question_column"), source, spec.question_column)]
    contexts = require_texts(column(records, spec.context_column, source, task=task, key="context_column"),
                        source, spec.context_column)
    answers = None
    if labeled:
        answers = [_checked_answers(a, contexts[i], f"{source}: row {i + 1}, column {spec.answers_column!r}")
                   for i, a in enumerate(column(records, spec.answers_column, source, task=task, key="answers_column"))]
    _check_question_lengths(questions, tokenizer, spec, source)

    features, feature_example, offsets = [], [], []
    for start in range(0, len(records), 256):
        encoding = tokenizer(
            questions[start:start + 256], contexts[start:start + 256], truncation="only_second",
            max_length=spec.max_length, stride=spec.doc_stride, return_overflowing_tokens=True,
            return_offsets_mapping=True, return_token_type_ids=True,
        )
        for i, sample in enumerate(encoding["overflow_to_sample_mapping"]):
            example = start + int(sample)
            sequence_ids = _sequence_ids(encoding, i)
            context_offsets = [tuple(o) if s == 1 else None
                               for o, s in zip(encoding["offset_mapping"][i], sequence_ids, strict=True)]
            feature = {"input_ids": np.asarray(encoding["input_ids"][i], np.int32),
                       "token_type_ids": np.asarray(encoding["token_type_ids"][i], np.int32)}
            if answers is not None:
                feature["start_positions"], feature["end_positions"] = answer_token_span(
                    context_offsets, answers[example])
            features.append(feature)
            feature_example.append(example)
            offsets.append(context_offsets)
    return features, np.asarray(feature_example, np.int64), offsets


def answer_token_span(context_offsets: Sequence[tuple[int, int] | None], answer: dict) -> tuple[int, int]:
    """(start, end) token indices (inclusive) of the first answer, or (0, 0) when it is not fully inside.

    context_offsets: per token, (char_start, char_end) in the context, None outside the context.
    """
    if not answer["text"]:
        return _CLS_INDEX, _CLS_INDEX
    char_start = answer["answer_start"][0]
    char_end = char_start + len(answer["text"][0])
    inside = [t for t, o in enumerate(context_offsets) if o is not None]
    first, last = inside[0], inside[-1]
    if not (context_offsets[first][0] <= char_start and context_offsets[last][1] >= char_end):
        return _CLS_INDEX, _CLS_INDEX
    token_start = first
    while token_start <= last and context_offsets[token_start][0] <= char_start:
        token_start += 1
    token_end = last
    while token_end >= first and context_offsets[token_end][1] >= char_end:
        token_end -= 1
    return token_start - 1, token_end + 1


def _checked_answers(answer, context: str, where: str) -> dict:
    if not isinstance(answer, dict) or not {"text", "answer_start"} <= set(answer):
        raise ValueError(f"{where}: expected {{'text': [...], 'answer_start': [...]}}, got {answer!r}")
    texts, starts = list(answer["text"]), [_char_index(s, where) for s in answer["answer_start"]]
    if len(texts) != len(starts):
        raise ValueError(f"{where}: {len(texts)} answer texts but {len(starts)} answer_start values")
    for text, start in zip(texts, starts, strict=True):
        # A negative start would slice from the end of the context (and pass the text check below);
        # one past the end can only be an empty answer: both are broken records, not "no answer".
        if not 0 <= start <= len(context) - len(text):
            raise ValueError(f"{where}: answer_start {start} is outside the context (a {len(text)}-character "
                             f"answer must start at 0..{len(context) - len(text)})")
        if context[start:start + len(text)] != text:
            raise ValueError(
                f"{where}: answer {text!r} is not at character {start} of the context "
                f"(found {context[start:start + len(text)]!r})"
            )
    return {"text": texts, "answer_start": starts}


def _char_index(value, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: answer_start {value!r} is not a character index (an integer)") from None


def _check_question_lengths(questions, tokenizer, spec: DataSpec, source: str) -> None:
    room = spec.max_length - spec.doc_stride - 3  # [CLS] q [SEP] ... [SEP], and a window must advance
    lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    for i, length in enumerate(lengths):
        if length > room:
            raise ValueError(
                f"{source}: row {i + 1}: the question has {length} tokens, but with data.max_length "
                f"{spec.max_length} and data.doc_stride {spec.doc_stride} at most {room} fit; "
                "raise max_length or lower doc_stride"
            )


def _sequence_ids(encoding, i: int) -> list[int | None]:
    """Which text each token came from: 0 question, 1 context, None special (transformers' sequence_ids)."""
    if hasattr(encoding, "sequence_ids"):
        return list(encoding.sequence_ids(i))
    # Fallback from token types and offsets: special tokens have empty (0, 0) offsets.
    return [None if tuple(o) == (0, 0) else int(t)
            for o, t in zip(encoding["offset_mapping"][i], encoding["token_type_ids"][i], strict=True)]
