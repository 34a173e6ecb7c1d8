"""Side-by-side benchmarks against transformers/PyTorch, installed as `rembert_jax.benchmarks`.

They ship in the wheel so that `rembert-jax bench` works without a source checkout; developers still
run them as scripts (`python benchmarks/bench_forward.py`). torch and transformers are imported only
inside the functions that build the PyTorch side, so importing these modules needs neither.
"""
