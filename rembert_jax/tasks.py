"""The task registry: every fact about each of the six task heads, written down once.

Plain data, no jax: heads, convert, the adapters and the trainer all read this table (the head
module and loss are "module:attr" strings, resolved by `rembert_jax.heads`, so this floor never
imports the heads). To add a task, add one `Task` here and its head module / loss in heads/.

    name                     head reads     labels (per)          outputs                      pooler
    masked_lm                tokens [B,S,H] token ids (position)  logits [B,S,V]               no
    causal_lm                tokens         token ids, shifted    logits [B,S,V] (+ cache)     no
    sequence_classification  pooled [B,H]   a class (example)     logits [B,NL]                yes
    multiple_choice          pooled [B*C,H] a choice (example)    logits [B,C]                 yes
    token_classification     tokens         a class (position)    logits [B,S,NL]              no
    question_answering       tokens         a span (example)      start/end_logits [B,S]       no
"""

from __future__ import annotations

import dataclasses

# What a target is: one token id per position (the LMs), one class per position, one class per
# example, the index of the right choice, or a (start, end) span.
LABEL_KINDS = ("token_ids", "token_classes", "classes", "choice", "span")


@dataclasses.dataclass(frozen=True)
class Task:
    """One model family: the bare encoder (`BASE`) or one task head on it."""

    name: str
    architecture: str  # transformers' PyTorch class (config.json `architectures`)
    keras_model_name: str  # the Keras model-level name of its TF twin (snake_case of TF<architecture>)
    pooler: bool  # transformers' class builds its encoder with the pooler (spec §3 table)
    head: str | None = None  # the Flax Linen head, "module:Class"
    loss: str | None = None  # transformers' PyTorch loss, "module:function"
    labels: str | None = None  # one of LABEL_KINDS
    label_keys: tuple[str, ...] = ()  # the batch keys holding the targets
    outputs: tuple[str, ...] = ("logits",)  # the head's outputs, in the order the head returns them
    pooled: bool = False  # the head reads pooler_output [B, H] (else last_hidden_state [B, S, H])
    choices: bool = False  # inputs are [B, C, S], flattened to [B*C, S] for the encoder
    decoder: bool = False  # takes a KV cache and cross-attention inputs (with config.is_decoder)
    shifted: bool = False  # the logits at t predict the label at t + 1 (causal LM)
    keras_dropout: str | None = None  # the config field of the Keras head's Dropout layer, if it has one

    def __post_init__(self):
        if self.labels not in (None, *LABEL_KINDS):
            raise ValueError(f"Task {self.name!r}: labels must be one of {LABEL_KINDS}, got {self.labels!r}")

    @property
    def per_token(self) -> bool:
        """Labels are one per token, so several sequences can share a packed row."""
        return self.labels in ("token_ids", "token_classes")

    @property
    def language_model(self) -> bool:
        """Predicts token ids over the vocabulary (the LM head)."""
        return self.labels == "token_ids"

    @property
    def masks_inputs(self) -> bool:
        """Training masks input tokens and scores only those (the masked LM; needs a [MASK] token)."""
        return self.language_model and not self.shifted

    @property
    def generates(self) -> bool:
        """A decoder with the LM head: `generate` and `logits_to_keep` (the causal LM)."""
        return self.decoder and self.language_model

    @property
    def sized_by_num_labels(self) -> bool:
        """The head's width is `config.num_labels`."""
        return self.labels in ("token_classes", "classes")


_HEADS = "rembert_jax.heads"
_LOSSES = "rembert_jax.heads.losses"

BASE = Task("base", "RemBertModel", "tf_rem_bert_model", pooler=True, decoder=True)

