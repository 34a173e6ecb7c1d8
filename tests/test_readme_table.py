"""The README's table of issue 16's targets is the one `benchmarks/readme_table.py` generates
from benchmarks/results/ (a new results file needs the script run; a hand edit fails here)."""

from rembert_jax.benchmarks import readme_table


def test_readme_performance_table_is_generated_from_the_results_files():
    assert readme_table.main(["--check"]) == 0


def test_a_missing_results_file_reads_as_not_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(readme_table, "RESULTS", tmp_path)
    assert all(readme_table.OWED in row[2] for row in readme_table.cpu_rows() + readme_table.gpu_rows())
