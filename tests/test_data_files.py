"""Reading local data files and checking the `data:` section: formats, and errors that name the culprit."""

import json

import pytest
from data_fixtures import write_jsonl

from rembert_jax.train.data.files import DEMO_DIR, read_records, resolve_path
from rembert_jax.train.data.spec import DataSpec

RECORDS = [{"text": "un", "label": "fr"}, {"text": "one", "label": "en"}]


def test_jsonl_json_csv_and_tsv_give_the_same_records(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", RECORDS)
    (tmp_path / "a.json").write_text(json.dumps(RECORDS))
    (tmp_path / "a.csv").write_text("text,label\nun,fr\none,en\n")
    (tmp_path / "a.tsv").write_text("text\tlabel\nun\tfr\none\ten\n")
    for name in ("a.jsonl", "a.json", "a.csv", "a.tsv"):
        assert read_records(tmp_path / name) == RECORDS, name


def test_parquet_is_read_with_pyarrow(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(RECORDS), tmp_path / "a.parquet")
    assert read_records(tmp_path / "a.parquet") == RECORDS


def test_squad_json_is_flattened_to_one_record_per_question(tmp_path):
    squad = {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "q1", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}]},
        {"id": "q2", "question": "Where is Lyon?", "answers": [], "is_impossible": True},
    ]}]}]}
    (tmp_path / "squad.json").write_text(json.dumps(squad))
    records = read_records(tmp_path / "squad.json")
    assert records == [
        {"id": "q1", "title": "T", "context": "Paris is in France.", "question": "Where is Paris?",
         "answers": {"text": ["France"], "answer_start": [12]}},
        {"id": "q2", "title": "T", "context": "Paris is in France.", "question": "Where is Lyon?",
         "answers": {"text": [], "answer_start": []}},
    ]


def test_explicit_format_overrides_the_extension(tmp_path):
    (tmp_path / "data.txt").write_text("text\tlabel\nun\tfr\n")
    assert read_records(tmp_path / "data.txt", "tsv") == [{"text": "un", "label": "fr"}]


def test_demo_prefix_points_into_the_embedded_dataset():
    assert resolve_path("demo:train.jsonl") == DEMO_DIR / "train.jsonl"
    assert read_records("demo:dev.jsonl")[0].keys() == {"id", "text", "label"}


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data file '.*nope\.jsonl' not found"):
        read_records(tmp_path / "nope.jsonl")


def test_unknown_extension_asks_for_data_format(tmp_path):
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(ValueError, match=r"data\.txt: cannot tell the format .*'\.txt'.*data\.format"):
        read_records(tmp_path / "data.txt")


@pytest.mark.parametrize("name, content", [("empty.jsonl", "\n\n"), ("empty.csv", "text,label\n"),
                                           ("empty.json", "[]")])
def test_empty_file_is_an_error_naming_it(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=rf"{name}: no examples"):
        read_records(tmp_path / name)


def test_bad_jsonl_line_is_named_with_its_line_number(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": \n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not valid JSON"):
        read_records(tmp_path / "bad.jsonl")


def test_csv_row_with_extra_cells_is_named(tmp_path):
    (tmp_path / "bad.csv").write_text("text,label\na,b\nc,d,e\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: 1 more cell\(s\) than the 2 header columns"):
        read_records(tmp_path / "bad.csv")


def test_unknown_data_key_is_named():
    with pytest.raises(ValueError, match=r"unknown data key\(s\) \['txt_column'\]"):
        DataSpec.from_mapping({"txt_column": "x"})


def test_unset_split_file_is_named():
    with pytest.raises(ValueError, match=r"data\.eval is not set"):
        DataSpec(train="a.jsonl").file_for("eval")


@pytest.mark.parametrize("kwargs, message", [
    ({"max_length": 2}, r"data\.max_length is 2; allowed: an integer >= 4"),
    ({"buckets": [64, 32, 128]}, r"data\.buckets \[64, 32, 128\] must be strictly increasing"),
    ({"buckets": [16, 32]}, r"must be strictly increasing and end at data\.max_length \(128\)"),
    ({"doc_stride": 64}, r"data\.doc_stride is 64; allowed: below max_length // 2 = 64"),
    ({"mlm_probability": 1.5}, r"data\.mlm_probability is 1\.5"),
    ({"labels": ["a", "a"]}, r"data\.labels must be a non-empty list of distinct names"),
    ({"format": "xml"}, r"data\.format is 'xml'"),
])
def test_bad_data_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataSpec(**kwargs)


def test_default_buckets_are_powers_of_two_up_to_max_length():
    assert DataSpec(max_length=128).bucket_lengths() == (16, 32, 64, 128)
    assert DataSpec(max_length=100).bucket_lengths() == (16, 32, 64, 100)
    assert DataSpec(max_length=128, buckets=[64, 128]).bucket_lengths() == (64, 128)


def test_labels_file_is_read_and_checked(tmp_path):
    assert DataSpec(labels="demo:labels.json").label_list()[:3] == ("en", "fr", "de")
    (tmp_path / "labels.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match=r"labels\.json: data\.labels file must hold a JSON list"):
        DataSpec(labels=str(tmp_path / "labels.json")).label_list()
    with pytest.raises(FileNotFoundError, match=r"data\.labels file '.*missing\.json' not found"):
        DataSpec(labels=str(tmp_path / "missing.json")).label_list()


@pytest.mark.parametrize(("name", "content", "line"), [
    ("bad.jsonl", b'{"text": "un", "label": "fr"}\n{"text": "d\xe9j\xe0", "label": "fr"}\n', 2),
    ("bad.json", b'[{"text": "un", "label": "fr"},\n {"text": "\xff", "label": "fr"}]\n', 2),
    ("bad.csv", b"text,label\nun,fr\none,en\n\xe9t\xe9,fr\n", 4),
    ("bad.tsv", b"text\tlabel\n\x80,fr\n", 2),
])
def test_non_utf8_bytes_are_named_with_file_and_line(tmp_path, name, content, line):
    (tmp_path / name).write_bytes(content)  # latin-1 / stray bytes, as an editor saving in cp1252 writes them
    with pytest.raises(ValueError, match=rf"{name}:{line}: not UTF-8 text \(byte 0x[0-9a-f]{{2}} at column \d+\)"):
        read_records(tmp_path / name)


def test_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"\xef\xbb\xbftext,label\nun,fr\none,en\n")
    assert read_records(tmp_path / "a.csv") == RECORDS
