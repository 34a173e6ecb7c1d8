"""`RemBertTokenizer`: the sentencepiece RemBERT tokenizer (transformers 4.x slow behaviour, spec §6.3)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import product

import sentencepiece as spm
from tokenizers import AddedToken

from ._added import AddedVocabulary
from ._base import RemBertTokenizerBase
from ._convert import SPM_FILE, build_rembert_tokenizer, load_spm_proto
from ._files import TOKENIZER_FILE
from ._options import Lengths
from ._truncate import cut, longest_first_pair, truncation_error, window_ranges


@dataclass
class _Row:
    """One output row, with the attribute names of `tokenizers.Encoding` (unpadded)."""

    ids: list[int]
    type_ids: list[int]
    special_tokens_mask: list[int]
    tokens: list[str]
    sequence_ids: list[int | None]
    word_ids: list[int | None] | None  # None: words are not tracked (raw text)
    offsets: None = None


class RemBertTokenizer(RemBertTokenizerBase):
    """RemBERT tokenizer over `sentencepiece`, a drop-in for transformers 4.x `RemBertTokenizer`.

    Args:
        vocab_file: path to `sentencepiece.model` (a Unigram model).
        do_lower_case: lowercase the text (not the special tokens) before sentencepiece. Default False.
        remove_space, keep_accents: stored and saved, never applied (as in the reference: the
            sentencepiece model's own normaliser decides; only the fast tokenizer strips accents).
        bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token: the special
            tokens (defaults `[CLS]`, `[SEP]`, `[UNK]`, `[SEP]`, `[PAD]`, `[CLS]`, `[MASK]`, the
            google/rembert files). Tokens missing from the model are added after its pieces.
            `[MASK]` absorbs the whitespace before it.
        added_tokens_decoder: saved added tokens ({id: AddedToken or its dict}), as transformers
            passes them from tokenizer_config.json; each must get its saved id.
        model_max_length, padding_side, truncation_side, clean_up_tokenization_spaces: as in transformers.
        Other keywords are kept in `init_kwargs` and saved.

    Text is split at added tokens written in it (`add_tokens` / `add_special_tokens`, with the
    `tokenizers.AddedToken` flags lstrip, rstrip, single_word, normalized, special), each other
    chunk is lowercased if asked and encoded by `SentencePieceProcessor` (whose normaliser trims
    and collapses whitespace, so the whitespace right before an added token that does not
    lstrip it is dropped, where the fast tokenizer keeps a `▁` piece). Unknown text
    maps to the model's unk id. Word ids are tracked only for `is_split_into_words=True`;
    `return_offsets_mapping` needs `RemBertTokenizerFast`. Overflow rows (`stride`) equal the
    fast tokenizer's; pairs truncated under `longest_first` without overflow follow transformers
    4.x's slow rule. `decode` is sentencepiece's: unknown ids read " ⁇ " and control pieces (the
    `[PAD]` of the google/rembert layout) read as nothing when special tokens are kept.
    """

    def __init__(self, vocab_file: str | os.PathLike, *, added_tokens_decoder=None, **kwargs):
        load_spm_proto(vocab_file)  # clear errors for a missing or corrupt file
        self.vocab_file = os.fspath(vocab_file)
        with open(self.vocab_file, "rb") as f:
            self._model_bytes = f.read()
        self._load_processor()
        self._added_vocab = AddedVocabulary()
        super().__init__(**kwargs)
        self.init_kwargs["vocab_file"] = self.vocab_file
        self._register_added_tokens(added_tokens_decoder)

    def _load_processor(self) -> None:
        self.sp_model = spm.SentencePieceProcessor()
        self.sp_model.LoadFromSerializedProto(self._model_bytes)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("sp_model")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._load_processor()

    @classmethod
    def _from_directory(cls, directory: str, spm_path: str | None, **arguments):
        path = spm_path or os.path.join(directory, SPM_FILE)
        if not os.path.isfile(path):
            hint = " (RemBertTokenizerFast reads tokenizer.json alone)" if os.path.isfile(
                os.path.join(directory, TOKENIZER_FILE)) else ""
            raise FileNotFoundError(f"{SPM_FILE} not found in {directory!r}{hint}")
        return cls(path, **arguments)

    # ---- vocabulary --------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.sp_model.get_piece_size()

    def _model_id(self, token: str) -> int | None:
        """The sentencepiece id of `token`, or None when the model has no such piece."""
        index = self.sp_model.piece_to_id(token)
        return index if self.sp_model.id_to_piece(index) == token else None

    def _token_to_id(self, token: str) -> int:
        index = self._added_vocab.encoder.get(token)
        return index if index is not None else self.sp_model.piece_to_id(token)

    def _id_to_token(self, index: int) -> str:
        token = self._added_vocab.decoder.get(index)
        return token.content if token is not None else self.sp_model.id_to_piece(index)

    def _base_vocab(self) -> dict[str, int]:
        return {self.sp_model.id_to_piece(i): i for i in range(self.vocab_size)}

    def __len__(self) -> int:
        return self.vocab_size + sum(index >= self.vocab_size for index in self._added_vocab.decoder)

    # ---- added tokens ------------------------------------------------------------------------

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        """Id -> `AddedToken` of every added token (the special tokens included), by id."""
        return dict(sorted(self._added_vocab.decoder.items()))

    def _add_tokens(self, tokens: list[AddedToken], special_tokens: bool) -> int:
        """The `tokenizers` library's rule: a token the vocabulary has keeps its id, a new one gets len(self);
        the count is of tokens not already added with the same flags (a model piece counts once)."""
        count = 0
        for token in tokens:
            if not token.special and token.normalized and self.do_lower_case:  # transformers 4.x slow
                token = AddedToken(**{**token.__getstate__(), "content": token.content.lower()})
            index = self._added_vocab.encoder.get(token.content)
            if index is not None and self._added_vocab.decoder[index].__getstate__() == token.__getstate__():
                continue
            if index is None:
                index = self._model_id(token.content)
            self._added_vocab.add(token, len(self) if index is None else index)
            count += 1
        return count

    def _place_added_token(self, token: AddedToken, index: int) -> None:
        model_id = self._model_id(token.content)
        expected = model_id if model_id is not None else self._added_vocab.encoder.get(token.content, len(self))
        if index != expected:
            raise ValueError(
                f"added_tokens_decoder gives {token.content!r} id {index}, but this sentencepiece model "
                f"({self.vocab_size} pieces, {len(self)} tokens with the added ones) gives it id {expected}"
            )
        self._added_vocab.add(token, index)

    # ---- tokenizing --------------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[str]:
        """Text split at added tokens (transformers 4.x slow rules), each other chunk through sentencepiece."""
        if self.do_lower_case:
            text = self._added_vocab.lowercase(text, self.all_special_tokens)
        tokens: list[str] = []
        for chunk, is_added in self._added_vocab.split(text):
            if is_added:
                tokens.append(chunk)
            elif chunk:
                tokens.extend(self.sp_model.encode(chunk, out_type=str))
        return tokens

    def _text_ids(self, text, is_split_into_words: bool) -> tuple[list[int], list[int] | None]:
        if not is_split_into_words:
            return [self._token_to_id(t) for t in self._tokenize(text)], None
        ids: list[int] = []
        words: list[int] = []
        for index, word in enumerate(text):
            word_ids = [self._token_to_id(t) for t in self._tokenize(word)]
            ids += word_ids
            words += [index] * len(word_ids)
        return ids, words

    def _encode_rows(self, examples, *, add_special_tokens: bool, lengths: Lengths, stride: int,
                     is_split_into_words: bool, return_overflowing_tokens: bool, return_offsets_mapping: bool):
        if return_offsets_mapping:
            raise ValueError(
                "return_offsets_mapping needs RemBertTokenizerFast; sentencepiece gives no character offsets here"
            )
        rows, sample_mapping = [], []
        for index, (first, second) in enumerate(examples):
            sequences = [self._text_ids(first, is_split_into_words)]
            if second is not None:
                sequences.append(self._text_ids(second, is_split_into_words))
            ranges = self._truncate(index, [len(ids) for ids, _ in sequences], add_special_tokens, lengths,
                                    stride if return_overflowing_tokens else 0, return_overflowing_tokens)
            for windows in ranges:
                rows.append(self._build_row(sequences, windows, add_special_tokens))
                sample_mapping.append(index)
        return rows, sample_mapping

    def _truncate(self, index: int, sizes: list[int], add_special_tokens: bool, lengths: Lengths, stride: int,
                  overflow: bool) -> list[tuple[tuple[int, int], ...]]:
        """The (start, stop) ranges of each sequence for every output row of one example."""
        whole = tuple((0, size) for size in sizes)
        strategy, max_length = lengths.truncation, lengths.max_length
        if strategy == "do_not_truncate" or max_length is None:
            return [whole]
        pair = len(sizes) == 2
        special = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
        to_remove = sum(sizes) + special - max_length  # the base class checked max_length > special
        if to_remove <= 0:
            return [whole]
        side = self.truncation_side
        if strategy == "longest_first" and pair:  # never with overflow (checked by the base class)
            removals = longest_first_pair(sizes[0], sizes[1], to_remove)
            return [tuple(_cut_range(size, remove, side) for size, remove in zip(sizes, removals, strict=True))]
        target = 1 if strategy == "only_second" else 0
        keep = sizes[target] - to_remove
        if keep <= 0:
            which = "second" if target else "first"
            raise truncation_error(strategy, index, max_length,
                                   f"the {which} text has {sizes[target]} tokens and {to_remove} would have to go")
        if stride >= keep:
            raise truncation_error(strategy, index, max_length,
                                   f"stride={stride} must be smaller than the {keep} tokens each window keeps")
        windows = window_ranges(sizes[target], keep, stride, side)
        if not overflow:
            windows = windows[:1]
        per_sequence = [[whole[0]], [whole[1]]] if pair else [[whole[0]]]
        per_sequence[target] = windows
        return list(product(*per_sequence))

    def _build_row(self, sequences, windows, add_special_tokens: bool) -> _Row:
        ids: list[int] = []
        type_ids: list[int] = []
        special_mask: list[int] = []
        sequence_ids: list[int | None] = []
        word_ids: list[int | None] | None = [] if sequences[0][1] is not None else None
        cls_id, sep_id = self._require_cls_sep() if add_special_tokens else (None, None)

        def special(token_id: int, type_id: int) -> None:
            ids.append(token_id)
            type_ids.append(type_id)
            special_mask.append(1)
            sequence_ids.append(None)
            if word_ids is not None:
                word_ids.append(None)

        if add_special_tokens:
            special(cls_id, 0)
        for seq_index, ((seq_ids, seq_words), (start, stop)) in enumerate(zip(sequences, windows, strict=True)):
            piece = seq_ids[start:stop]
            type_id = seq_index if add_special_tokens else 0
            ids += piece
            type_ids += [type_id] * len(piece)
            special_mask += [0] * len(piece)
            sequence_ids += [seq_index] * len(piece)
            if word_ids is not None:
                word_ids += seq_words[start:stop]
            if add_special_tokens:
                special(sep_id, type_id)
        tokens = [self._id_to_token(i) for i in ids]
        return _Row(ids, type_ids, special_mask, tokens, sequence_ids, word_ids)

    # ---- decoding ----------------------------------------------------------------------------

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """sentencepiece's detokenisation; added tokens (other than the model's special pieces) are
        written as they are, `▁` read as a space.

        Around added tokens the text reads as the fast tokenizer's decoder writes it: a piece
        starting with `▁` after an added token keeps its space (sentencepiece alone would drop
        it as the dummy prefix, and would write a token beyond the model as " ⁇ ").
        """
        parts: list[str] = []
        run: list[str] = []

        def flush() -> None:
            if run:
                text = self.sp_model.decode_pieces(run)
                parts.append(" " + text if parts and run[0].startswith("▁") else text)
                run.clear()

        verbatim = {t.content for i, t in self._added_vocab.decoder.items() if i >= self.vocab_size or not t.special}
        for token in tokens:
            if token in verbatim:
                flush()
                parts.append(token.replace("▁", " "))
            else:
                run.append(token)
        flush()
        return "".join(parts)

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        if skip_special_tokens:  # the named special tokens and every added token marked special
            special = {*self.all_special_ids, *(i for i, t in self._added_vocab.decoder.items() if t.special)}
            ids = [i for i in ids if i not in special]
        return self.convert_tokens_to_string([self._id_to_token(i) for i in ids])

    # ---- files -------------------------------------------------------------------------------

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str]:
        directory = os.fspath(save_directory)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"save_vocabulary needs an existing directory, got {directory!r}")
        path = os.path.join(directory, f"{filename_prefix}-{SPM_FILE}" if filename_prefix else SPM_FILE)
        with open(path, "wb") as f:
            f.write(self._model_bytes)  # the loaded model, byte for byte
        return (path,)

    def _backend_tokenizer(self):
        """The equivalent `tokenizers.Tokenizer` (what RemBertTokenizerFast builds from this model)."""
        from sentencepiece import sentencepiece_model_pb2

        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(self._model_bytes)
        return build_rembert_tokenizer(
            proto, do_lower_case=self.do_lower_case, keep_accents=self.keep_accents,
            added_tokens=list(self.added_tokens_decoder.values()), cls_token=self.cls_token, sep_token=self.sep_token,
        )

    def _save_model_files(self, directory: str, prefix: str) -> list[str]:
        # tokenizer.json too (transformers 4.x's slow class did not write it): transformers 5 builds
        # no [CLS]/[SEP] template from sentencepiece.model alone (spec §6.5), so it needs this file.
        paths = list(self.save_vocabulary(directory, prefix or None))
        tokenizer_path = os.path.join(directory, f"{prefix}-{TOKENIZER_FILE}" if prefix else TOKENIZER_FILE)
        self._backend_tokenizer().save(tokenizer_path)
        return [*paths, tokenizer_path]


def _cut_range(size: int, remove: int, side: str) -> tuple[int, int]:
    kept = cut(range(size), remove, side)
    return (kept.start, kept.stop) if len(kept) else (0, 0)
