"""Reading local data files into lists of records (plain dicts), with errors that name the file.

These readers stay next to the `datasets` data source (`hf`, whose builders read the same
formats) because they do what it does not: they work without the optional `datasets` extra (the
demo and plain installs need no pyarrow or datasets), every error names the file and line (bad
JSON, a row with more cells than the header, bytes that are not UTF-8 — `datasets` reports these
without the file), CSV/TSV cells stay the strings they are (no type guessing that turns a label
"01" into 1), a SQuAD-format JSON file is flattened to one record per question, and nothing is
written to a cache directory.

Formats, chosen by `format` or else by the file's extension:
    jsonl (.jsonl)         one JSON object a line (blank lines skipped)
    json (.json)           a JSON list of objects, or a SQuAD-format file ({"data": [{"paragraphs": ...}]}),
                           which is flattened to one record per question:
                           {"id", "title", "context", "question", "answers": {"text": [...], "answer_start": [...]}}
    csv (.csv), tsv (.tsv) a header row, then one record per row (cells are strings)
    parquet (.parquet)     needs `pyarrow` (imported only here)

Text files are read as UTF-8 (a leading byte-order mark is dropped). Paths may start with `demo:` to name a file of the embedded demo dataset (`demo:train.jsonl`);
`demo:` alone is the demo folder itself (it is also a tokenizer directory).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"  # train/demo, the package data
FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")
_EXTENSIONS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}


def resolve_path(path: str | os.PathLike) -> Path:
    """A data path as a `Path`; `demo:NAME` points into the embedded demo dataset."""
    text = os.fspath(path)
    if text.startswith("demo:"):
        return DEMO_DIR / text[len("demo:"):]
    return Path(text).expanduser()


def read_records(path: str | os.PathLike, format: str | None = None) -> list[dict]:
    """All records of one data file, in file order. Raises FileNotFoundError / ValueError naming the file."""
    file = resolve_path(path)
    if not file.is_file():
        hint = "" if file.parent.is_dir() else f" (the folder {file.parent} does not exist either)"
        raise FileNotFoundError(f"data file {os.fspath(path)!r} not found{hint}")
    format = format or _EXTENSIONS.get(file.suffix.lower())
    if format not in FORMATS:
        raise ValueError(
            f"{file}: cannot tell the format from the extension {file.suffix!r}; "
            f"set data.format to one of {list(FORMATS)}"
        )
    records = _READERS[format](file)
    if not records:
        raise ValueError(f"{file}: no examples (the file holds no records); give a file with at least one")
    return records


def read_text(file: Path) -> str:
    """The text of `file` as UTF-8; a ValueError naming the file and line when it is not UTF-8."""
    data = file.read_bytes()
    data = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, line_start = data.count(b"\n", 0, e.start) + 1, data.rfind(b"\n", 0, e.start) + 1
        raise ValueError(f"{file}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at column "
                         f"{e.start - line_start + 1}); save the file as UTF-8") from None


def first_undecodable_line(file: Path) -> int | None:
    """The number of the first line of `file` that is not UTF-8, or None."""
    with file.open("rb") as f:
        for line_number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return line_number
    return None


def _read_jsonl(file: Path) -> list[dict]:
    records = []
    # split on "\n" only: a JSON string may hold U+2028, which str.splitlines would also split on
    for line_number, line in enumerate(read_text(file).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{file}:{line_number}: not valid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{file}:{line_number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def _read_json(file: Path) -> list[dict]:
    try:
        data = json.loads(read_text(file))
    except json.JSONDecodeError as e:
        raise ValueError(f"{file}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return _flatten_squad(file, data["data"])
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        return data
    raise ValueError(f"{file}: expected a JSON list of objects or a SQuAD-format object with a 'data' list")


def _flatten_squad(file: Path, articles: list) -> list[dict]:
    records = []
    for a, article in enumerate(articles):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise ValueError(f"{file}: data[{a}] has no 'paragraphs' list (is this SQuAD format?)")
        for p, paragraph in enumerate(article["paragraphs"]):
            where = f"{file}: data[{a}].paragraphs[{p}]"
            if "context" not in paragraph or "qas" not in paragraph:
                raise ValueError(f"{where} needs 'context' and 'qas'")
            for q, qa in enumerate(paragraph["qas"]):
                if "question" not in qa:
                    raise ValueError(f"{where}.qas[{q}] has no 'question'")
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                records.append({
                    "id": str(qa.get("id", f"{a}-{p}-{q}")),
                    "title": article.get("title", ""),
                    "context": paragraph["context"],
                    "question": qa["question"],
                    "answers": {
                        "text": [answer["text"] for answer in answers],
                        "answer_start": [int(answer["answer_start"]) for answer in answers],
                    },
                })
    return records


def _read_delimited(file: Path, delimiter: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(read_text(file), newline=""), delimiter=delimiter)
    records = []
    for record in reader:
        if None in record:  # DictReader files extra cells under the key None
            raise ValueError(
                f"{file}:{reader.line_num}: {len(record[None])} more cell(s) than the "
                f"{len(reader.fieldnames)} header columns {reader.fieldnames}"
            )
        records.append(record)
    return records


def _read_parquet(file: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            f"reading {file} needs pyarrow: pip install 'pyarrow>=15' (or convert the file to JSONL)"
        ) from None
    return pq.read_table(file).to_pylist()


_READERS = {
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": lambda file: _read_delimited(file, ","),
    "tsv": lambda file: _read_delimited(file, "\t"),
    "parquet": _read_parquet,
}
