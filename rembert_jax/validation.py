"""Checks of encoder inputs, run by `apply` before its own jitted program.

XLA clamps out-of-range gathers silently, so an id >= vocab_size or a position past the table
would return plausible-looking numbers. These checks turn every such input into a ValueError that
names the input and the allowed range.

Everything that needs no values (input keys, shapes, dtypes, sequence length vs the position table,
mask rank) is read from shapes and dtypes, which a tracer has too: inside a caller's own
`jax.jit(apply, static_argnames="config")` those checks still raise, at trace time. Value checks
(ids in range, binary masks) need the numbers, so under a caller's jit they are skipped; keep them
with one line on the host before the jitted call:

    validate_inputs(inputs, config)          # then: jitted_apply(params, inputs, config=config)
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from .config import RemBertConfig

INPUT_KEYS = ("input_ids", "inputs_embeds", "attention_mask", "token_type_ids", "position_ids", "segment_ids")


def check_keys(keys, allowed, what: str) -> None:
    """ValueError naming keys outside `allowed` (and the allowed key closest to each)."""
    unknown = sorted(set(keys) - set(allowed), key=str)
    if unknown:
        hints = [f"{key!r} (did you mean {match[0]!r}?)" if (match := difflib.get_close_matches(
                 str(key), [str(a) for a in allowed], n=1, cutoff=0.5)) else repr(key) for key in unknown]
        raise ValueError(f"{what} has unknown key(s) {', '.join(hints)}; allowed: {', '.join(allowed)}")


def _concrete(x) -> np.ndarray | None:
    """x as numpy when its values are available on this host, else None (tracers, remote shards)."""
    try:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return None
        return np.asarray(x)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None  # a tracer: values only exist at run time


def _shape(x) -> tuple[int, ...]:
    return tuple(np.shape(x))


def _dtype(x) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype


def _check_integer(name: str, x) -> None:
    dtype = _dtype(x)
    if not np.issubdtype(dtype, np.integer):  # bool too: nn.Embedding refuses bool indices
        raise ValueError(f"{name} must be an integer array, got dtype {dtype}; cast it (e.g. .astype('int32'))")


def _check_range(name: str, x, low: int, high: int, what: str) -> None:
    values = _concrete(x)
    if values is None or values.size == 0:
        return
    bad = (values < low) | (values >= high)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be in [{low}, {high}) ({what}); found {int(values[first])} at index "
                         f"{first} (min {int(values.min())}, max {int(values.max())})")


def _check_binary_mask(name: str, x) -> None:
    values = _concrete(x)
    if values is not None and values.size and not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 (masked) and 1 (attend); found values "
                         f"{np.unique(values)[:8].tolist()}")


def validate_inputs(inputs: Mapping[str, Any], config: RemBertConfig, *, cache: Mapping | None = None,
                    encoder_hidden_states=None, encoder_attention_mask=None) -> tuple[int, int]:
    """Check `inputs` (and the decoder extras) against `config`; return (batch, length).

    Raises ValueError naming the offending input and the allowed range or shape.
    """
    if not isinstance(inputs, Mapping):
        raise ValueError(f"inputs must be a mapping with input_ids or inputs_embeds, got {type(inputs).__name__}")
    check_keys(inputs, INPUT_KEYS, "inputs")  # a misspelt `attn_mask` would be silently ignored
    ids, embeds = inputs.get("input_ids"), inputs.get("inputs_embeds")
    if ids is not None and embeds is not None:
        raise ValueError("pass either input_ids or inputs_embeds, not both")
    if ids is None and embeds is None:
        raise ValueError("inputs must contain input_ids [B, S] or inputs_embeds [B, S, E]")

    V, E, H = config.vocab_size, config.input_embedding_size, config.hidden_size
    if ids is not None:
        if len(_shape(ids)) != 2:
            raise ValueError(f"input_ids must have shape [batch, length], got {_shape(ids)}")
        _check_integer("input_ids", ids)
        _check_range("input_ids", ids, 0, V, f"vocab_size={V}")
        batch, length = _shape(ids)
    else:
        shape = _shape(embeds)
        if len(shape) != 3 or shape[-1] != E:
            hint = " (inputs_embeds are word embeddings before the E->H projection)" if shape[-1:] == (H,) else ""
            raise ValueError(f"inputs_embeds must have shape [batch, length, input_embedding_size={E}], "
                             f"got {shape}{hint}")
        if not np.issubdtype(_dtype(embeds), np.floating) and _dtype(embeds) != jax.numpy.bfloat16:
            raise ValueError(f"inputs_embeds must be floating point, got dtype {_dtype(embeds)}")
        batch, length = shape[:2]
    if length < 1:
        raise ValueError("input sequences must have at least one position, got length 0")

    past, max_length = 0, None
    if cache is not None:
        max_length = int(cache["self_key"].shape[2])
        index = _concrete(cache["index"])
        past = None if index is None else int(index)
        if int(cache["self_key"].shape[1]) != batch:
            raise ValueError(f"cache was built for batch {cache['self_key'].shape[1]}, inputs have batch {batch}")
        if past is not None and past + length > max_length:
            raise ValueError(f"cache overflow: {past} cached + {length} new positions exceed the cache's "
                             f"max_length={max_length}; build it with init_cache(..., max_length=...) larger")

    P, T = config.max_position_embeddings, config.type_vocab_size
    position_ids = inputs.get("position_ids")
    segment_ids = inputs.get("segment_ids")
    if position_ids is None and segment_ids is not None:
        longest = _longest_segment(segment_ids)  # positions restart per packed sequence
        if longest is not None and longest > P:
            raise ValueError(f"a packed sequence has {longest} tokens, more than max_position_embeddings={P}")
    elif position_ids is None:
        if past is not None and past + length > P:
            offset = f" + {past} cached positions" if past else ""
            raise ValueError(f"sequence length {length}{offset} exceeds max_position_embeddings={P}; "
                             "truncate the inputs (e.g. tokenizer truncation=True, max_length)")
    else:
        shape = _shape(position_ids)
        if len(shape) != 2 or shape[0] not in (1, batch) or shape[1] != length:
            raise ValueError(f"position_ids must have shape [{batch} or 1, {length}], got {shape}")
        _check_integer("position_ids", position_ids)
        _check_range("position_ids", position_ids, 0, P, f"max_position_embeddings={P}")

    token_type_ids = inputs.get("token_type_ids")
    if token_type_ids is not None:
        if _shape(token_type_ids) != (batch, length):
            raise ValueError(f"token_type_ids must have shape [{batch}, {length}] like the inputs, "
                             f"got {_shape(token_type_ids)}")
        _check_integer("token_type_ids", token_type_ids)
        _check_range("token_type_ids", token_type_ids, 0, T, f"type_vocab_size={T}")

    mask = inputs.get("attention_mask")
    if mask is not None:
        _check_mask("attention_mask", mask, batch, length, past=past, max_length=max_length)

    if segment_ids is not None:
        if cache is not None:
            raise ValueError("segment_ids (packed sequences) cannot be used with a KV cache; decode each "
                             "sequence in its own row")
        if mask is not None and len(_shape(mask)) == 3:
            raise ValueError("pass segment_ids or a 3-D attention_mask, not both: segment_ids already say "
                             "which tokens attend to which")
        if _shape(segment_ids) != (batch, length):
            raise ValueError(f"segment_ids must have shape [{batch}, {length}] like the inputs, "
                             f"got {_shape(segment_ids)}")
        _check_integer("segment_ids", segment_ids)
        _check_range("segment_ids", segment_ids, 0, length + 1,
                      "0 = padding, 1, 2, ... = the sequence's number within its row")
        _check_contiguous_segments(segment_ids)
        if encoder_hidden_states is not None and config.is_decoder:
            raise ValueError("segment_ids (packed sequences) cannot be used with cross-attention: a row has one "
                             "encoder_hidden_states, its sequences would share it; give each sequence its own row")

    if encoder_hidden_states is not None:
        if not config.is_decoder:
            pass  # the reference ignores encoder states in encoder mode
        elif not config.add_cross_attention:
            raise ValueError("encoder_hidden_states were passed, but this decoder has no cross-attention "
                             "layers: build it with config.add_cross_attention=True")
        shape = _shape(encoder_hidden_states)
        if len(shape) != 3 or shape[0] != batch or shape[2] != H:
            raise ValueError(f"encoder_hidden_states must have shape [{batch}, encoder_length, hidden_size={H}], "
                             f"got {shape}")
    if encoder_attention_mask is not None:
        enc_len = None
        if encoder_hidden_states is not None:
            enc_len = _shape(encoder_hidden_states)[1]
        elif cache is not None and "cross_key" in cache:
            enc_len = int(cache["cross_key"].shape[2])
        shape = _shape(encoder_attention_mask)
        ok = (len(shape) == 2 and shape[0] == batch) or (len(shape) == 3 and shape[:2] == (batch, length))
        if not ok or (enc_len is not None and shape[-1] != enc_len):
            raise ValueError(f"encoder_attention_mask must have shape [{batch}, encoder_length={enc_len}] or "
                             f"[{batch}, {length}, encoder_length], got {shape}")
        _check_binary_mask("encoder_attention_mask", encoder_attention_mask)
    return batch, length


def _segment_runs(values: np.ndarray) -> np.ndarray:
    """[B, S] segment ids -> [B, S] True where a run of one non-zero id starts."""
    previous = np.concatenate([np.zeros_like(values[:, :1]), values[:, :-1]], axis=1)
    return (values != previous) & (values > 0)


def _longest_segment(segment_ids) -> int | None:
    """Tokens in the longest packed sequence: 1 + the largest position the encoder derives
    (`encoder.segment_positions`: counting from 0 wherever the id changes)."""
    values = _concrete(segment_ids)
    if values is None or values.size == 0:
        return None
    index = np.broadcast_to(np.arange(values.shape[1]), values.shape)
    starts = np.concatenate([np.ones_like(values[:, :1], bool), values[:, 1:] != values[:, :-1]], axis=1)
    positions = index - np.maximum.accumulate(np.where(starts, index, 0), axis=1)
    return int(np.max(np.where(values > 0, positions + 1, 0)))


def _check_contiguous_segments(segment_ids) -> None:
    """Each non-zero id must be one run per row: the mask joins equal ids, positions restart per run."""
    values = _concrete(segment_ids)
    if values is None or values.size == 0:
        return
    for row, (ids, starts) in enumerate(zip(values, _segment_runs(values), strict=True)):
        if starts.sum() != len(np.unique(ids[ids > 0])):
            raise ValueError(f"segment_ids row {row} uses a sequence number in more than one run "
                             f"({ids.tolist()[:32]}...): number each packed sequence once, in one contiguous run")


def _check_mask(name: str, mask, batch: int, length: int, *, past: int | None, max_length: int | None) -> None:
    shape = _shape(mask)
    if max_length is None:  # no cache: keys are the inputs themselves
        allowed = f"[{batch}, {length}] or [{batch}, {length}, {length}]"
        ok = shape in ((batch, length), (batch, length, length))
    else:
        # With a cache the mask covers past + current positions ([B, PL+S], transformers'
        # convention) or every slot of the cache ([B, max_length], a fixed shape for jit loops).
        widths = {max_length} | ({past + length} if past is not None else set())
        allowed = " or ".join(f"[{batch}, {w}]" for w in sorted(widths)) + " (past + current positions)"
        ok = (len(shape) in (2, 3) and shape[0] == batch and (len(shape) == 2 or shape[1] == length)
              and (shape[-1] in widths if past is not None else length <= shape[-1] <= max_length))
    if not ok:
        raise ValueError(f"{name} must have shape {allowed}, got {shape}")
    _check_binary_mask(name, mask)
