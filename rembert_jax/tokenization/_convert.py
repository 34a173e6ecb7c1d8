"""Build the fast (`tokenizers`) RemBERT pipeline from a sentencepiece model (spec §6.4).

This is the equivalent of transformers' `RemBertConverter`: a Unigram model over every
sentencepiece piece (in order, with its score), the normalizer chain

    Replace("``", '"') -> Replace("''", '"') -> Replace(" {2,}", " ")
    -> [NFKD -> StripAccents]   (only when keep_accents is False)
    -> [Lowercase]              (only when do_lower_case is True)
    -> Precompiled(charsmap)    (only when the model has one)

a Metaspace pre-tokenizer and decoder (`▁`, prefix always added), and the template
`[CLS] $A [SEP]` / `[CLS] $A [SEP] $B:1 [SEP]:1`. `remove_space` is not consulted, as in the
reference. Two consequences of copying the reference exactly (tested, documented in the fast
tokenizer's docstring): the fast pipeline maps ``` `` ``` and `''` to `"` where sentencepiece does
not, and it has no trimming step, so whitespace that sentencepiece trims (at the end of a text,
before a special token written in the text, or runs of tabs/newlines, which the charsmap turns
into spaces only after the space-collapsing step) becomes a `▁` token.
"""

from __future__ import annotations

import os

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

SPM_FILE = "sentencepiece.model"
_UNIGRAM = 1  # TrainerSpec.ModelType.UNIGRAM


def load_spm_proto(path: str | os.PathLike):
    """Parse a sentencepiece `ModelProto` from `path`, with errors that say what is wrong.

    Raises FileNotFoundError when the file is missing, ValueError when it is not a sentencepiece
    Unigram model.
    """
    from sentencepiece import sentencepiece_model_pb2

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sentencepiece model not found: {path!r} (expected the `{SPM_FILE}` file)")
    with open(path, "rb") as f:
        data = f.read()
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as err:  # protobuf raises its own DecodeError type
        raise ValueError(f"{path!r} is not a valid sentencepiece model ({err})") from err
    if len(proto.pieces) == 0:
        raise ValueError(f"{path!r} is not a valid sentencepiece model (no pieces)")
    if proto.trainer_spec.model_type != _UNIGRAM:
        raise ValueError(
            f"{path!r} is a sentencepiece model of type {proto.trainer_spec.model_type}; RemBERT needs a "
            f"Unigram model (type {_UNIGRAM})"
        )
    return proto


def build_normalizer(proto, *, do_lower_case: bool, keep_accents: bool) -> normalizers.Normalizer:
    chain = [
        normalizers.Replace("``", '"'),
        normalizers.Replace("''", '"'),
        normalizers.Replace(Regex(" {2,}"), " "),
    ]
    if not keep_accents:
        chain += [normalizers.NFKD(), normalizers.StripAccents()]
    if do_lower_case:
        chain.append(normalizers.Lowercase())
    charsmap = proto.normalizer_spec.precompiled_charsmap
    if charsmap:
        chain.append(normalizers.Precompiled(charsmap))
    return normalizers.Sequence(chain)


def build_post_processor(cls_token: str, cls_id: int, sep_token: str, sep_id: int):
    return processors.TemplateProcessing(
        single=f"{cls_token}:0 $A:0 {sep_token}:0",
        pair=f"{cls_token}:0 $A:0 {sep_token}:0 $B:1 {sep_token}:1",
        special_tokens=[(cls_token, cls_id), (sep_token, sep_id)],
    )


def build_fast_tokenizer(proto, *, do_lower_case: bool, keep_accents: bool) -> Tokenizer:
    """The `tokenizers.Tokenizer` for a sentencepiece `proto`, without special tokens registered.

    The caller registers the special tokens (they decide ids and lstrip) and then sets the
    post-processor with `build_post_processor`, exactly as the reference converter looks the
    `[CLS]`/`[SEP]` ids up in the tokenizer being converted.
    """
    vocab = [(piece.piece, piece.score) for piece in proto.pieces]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=proto.trainer_spec.unk_id, byte_fallback=False))
    tokenizer.normalizer = build_normalizer(proto, do_lower_case=do_lower_case, keep_accents=keep_accents)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return tokenizer


def special_added_token(content: str, *, lstrip: bool = False) -> AddedToken:
    """An added special token as transformers registers it (not normalized, never split)."""
    return AddedToken(content, lstrip=lstrip, rstrip=False, single_word=False, normalized=False, special=True)


def add_in_order(tokenizer: Tokenizer, added_tokens: list[AddedToken]) -> None:
    """Register `added_tokens` one by one, in the order given (ids follow that order)."""
    for token in added_tokens:
        if token.special:
            tokenizer.add_special_tokens([token])
        else:
            tokenizer.add_tokens([token])


def set_template(tokenizer: Tokenizer, cls_token: str | None, sep_token: str | None) -> None:
    """The `[CLS] A [SEP] (B [SEP])` post-processor, with the ids the tokenizer gives cls and sep."""
    if cls_token is not None and sep_token is not None:
        tokenizer.post_processor = build_post_processor(
            cls_token, tokenizer.token_to_id(cls_token), sep_token, tokenizer.token_to_id(sep_token)
        )


def build_rembert_tokenizer(
    proto,
    *,
    do_lower_case: bool,
    keep_accents: bool,
    added_tokens: list[AddedToken],
    cls_token: str | None,
    sep_token: str | None,
) -> Tokenizer:
    """The full fast pipeline: `build_fast_tokenizer` plus the added tokens and the `[CLS]`/`[SEP]` template.

    `added_tokens` are registered in id order (tokens missing from the model get the next free
    ids, as transformers adds them), the special ones with the flags they carry (the mask token
    absorbs the whitespace before it).
    """
    tokenizer = build_fast_tokenizer(proto, do_lower_case=do_lower_case, keep_accents=keep_accents)
    add_in_order(tokenizer, added_tokens)
    set_template(tokenizer, cls_token, sep_token)
    return tokenizer
