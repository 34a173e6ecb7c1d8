"""`EvalAccumulator`: model outputs over one evaluation pass -> the task's metrics and per-example predictions.

    accumulator = EvalAccumulator(dataset)
    for batch in BatchIterator(dataset, batch_size, shuffle=False):
        accumulator.add(batch, jax.device_get(eval_step(params, model_inputs(batch))))
    metrics = accumulator.metrics()          # e.g. {"accuracy": ..., "macro_f1": ..., "loss": ...}
    rows = accumulator.predictions()         # one JSON-able dict per example (for `predict`)

`outputs` is the task model's output dict as numpy: `logits` ([B, NL] / [B, C] / [B, S, NL] / [B, S, V]),
or `start_logits` and `end_logits` [B, S] for QA, and optionally the batch's mean `loss` (reported as
the mean over batches weighted by their real rows; language models report the exact per-token mean
from the logits instead, regression the exact MSE). Padding rows (weight 0) are skipped; features are matched to examples
through the batch's `index`.
"""

from __future__ import annotations

import numpy as np

from rembert_jax.tasks import get_task

from .data.task_features import IGNORE_INDEX, split_words
from .metrics import compute_metrics
from .qa_postprocess import postprocess_qa_predictions


class EvalAccumulator:
    def __init__(self, dataset):
        self.dataset = dataset
        self._rows: dict[int, dict[str, np.ndarray]] = {}  # feature index -> its outputs
        self._loss_sum, self._loss_weight = 0.0, 0.0
        self._nll_sum, self._token_count, self._token_correct = 0.0, 0, 0

    def add(self, batch: dict, outputs: dict) -> None:
        keep = np.asarray(batch["weight"]) > 0  # [B]
        indices = np.asarray(batch["index"])[keep]
        if "loss" in outputs:
            self._loss_sum += float(outputs["loss"]) * int(keep.sum())
            self._loss_weight += int(keep.sum())
        spec = get_task(self.dataset.task)
        if spec.language_model:
            self._add_language_modeling(np.asarray(outputs["logits"])[keep], np.asarray(batch["labels"])[keep])
            return
        for name in spec.outputs:
            if name in outputs:
                values = np.asarray(outputs[name], np.float32)[keep]
                for index, value in zip(indices, values, strict=True):
                    self._rows.setdefault(int(index), {})[name] = value

    def _add_language_modeling(self, logits: np.ndarray, labels: np.ndarray) -> None:
        if get_task(self.dataset.task).shifted:  # position t predicts token t + 1
            logits, labels = logits[:, :-1], labels[:, 1:]
        scored = labels != IGNORE_INDEX  # [B, S]
        logits = logits[scored].astype(np.float64)  # [T, V]
        targets = labels[scored]  # [T]
        shifted = logits - logits.max(-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
        self._nll_sum -= float(log_probs[np.arange(len(targets)), targets].sum())
        self._token_count += len(targets)
        self._token_correct += int((logits.argmax(-1) == targets).sum())

    def metrics(self) -> dict[str, float]:
        data, task = self.dataset, self.dataset.task
        out: dict[str, float] = {}
        if self._loss_weight:
            out["loss"] = self._loss_sum / self._loss_weight
        if get_task(task).language_model:
            if not self._token_count:
                raise ValueError(f"{data.source}: no scored tokens were seen; nothing to evaluate")
            out.update(compute_metrics(task, self._nll_sum / self._token_count, None))
            out["token_accuracy"] = self._token_correct / self._token_count
            return out
        self._check_complete()
        if not data.labeled:
            raise ValueError(f"{data.source} has no targets (no {self._target_name()!r} column): "
                             "it can be predicted on, not scored")
        kind = get_task(task).labels
        if kind == "span":
            answers, _ = self._qa_answers()
            references = {str(e.get("id", i)): list(e[data.spec.answers_column]["text"])
                          for i, e in enumerate(data.examples)}
            return {**out, **compute_metrics(task, answers, references)}
        if kind == "token_classes":
            predicted, gold = self._word_tags()
            return {**out, **compute_metrics(task, predicted, gold)}
        logits = np.stack([self._rows[i]["logits"] for i in range(len(data))])  # [N, NL] or [N, C]
        references = np.array([f["labels"] for f in data.features])
        if data.regression:
            scores = compute_metrics(task, logits[:, 0], references, num_labels=1)
            # The batch losses also count the rows that pad a batch by repeating real ones: use the exact MSE.
            return {**out, **scores, "loss": scores["mse"]}
        return {**out, **compute_metrics(task, logits.argmax(-1), references, num_labels=data.num_labels)}

    def predictions(self) -> list[dict]:
        """Per example (file order): its id when the record has one, and the decoded prediction."""
        data, task = self.dataset, self.dataset.task
        if get_task(task).language_model:
            raise ValueError(f"{task} has no per-example predictions to write; use metrics()")
        self._check_complete()
        ids = [e.get("id", i) for i, e in enumerate(data.examples)]
        kind = get_task(task).labels
        if kind == "span":
            answers, nbest = self._qa_answers()
            return [{"id": i, "prediction": answers[str(i)],
                     "score": nbest[str(i)][0]["score"] if nbest[str(i)] else None} for i in ids]
        if kind == "token_classes":
            predicted, _ = self._word_tags(all_words=True)
            return [{"id": i, "prediction": tags} for i, tags in zip(ids, predicted, strict=True)]
        rows = []
        for i, feature in zip(ids, range(len(data)), strict=True):
            logits = self._rows[feature]["logits"]
            if data.regression:
                rows.append({"id": i, "prediction": float(logits[0])})
                continue
            probabilities = np.exp(logits - logits.max())
            probabilities /= probabilities.sum()
            best = int(logits.argmax())
            label = data.label_names[best] if data.label_names is not None else best
            rows.append({"id": i, "prediction": label, "probability": float(probabilities[best])})
        return rows

    def _target_name(self) -> str:
        return self.dataset.spec.target_column(self.dataset.task)

    def _check_complete(self) -> None:
        missing = len(self.dataset) - len(self._rows)
        if missing:
            raise ValueError(f"{self.dataset.source}: outputs for {missing} of {len(self.dataset)} features are "
                             "missing; run the evaluation pass over the whole dataset before asking for metrics")

    def _qa_answers(self):
        data = self.dataset
        width = max(len(row["start_logits"]) for row in self._rows.values())
        starts = np.full((len(data), width), -np.inf, np.float32)  # [N, S_max]: buckets differ per batch
        ends = np.full((len(data), width), -np.inf, np.float32)
        for i in range(len(data)):
            starts[i, :len(self._rows[i]["start_logits"])] = self._rows[i]["start_logits"]
            ends[i, :len(self._rows[i]["end_logits"])] = self._rows[i]["end_logits"]
        spec = data.spec
        return postprocess_qa_predictions(
            data.examples, data.feature_example, data.qa_offsets, starts, ends, n_best=spec.n_best,
            max_answer_length=spec.max_answer_length, allow_null_answer=spec.allow_null_answer,
            context_key=spec.context_column)

    def _word_tags(self, all_words: bool = False):
        """Predicted and gold tag names per word (at each word's first piece; gold empty when the data
        has no tags). Words cut off by truncation are left out; with all_words they are predicted "O"."""
        data = self.dataset
        names = data.label_names
        predicted, gold = [], []
        for i, feature in enumerate(data.features):
            first_pieces = feature["first_pieces"]  # [S] bool
            logits = self._rows[i]["logits"][:len(first_pieces)]  # [S, NL]
            predicted.append([names[t] for t in logits[first_pieces].argmax(-1)])
            if "labels" in feature:
                gold.append([names[t] for t in feature["labels"][first_pieces]])
            if all_words:
                words = split_words([data.examples[i][data.spec.tokens_column]], data.source, data.spec.tokens_column)[0]
                predicted[-1] += ["O"] * (len(words) - len(predicted[-1]))
        return predicted, gold
