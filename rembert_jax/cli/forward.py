"""`rembert-jax forward`: encode sentences with a preset (random weights) or a checkpoint.

    rembert-jax forward --preset tiny "A sentence." "Another one."
    rembert-jax forward --model DIR --tokenizer DIR "A sentence."

Prints the input and output shapes, a short summary of each sentence's encoding and the time
of the first (compiling) and a later (compiled) call. A preset has random weights, so its numbers
show that the pipeline runs, not what the model knows.

A preset is tokenized by its own tokenizer (`RemBertTokenizerFast.from_preset`: shipped for `tiny`,
google/rembert's from the Hub for `rembert`) unless `--tokenizer` says otherwise; a `--model DIR` by
the tokenizer saved with it, or `--tokenizer DIR` where it has none (an error says so).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="sentences to encode (one batch)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", default=None, help="a config preset with random weights: tiny (default) or "
                                                       "rembert (full size, 2.3 GB of fp32 weights)")
    source.add_argument("--model", metavar="DIR", help="a transformers PyTorch checkpoint directory")
    parser.add_argument("--tokenizer", metavar="DIR", help="a tokenizer directory (tokenizer.json or "
                                                           "sentencepiece.model); default: --model DIR if it has one")
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"), help="compute dtype")
    parser.add_argument("--max-length", type=int, default=None, help="truncate to this many tokens "
                                                                     "(default: max_position_embeddings)")
    parser.add_argument("--seed", type=int, default=0, help="seed of a preset's random weights")


def _has_tokenizer(directory: str | None) -> bool:
    return bool(directory) and any(os.path.isfile(os.path.join(directory, name))
                                   for name in ("tokenizer.json", "sentencepiece.model"))


def _tokenize(texts: list[str], source: str, config, max_length: int):
    """`source`: a tokenizer directory or a preset name."""
    import numpy as np

    from rembert_jax import RemBertTokenizerFast

    tokenizer = RemBertTokenizerFast.from_pretrained(source)
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    inputs = {k: np.asarray(encoded[k]) for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded}
    top = int(inputs["input_ids"].max())
    if top >= config.vocab_size:
        raise ValueError(f"the tokenizer {source} produced id {top}, outside this model's vocab_size="
                         f"{config.vocab_size}: use the tokenizer that belongs to the model")
    return inputs


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as e:  # bad input: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from rembert_jax import RemBertConfig, init_params
    from rembert_jax.compiler_options import jit
    from rembert_jax.encoder import apply

    if args.model:
        config = RemBertConfig.from_pretrained(args.model)
    else:
        preset = args.preset or "tiny"
        config = RemBertConfig.from_preset(preset)
    # inputs first: a tokenizer that doesn't fit fails before any weights are read or built
    max_length = min(args.max_length or config.max_position_embeddings, config.max_position_embeddings)
    if args.tokenizer or _has_tokenizer(args.model):
        tokenizer = args.tokenizer or args.model
        inputs = _tokenize(args.texts, tokenizer, config, max_length)
        tokenization = f"tokenizer {tokenizer}"
    elif not args.model:
        inputs = _tokenize(args.texts, preset, config, max_length)
        tokenization = f"the {preset!r} preset's tokenizer"
    else:
        raise ValueError(f"{args.model} has no tokenizer (tokenizer.json or sentencepiece.model): "
                         "pass --tokenizer DIR with the model's tokenizer")
    if args.model:
        from rembert_jax.convert import load_pytorch

        config, params = load_pytorch(args.model)
        weights = f"checkpoint {args.model}"
    else:
        params = jax.jit(lambda key: init_params(config, key))(jax.random.key(args.seed))
        weights = f"preset {preset!r} with RANDOM weights (seed {args.seed})"

    forward = jit(lambda p, x: apply(p, x, config=config, policy=args.dtype))

    def timed():
        start = time.perf_counter()
        out = jax.block_until_ready(forward(params, inputs))
        return out, time.perf_counter() - start

    out, first = timed()
    _, steady = timed()

    hidden = np.asarray(out["last_hidden_state"], np.float32)  # [B, S, H]
    mask = inputs["attention_mask"].astype(bool)
    print(f"model:      {weights}; L={config.num_hidden_layers} H={config.hidden_size} "
          f"V={config.vocab_size}; compute {args.dtype} on {jax.default_backend()}")
    print(f"inputs:     {tokenization}; input_ids {tuple(inputs['input_ids'].shape)}")
    print(f"outputs:    last_hidden_state {tuple(hidden.shape)} {out['last_hidden_state'].dtype}, pooler_output "
          f"{None if out['pooler_output'] is None else tuple(out['pooler_output'].shape)}")
    for i, text in enumerate(args.texts):
        tokens = hidden[i][mask[i]]  # [n, H]
        norm = float(np.linalg.norm(tokens, axis=-1).mean())
        preview = text if len(text) <= 40 else text[:37] + "..."
        print(f"  [{i}] {int(mask[i].sum()):3d} tokens, mean |h| {norm:8.4f}, h[0,:4] "
              f"{np.array2string(tokens[0, :4], precision=4)}  {preview!r}")
    print(f"time:       first call {first * 1e3:.1f} ms (includes compilation), then {steady * 1e3:.2f} ms")
    if not np.isfinite(hidden).all():
        print("error: the output has non-finite values", file=sys.stderr)
        return 1
    return 0
