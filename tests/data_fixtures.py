"""Shared helpers of the data-pipeline tests (tests/test_data_*.py).

`reference_tokenizer()` is a transformers `PreTrainedTokenizerFast` over the demo's sentencepiece model,
assembled the way transformers' RemBertConverter builds RemBERT's fast tokenizer (Unigram pieces and
scores, the converter's normalizers with the model's precompiled charsmap, Metaspace, [CLS] A [SEP]
(B [SEP]) template; spec section 6.4). It exposes exactly the call
surface the pipeline codes against (truncation, stride, overflowing tokens, offsets, word_ids,
sequence_ids), so these tests pin the pipeline independently of the project's own tokenizer, which
`test_data_demo.py` exercises separately.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from rembert_jax.train.data.files import DEMO_DIR


@functools.lru_cache(maxsize=1)
def reference_tokenizer():
    import sentencepiece as spm
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    sp = spm.SentencePieceProcessor(model_file=str(DEMO_DIR / "sentencepiece.model"))
    vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    backend = Tokenizer(models.Unigram(vocab, unk_id=sp.unk_id(), byte_fallback=False))
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((DEMO_DIR / "sentencepiece.model").read_bytes())
    backend.normalizer = normalizers.Sequence([
        normalizers.Replace("``", '"'), normalizers.Replace("''", '"'), normalizers.Replace(Regex(" {2,}"), " "),
        normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap)])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    cls_id, sep_id = sp.piece_to_id("[CLS]"), sp.piece_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
