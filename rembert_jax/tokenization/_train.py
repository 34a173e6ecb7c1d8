"""`RemBertTokenizerFast.train_new_from_iterator`: a new Unigram vocabulary with the same pipeline.

transformers' recipe for a Unigram `tokenizers.Tokenizer`: keep the normalizer, pre-tokenizer
and decoder, empty the vocabulary down to the unknown token, train with `UnigramTrainer` with
every added token as a special token of the trainer (so they take the first ids), then point the
`[CLS] A [SEP]` template at the new ids.
"""

from __future__ import annotations

import json

from tokenizers import AddedToken, Tokenizer
from tokenizers.trainers import UnigramTrainer


def _renamed(token: str | None, special_tokens_map: dict[str, str]) -> str | None:
    return special_tokens_map.get(token, token) if token is not None else None


def train_like(tokenizer, text_iterator, vocab_size: int, *, length: int | None, new_special_tokens,
               special_tokens_map: dict[str, str] | None, **trainer_kwargs):
    """The trained copy of the fast RemBERT `tokenizer` (see `RemBertTokenizerFast.train_new_from_iterator`)."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    rename = dict(special_tokens_map or {})
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    added = state.pop("added_tokens")
    post_processor = state.pop("post_processor")
    state["truncation"] = state["padding"] = None
    model = state["model"]
    if model["type"] != "Unigram":
        raise ValueError(f"train_new_from_iterator expects a Unigram tokenizer, this one is {model['type']}")
    if model["unk_id"] is not None:
        unk_token = _renamed(model["vocab"][model["unk_id"]][0], rename)
        model["unk_id"], model["vocab"] = 0, [[unk_token, 0.0]]
        trainer_kwargs.setdefault("unk_token", unk_token)
    trained = Tokenizer.from_str(json.dumps(state))
    # transformers drops the "special" flag here: the trainer registers all of them as special tokens.
    special = [AddedToken(**{**{k: v for k, v in token.items() if k not in ("id", "special")},
                             "content": _renamed(token["content"], rename)}) for token in added]
    special += list(new_special_tokens or [])
    trainer = UnigramTrainer(vocab_size=vocab_size, special_tokens=special, **trainer_kwargs)
    trained.train_from_iterator(text_iterator, trainer=trainer, length=length)
    if post_processor is not None:
        for entry in post_processor.get("special_tokens", {}).values():
            entry["tokens"] = [_renamed(token, rename) for token in entry["tokens"]]
            ids = [trained.token_to_id(token) for token in entry["tokens"]]
            if None in ids:
                raise ValueError(f"the trained vocabulary has no {entry['tokens']} for the [CLS]/[SEP] template")
            entry["ids"] = ids
        trained_state = json.loads(trained.to_str())
        trained_state["post_processor"] = post_processor
        trained = Tokenizer.from_str(json.dumps(trained_state))
    arguments = {key: value for key, value in tokenizer.init_kwargs.items()
                 if key not in ("vocab_file", "tokenizer_file", "name_or_path")}
    for name, token in tokenizer.special_tokens_map.items():
        arguments[name] = [_renamed(t, rename) for t in token] if isinstance(token, list) else _renamed(token, rename)
    extra = [*arguments.get("additional_special_tokens", []),
             *(str(t) for t in new_special_tokens or [])]
    arguments["additional_special_tokens"] = list(dict.fromkeys(extra))
    return type(tokenizer)(tokenizer_object=trained, **arguments)