_REGISTRY = (
    Task("masked_lm", "RemBertForMaskedLM", "tf_rem_bert_for_masked_lm", pooler=False,
         head=f"{_HEADS}.lm_head:LMHead", loss=f"{_LOSSES}:masked_lm_loss",
         labels="token_ids", label_keys=("labels",)),
    Task("causal_lm", "RemBertForCausalLM", "tf_rem_bert_for_causal_lm", pooler=False,
         head=f"{_HEADS}.lm_head:LMHead", loss=f"{_LOSSES}:causal_lm_loss",
         labels="token_ids", label_keys=("labels",), decoder=True, shifted=True),
    Task("sequence_classification", "RemBertForSequenceClassification",
         "tf_rem_bert_for_sequence_classification", pooler=True,
         head=f"{_HEADS}.classification:SequenceClassificationHead",
         loss=f"{_LOSSES}:sequence_classification_loss", labels="classes", label_keys=("labels",),
         pooled=True, keras_dropout="classifier_dropout_prob"),
    Task("multiple_choice", "RemBertForMultipleChoice", "tf_rem_bert_for_multiple_choice", pooler=True,
         head=f"{_HEADS}.classification:MultipleChoiceHead", loss=f"{_LOSSES}:multiple_choice_loss",
         labels="choice", label_keys=("labels",), pooled=True, choices=True,
         keras_dropout="classifier_dropout_prob"),
    Task("token_classification", "RemBertForTokenClassification", "tf_rem_bert_for_token_classification",
         pooler=False, head=f"{_HEADS}.classification:TokenClassificationHead",
         loss=f"{_LOSSES}:token_classification_loss", labels="token_classes", label_keys=("labels",),
         keras_dropout="hidden_dropout_prob"),  # Keras' token classifier drops out with the hidden rate
    Task("question_answering", "RemBertForQuestionAnswering", "tf_rem_bert_for_question_answering",
         pooler=False, head=f"{_HEADS}.qa:QuestionAnsweringHead", loss=f"{_LOSSES}:question_answering_loss",
         labels="span", label_keys=("start_positions", "end_positions"),
         outputs=("start_logits", "end_logits")),
)
REGISTRY: dict[str, Task] = {task.name: task for task in _REGISTRY}

# Derived views, kept for the public names that predate the registry.
TASKS: tuple[str, ...] = tuple(REGISTRY)  # the six task names
TASK_POOLER: dict[str, bool] = {task.name: task.pooler for task in (BASE, *_REGISTRY)}
PER_TOKEN_TASKS: tuple[str, ...] = tuple(task.name for task in _REGISTRY if task.per_token)
# Every key that can hold a target, in the order the registry first names them.
LABEL_KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for task in _REGISTRY for k in task.label_keys))
# The fine-tuning tasks first, then the language models (the order the trainer lists them in).
TRAINING_ORDER: tuple[str, ...] = tuple(sorted(TASKS, key=lambda name: REGISTRY[name].language_model))


def get_task(name: str, *, allow_base: bool = False) -> Task:
    """The `Task` called `name` (`BASE` for "base" when `allow_base`), else a ValueError listing them."""
    if allow_base and name == BASE.name:
        return BASE
    if name not in REGISTRY:
        if allow_base:
            raise ValueError(f"unknown task {name!r}; choose one of {', '.join((BASE.name, *TASKS))}")
        raise ValueError(f"task must be one of {TASKS}, got {name!r} (the bare encoder is rembert_jax.apply)")
    return REGISTRY[name]


def check_task(name: str, *, allow_base: bool = False) -> str:
    """`name` if it names a task (or "base" when `allow_base`), else `get_task`'s ValueError."""
    return get_task(name, allow_base=allow_base).name


def check_packable(name: str, what: str, remedy: str = "") -> None:
    """A ValueError unless `name`'s labels are per token: only then can sequences share a packed row
    (`rembert_jax.packing`). `what` names the setting that asked for packing."""
    if not get_task(name).per_token:
        raise ValueError(f"{what} needs a per-token task ({', '.join(PER_TOKEN_TASKS)}); {name} cannot take "
                         f"packed rows: it has one label per example, so its examples cannot share a row{remedy}")


def task_of_architecture(architecture: str) -> str | None:
    """The task whose transformers class (PyTorch, or its `TF` twin) is `architecture`, else None."""
    for task in (BASE, *_REGISTRY):
        if architecture in (task.architecture, f"TF{task.architecture}"):
            return task.name
    return None
