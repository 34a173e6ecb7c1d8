"""`RemBertTokenizerFast`: the RemBERT tokenizer over the `tokenizers` library (spec §6.4)."""

from __future__ import annotations

import copy
import json
import os

from tokenizers import AddedToken, Tokenizer

from ._base import RemBertTokenizerBase
from ._convert import SPM_FILE, build_fast_tokenizer, load_spm_proto, set_template
from ._files import TOKENIZER_FILE
from ._options import Lengths
from ._train import train_like
from ._truncate import truncation_error


class RemBertTokenizerFast(RemBertTokenizerBase):
    """RemBERT tokenizer over `tokenizers`, a drop-in for transformers' `RemBertTokenizerFast`.

    Built from `tokenizer.json` when given (the file's pipeline is used as is), otherwise from
    `sentencepiece.model` by the reference converter (spec §6.4): Unigram, the normalizer chain
    (``` `` ```/`''` -> `"`, space runs collapsed, accents stripped only if `keep_accents=False`,
    lowercase only if `do_lower_case=True`, the model's charsmap), Metaspace, and the
    `[CLS] A [SEP] (B [SEP])` template.

    Constructor defaults are the slow class's and the google/rembert files' (`do_lower_case=False`,
    `keep_accents=True`, `[UNK]`, `[PAD]`). transformers 4.x's fast class defaulted to
    lowercasing, stripping accents and `<unk>`/`<pad>`, so that building it from
    `sentencepiece.model` alone changed the text; here both classes agree.

    Differences from `RemBertTokenizer` (sentencepiece), all inherited from the reference pipeline:
    ``` `` ``` and `''` become `"`; whitespace that sentencepiece trims (at the end of a text, in
    front of an added or special token written in the text that does not lstrip it (`[MASK]`
    does), runs of tabs/newlines)
    becomes a `▁` token; `decode` without `skip_special_tokens` writes `[UNK]`/`[PAD]` where
    sentencepiece writes " ⁇ "/nothing, and with it a text whose first word is wholly unknown
    decodes with a leading space; pairs truncated under `longest_first` (without overflow) lose
    tokens in the Rust library's order. Offsets (`return_offsets_mapping`) and `word_ids()`
    for raw text are fast-only.

    Added tokens (`add_tokens` / `add_special_tokens`), `train_new_from_iterator` and the saved
    `added_tokens_decoder` are the `tokenizers` library's, as in transformers.

    Differences from transformers 5's `RemBertTokenizer` (the same class in v5): v5 returns
    `token_type_ids` only when asked, and its `[MASK]` does not absorb the space before it.
    """

    is_fast = True
    vocab_files_names = {"vocab_file": SPM_FILE, "tokenizer_file": TOKENIZER_FILE}

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        tokenizer_file: str | os.PathLike | None = None,
        *,
        tokenizer_object: Tokenizer | None = None,
        added_tokens_decoder=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_file = os.fspath(vocab_file) if vocab_file is not None else None
        self._model_bytes = None
        if self.vocab_file is not None:
            proto = load_spm_proto(self.vocab_file)  # also validates a file kept only for saving
            with open(self.vocab_file, "rb") as f:
                self._model_bytes = f.read()
        if tokenizer_object is not None:
            # A copy, as transformers makes: per-call truncation and added special tokens stay ours.
            self._tokenizer = copy.deepcopy(tokenizer_object)
        elif tokenizer_file is not None:
            self._tokenizer = _read_tokenizer_json(os.fspath(tokenizer_file))
        elif self.vocab_file is not None:
            # The added tokens (saved ones at their ids, then the special tokens) are registered
            # below, and the [CLS]/[SEP] template set once they have ids, as the reference converter does.
            self._tokenizer = build_fast_tokenizer(proto, do_lower_case=self.do_lower_case,
                                                   keep_accents=self.keep_accents)
        else:
            raise ValueError(
                "RemBertTokenizerFast needs vocab_file (sentencepiece.model) or tokenizer_file (tokenizer.json)"
            )
        self.init_kwargs.update({"vocab_file": self.vocab_file, "tokenizer_file": tokenizer_file})
        self._register_added_tokens(added_tokens_decoder)
        if tokenizer_object is None and tokenizer_file is None:
            set_template(self._tokenizer, self.cls_token, self.sep_token)
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._truncation_state = None
        self._model_unk_id: int | None = None

    @classmethod
    def _from_directory(cls, directory: str, spm_path: str | None, **arguments):
        tokenizer_path = os.path.join(directory, TOKENIZER_FILE)
        spm_path = spm_path or os.path.join(directory, SPM_FILE)
        tokenizer_file = tokenizer_path if os.path.isfile(tokenizer_path) else None
        vocab_file = spm_path if os.path.isfile(spm_path) else None
        if tokenizer_file is None and vocab_file is None:
            raise FileNotFoundError(f"neither {TOKENIZER_FILE} nor {SPM_FILE} found in {directory!r}")
        return cls(vocab_file, tokenizer_file, **arguments)

    @property
    def backend_tokenizer(self) -> Tokenizer:
        """The underlying `tokenizers.Tokenizer`."""
        return self._tokenizer

    # ---- vocabulary --------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def _token_to_id(self, token: str) -> int:
        index = self._tokenizer.token_to_id(token)
        # Unknown tokens get the model's unk id, as sentencepiece's PieceToId does.
        if index is not None:
            return index
        if self._model_unk_id is None:
            # The binding does not expose the Unigram unk id; read it (once) from the model's state.
            self._model_unk_id = json.loads(self._tokenizer.model.__getstate__())["unk_id"]
        return self._model_unk_id

    def _id_to_token(self, index: int) -> str:
        return self._tokenizer.id_to_token(index)

    def _base_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=False)

    # ---- added tokens ------------------------------------------------------------------------

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        """Id -> `AddedToken` of every added token (the special tokens included), by id."""
        return dict(sorted(self._tokenizer.get_added_tokens_decoder().items()))

    def _add_tokens(self, tokens: list[AddedToken], special_tokens: bool) -> int:
        if special_tokens:
            return self._tokenizer.add_special_tokens(tokens)
        return self._tokenizer.add_tokens(tokens)

    def _place_added_token(self, token: AddedToken, index: int) -> None:
        current = self._tokenizer.token_to_id(token.content)
        if current is None and index == len(self):
            current = index
            self._add_tokens([token], token.special)
        elif current == index and self._tokenizer.get_added_tokens_decoder().get(index) is None:
            self._add_tokens([token], token.special)  # a model piece made an added token
        if current != index:
            raise ValueError(
                f"added_tokens_decoder gives {token.content!r} id {index}, but this tokenizer "
                f"({len(self)} tokens) gives it id {current if current is not None else len(self)}"
            )

    # ---- tokenizing --------------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[str]:
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        return [self._tokenizer.id_to_token(i) for i in ids]

    def _set_truncation(self, lengths: Lengths, stride: int) -> None:
        state = None
        if lengths.truncation != "do_not_truncate" and lengths.max_length is not None:
            state = (lengths.max_length, stride, lengths.truncation, self.truncation_side)
        if state == self._truncation_state:
            return
        if state is None:
            self._tokenizer.no_truncation()
        else:
            self._tokenizer.enable_truncation(state[0], stride=state[1], strategy=state[2], direction=state[3])
        self._truncation_state = state

    def _encode_rows(self, examples, *, add_special_tokens: bool, lengths: Lengths, stride: int,
                     is_split_into_words: bool, return_overflowing_tokens: bool, return_offsets_mapping: bool):
        self._set_truncation(lengths, stride if return_overflowing_tokens else 0)
        inputs = [first if second is None else (first, second) for first, second in examples]
        # Not encode_batch_fast: it drops the offsets that word_ids() and offset_mapping need.
        try:
            encodings = self._tokenizer.encode_batch(
                inputs, is_pretokenized=is_split_into_words, add_special_tokens=add_special_tokens
            )
        except BaseException as err:  # pyo3 panics (a stride too large for a pair) are BaseExceptions
            if isinstance(err, KeyboardInterrupt | SystemExit):
                raise
            raise self._explain_failure(inputs, lengths, is_split_into_words, add_special_tokens, err) from err
        if not return_overflowing_tokens:
            return encodings, list(range(len(encodings)))
        rows, sample_mapping = [], []
        for index, encoding in enumerate(encodings):
            for row in (encoding, *encoding.overflowing):
                rows.append(row)
                sample_mapping.append(index)
        return rows, sample_mapping

    def _explain_failure(self, inputs, lengths: Lengths, is_split_into_words: bool, add_special_tokens: bool,
                         err: BaseException) -> Exception:
        """A ValueError naming the example the Rust library could not truncate."""
        for index, item in enumerate(inputs):
            try:
                self._tokenizer.encode(*(item if isinstance(item, tuple) else (item,)),
                                       is_pretokenized=is_split_into_words, add_special_tokens=add_special_tokens)
            except BaseException as inner:  # noqa: BLE001 - the same panic type as above
                if isinstance(inner, KeyboardInterrupt | SystemExit):
                    raise
                return truncation_error(lengths.truncation, index, lengths.max_length,
                                        f"the text truncation may shorten is too short or the stride too large "
                                        f"(tokenizers: {str(inner).splitlines()[0]})")
        return ValueError(f"tokenizers failed to encode the batch: {err}")

    # ---- decoding ----------------------------------------------------------------------------

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self._tokenizer.decoder.decode(tokens)

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def _decode_batch(self, rows: list[list[int]], skip_special_tokens: bool) -> list[str]:
        return self._tokenizer.decode_batch(rows, skip_special_tokens=skip_special_tokens)

    # ---- training ----------------------------------------------------------------------------

    def train_new_from_iterator(self, text_iterator, vocab_size: int, length: int | None = None,
                                new_special_tokens=None, special_tokens_map: dict[str, str] | None = None,
                                **kwargs) -> RemBertTokenizerFast:
        """A new tokenizer with this one's pipeline and special tokens, its Unigram vocabulary trained on
        `text_iterator` (batches of texts) by `tokenizers`' UnigramTrainer, as transformers does.

        `new_special_tokens` are added as special tokens, `special_tokens_map` renames special
        tokens (`{"[CLS]": "<cls>"}`); other keywords go to the trainer. The result has no
        sentencepiece model: save it with `save_pretrained` (tokenizer.json).
        """
        return train_like(self, text_iterator, vocab_size, length=length, new_special_tokens=new_special_tokens,
                          special_tokens_map=special_tokens_map, **kwargs)

    # ---- files -------------------------------------------------------------------------------

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str]:
        if self._model_bytes is None:
            raise ValueError(
                "save_vocabulary needs the sentencepiece model, but this tokenizer was loaded from tokenizer.json "
                f"alone; load it from a directory that also holds {SPM_FILE}"
            )
        directory = os.fspath(save_directory)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"save_vocabulary needs an existing directory, got {directory!r}")
        path = os.path.join(directory, f"{filename_prefix}-{SPM_FILE}" if filename_prefix else SPM_FILE)
        with open(path, "wb") as f:
            f.write(self._model_bytes)
        return (path,)

    def _save_model_files(self, directory: str, prefix: str) -> list[str]:
        paths = list(self.save_vocabulary(directory, prefix or None)) if self._model_bytes is not None else []
        tokenizer_path = os.path.join(directory, f"{prefix}-{TOKENIZER_FILE}" if prefix else TOKENIZER_FILE)
        # Per-call truncation settings live on the Tokenizer; never write them into the file.
        self._tokenizer.no_truncation()
        self._truncation_state = None
        self._tokenizer.save(tokenizer_path)
        return [*paths, tokenizer_path]


def _read_tokenizer_json(path: str) -> Tokenizer:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tokenizer file not found: {path!r}")
    try:
        return Tokenizer.from_file(path)
    except Exception as err:  # the Rust library raises a bare Exception for bad JSON
        raise ValueError(f"{path!r} is not a valid tokenizers JSON file ({err})") from err
