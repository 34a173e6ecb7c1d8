"""Run configs: the YAML file behind `rembert-jax train CONFIG.yaml [key=value ...]`.

A run config is a tree of small frozen dataclasses (one per YAML section). Loading checks every
key and value on the host, before anything is built, and a bad one raises a `ValueError` that names
the dotted key (`optim.learning_rate`), what was given and what is allowed. Overrides on the
command line use the same dotted keys and YAML value syntax: `optim.learning_rate=3e-4`.

The `data` section belongs to the data pipeline (`rembert_jax.train.data`); it is kept as a plain
mapping here and checked by the pipeline when it is built, still before any jit.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import yaml

from rembert_jax.convert.formats import WRITABLE, WRITABLE_SPELLINGS  # export.formats: the one table's names
from rembert_jax.tasks import TRAINING_ORDER as TASKS
from rembert_jax.tasks import check_packable

SCHEDULES = ("linear", "cosine", "constant")
REMAT_CHOICES = ("none", "dots", "full")  # rembert_jax.encoder.REMAT_POLICIES (not imported: no jax here)


@dataclasses.dataclass(frozen=True)
class ModelSection:
    """Which model to train. `init_from` (weights in any format the converters read) wins over
    `config` (a preset name such as "tiny", a config.json, or a directory holding one)."""

    config: str | None = "tiny"
    init_from: str | None = None
    overrides: dict = dataclasses.field(default_factory=dict)  # RemBertConfig fields, e.g. num_hidden_layers
    dtype: str = "fp32"  # compute dtype: fp32 | bf16 | fp16 | fp8 (bf16 + FP8 GEMMs); master weights stay fp32
    remat: str = "none"  # none | dots | full: recompute in the backward pass (dots: ~half the memory on a GPU)


@dataclasses.dataclass(frozen=True)
class OptimSection:
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    schedule: str = "linear"  # linear | cosine | constant, after the warmup
    warmup_steps: int = 0
    end_learning_rate: float = 0.0
    max_grad_norm: float | None = 1.0  # None: no clipping
    grad_accum_steps: int = 1
    layer_decay: float | None = None  # layer-wise LR decay factor in (0, 1]; None: off


@dataclasses.dataclass(frozen=True)
class TrainSection:
    steps: int = 1000  # optimizer updates (each of grad_accum_steps micro-batches)
    batch_size: int = 32  # examples per micro-batch (global, across devices)
    eval_batch_size: int | None = None  # default: batch_size
    seed: int = 0
    log_every: int = 10
    eval_every: int | None = None  # optimizer steps between evaluations; None: only at the end
    dropout: bool = True  # False: deterministic steps (no dropout rng), as in the parity tests
    progress_bar: bool = True


@dataclasses.dataclass(frozen=True)
class CheckpointSection:
    every: int | None = 500  # optimizer steps between periodic checkpoints; None: only the final one
    keep: int = 2  # the N most recent checkpoints are kept
    keep_best: int = 1  # plus the N best by `best_metric` (evaluated checkpoints only)
    best_metric: str | None = None  # an eval metric name, e.g. "accuracy"; None: no best tracking
    best_mode: str = "max"  # max | min
    async_save: bool = True


@dataclasses.dataclass(frozen=True)
class ExportSection:
    formats: tuple = ()  # any of convert.formats.WRITABLE: "pytorch", "tf-h5" (or "tf"), "tf-checkpoint", "jax"
    dir: str | None = None  # default: <output_dir>/export


@dataclasses.dataclass(frozen=True)
class MeshSection:
    """Devices per mesh axis (rembert_jax.sharding); -1 on one axis: all devices the others leave
    (as many as the batch sizes split over; `train.placement.mesh_shape`). Default: every device on data."""

    data: int = -1
    fsdp: int = 1
    tensor: int = 1


@dataclasses.dataclass(frozen=True)
class DistributedSection:
    """Several processes (hosts) on JAX's distributed runtime; every process runs the same command.

    Unset keys fall back to the environment: JAX_COORDINATOR_ADDRESS (JAX's own variable),
    JAX_NUM_PROCESSES, JAX_PROCESS_ID. With a coordinator but no process count, JAX detects the
    cluster (SLURM, Open MPI, ...). Nothing set: one process.
    """

    coordinator_address: str | None = None  # host:port of process 0
    num_processes: int | None = None
    process_id: int | None = None


@dataclasses.dataclass(frozen=True)
class RunConfig:
    task: str = "sequence_classification"
    output_dir: str = "runs/default"
    model: ModelSection = dataclasses.field(default_factory=ModelSection)
    data: dict = dataclasses.field(default_factory=dict)
    optim: OptimSection = dataclasses.field(default_factory=OptimSection)
    train: TrainSection = dataclasses.field(default_factory=TrainSection)
    checkpoint: CheckpointSection = dataclasses.field(default_factory=CheckpointSection)
    export: ExportSection = dataclasses.field(default_factory=ExportSection)
    mesh: MeshSection = dataclasses.field(default_factory=MeshSection)
    distributed: DistributedSection = dataclasses.field(default_factory=DistributedSection)

    def __post_init__(self):
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "run config") -> RunConfig:
        return _build(cls, data, prefix="", source=source)

    def replace(self, **overrides) -> RunConfig:
        """A copy with dotted keys changed: `cfg.replace(**{"optim.learning_rate": 1e-3})`."""
        data = self.to_dict()
        for key, value in overrides.items():
            _set_dotted(data, key, value, source="override")
        return RunConfig.from_dict(data, source="override")

    @property
    def eval_batch_size(self) -> int:
        return self.train.eval_batch_size or self.train.batch_size


def load_run_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML run config and apply `key=value` overrides (values in YAML syntax)."""
    path = os.fspath(path)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
    else:
        text = _packaged_run_config(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{path} is not valid YAML: {e}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a YAML mapping at the top level, got {type(data).__name__}")
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like section.key=value (e.g. optim.learning_rate=1e-4)")
        _set_dotted(data, key.strip(), _parse_value(text), source="override")
    return RunConfig.from_dict(data, source=path)


def packaged_run_configs() -> tuple[str, ...]:
    """Names of the run configs shipped in the package (`configs/*.yaml`)."""
    files = resources.files("rembert_jax.configs").iterdir()
    return tuple(sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml")))


def _packaged_run_config(path: str) -> str:
    """The text of a shipped run config named by `path` ("demo", "demo.yaml" or "configs/demo.yaml"),
    so the commands work from an installed wheel as from a checkout."""
    name = os.path.basename(path)
    name = name[: -len(".yaml")] if name.endswith(".yaml") else name
    if os.path.dirname(path) in ("", "configs") and name in packaged_run_configs():
        return resources.files("rembert_jax.configs").joinpath(f"{name}.yaml").read_text("utf-8")
    raise FileNotFoundError(f"no run config at {path!r}; shipped run configs: {', '.join(packaged_run_configs())}")


def _parse_value(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _set_dotted(data: dict, key: str, value, *, source: str) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"{source}: {'.'.join(parts[: i + 1])!r} is not a section, can't set {key!r}")
        node = child
    node[parts[-1]] = value


# ----------------------------------------------------------------------------- building and checking


def _build(cls, data, *, prefix: str, source: str):
    where = prefix.rstrip(".") or "the top level"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: {where} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{source}: unknown key {prefix + str(unknown[0])!r}; "
                         f"known keys at {where}: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, key=prefix + name, source=source)
    try:
        return cls(**kwargs)
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(source) else f"{source}: {msg}") from None


def _coerce(hint, value, *, key: str, source: str):
    """Check `value` against the field's type hint; YAML's "1e-3" (a string in YAML 1.1) becomes a float."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, prefix=key + ".", source=source)
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ValueError(f"{source}: {key} must not be empty (null)")
    errors = []
    for option in options:
        if option is type(None):
            continue
        if option is bool:
            if isinstance(value, bool):
                return value
        elif option is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif option is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
        elif option is str:
            if isinstance(value, str):
                return value
        elif option is dict:
            if isinstance(value, Mapping):
                return dict(value)
        elif option is tuple:
            if isinstance(value, str):
                return (value,)
            if isinstance(value, Sequence):
                return tuple(value)
        errors.append(getattr(option, "__name__", str(option)))
    allowed = " or ".join(errors) + (" or null" if type(None) in options else "")
    raise ValueError(f"{source}: {key} must be {allowed}, got {value!r}")


def _validate(cfg: RunConfig) -> None:
    def need(ok: bool, key: str, message: str):
        if not ok:
            raise ValueError(f"{key} {message}")

    need(cfg.task in TASKS, "task", f"must be one of {', '.join(TASKS)}, got {cfg.task!r}")
    if cfg.data.get("packing"):
        check_packable(cfg.task, "data.packing", remedy=": set data.packing=false")
    m, o, t, c = cfg.model, cfg.optim, cfg.train, cfg.checkpoint
    need(m.config is not None or m.init_from is not None, "model.config",
         "or model.init_from must be set (a preset such as 'tiny', a config.json, or a weights directory)")
    need(m.dtype in ("fp32", "bf16", "fp16", "fp8"), "model.dtype", f"must be fp32, bf16, fp16 or fp8, got {m.dtype!r}")
    need(m.remat in REMAT_CHOICES, "model.remat", f"must be one of {', '.join(REMAT_CHOICES)}, got {m.remat!r}")
    need(o.learning_rate > 0, "optim.learning_rate", f"must be > 0, got {o.learning_rate}")
    need(o.weight_decay >= 0, "optim.weight_decay", f"must be >= 0, got {o.weight_decay}")
    need(0 <= o.b1 < 1, "optim.b1", f"must be in [0, 1), got {o.b1}")
    need(0 <= o.b2 < 1, "optim.b2", f"must be in [0, 1), got {o.b2}")
    need(o.eps > 0, "optim.eps", f"must be > 0, got {o.eps}")
    need(o.schedule in SCHEDULES, "optim.schedule", f"must be one of {', '.join(SCHEDULES)}, got {o.schedule!r}")
    need(0 <= o.warmup_steps <= t.steps, "optim.warmup_steps",
         f"must be in [0, train.steps={t.steps}], got {o.warmup_steps}")
    need(o.end_learning_rate >= 0, "optim.end_learning_rate", f"must be >= 0, got {o.end_learning_rate}")
    need(o.max_grad_norm is None or o.max_grad_norm > 0, "optim.max_grad_norm",
         f"must be > 0 or null, got {o.max_grad_norm}")
    need(o.grad_accum_steps >= 1, "optim.grad_accum_steps", f"must be >= 1, got {o.grad_accum_steps}")
    need(o.layer_decay is None or 0 < o.layer_decay <= 1, "optim.layer_decay",
         f"must be in (0, 1] or null, got {o.layer_decay}")
    need(t.steps >= 1, "train.steps", f"must be >= 1, got {t.steps}")
    need(t.batch_size >= 1, "train.batch_size", f"must be >= 1, got {t.batch_size}")
    need(t.eval_batch_size is None or t.eval_batch_size >= 1, "train.eval_batch_size",
         f"must be >= 1 or null, got {t.eval_batch_size}")
    need(t.log_every >= 1, "train.log_every", f"must be >= 1, got {t.log_every}")
    need(t.eval_every is None or t.eval_every >= 1, "train.eval_every", f"must be >= 1 or null, got {t.eval_every}")
    need(c.every is None or c.every >= 1, "checkpoint.every", f"must be >= 1 or null, got {c.every}")
    need(c.keep >= 1, "checkpoint.keep", f"must be >= 1, got {c.keep}")
    need(c.keep_best >= 0, "checkpoint.keep_best", f"must be >= 0, got {c.keep_best}")
    need(c.best_mode in ("max", "min"), "checkpoint.best_mode", f"must be max or min, got {c.best_mode!r}")
    bad = [f for f in cfg.export.formats if f not in WRITABLE_SPELLINGS]
    need(not bad, "export.formats", f"must be a list of {', '.join(WRITABLE)} (tf = tf-h5), got {list(cfg.export.formats)}")
    d = cfg.distributed
    need(d.num_processes is None or d.num_processes >= 1, "distributed.num_processes",
         f"must be >= 1 or null, got {d.num_processes}")
    need(d.process_id is None or d.process_id >= 0, "distributed.process_id", f"must be >= 0 or null, got {d.process_id}")
    need(d.process_id is None or d.num_processes is None or d.process_id < d.num_processes, "distributed.process_id",
         f"must be in [0, distributed.num_processes={d.num_processes}), got {d.process_id}")
    for axis in ("data", "fsdp", "tensor"):
        size = getattr(cfg.mesh, axis)
        need(size == -1 or size >= 1, f"mesh.{axis}", f"must be >= 1 or -1 (all devices), got {size}")


def distributed_settings(section: DistributedSection, environ: Mapping[str, str] = os.environ) -> dict | None:
    """The `jax.distributed.initialize` arguments for this run, or None for a single process.

    Run-config keys win over the environment (see `DistributedSection`).
    """
    def from_env(name: str, key: str):
        text = environ.get(name)
        if text is None or text == "":
            return None
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"environment variable {name} must be an integer ({key}), got {text!r}") from None

    address = section.coordinator_address or environ.get("JAX_COORDINATOR_ADDRESS") or None
    count = section.num_processes if section.num_processes is not None else from_env("JAX_NUM_PROCESSES",
                                                                                      "distributed.num_processes")
    index = section.process_id if section.process_id is not None else from_env("JAX_PROCESS_ID",
                                                                               "distributed.process_id")
    if address is None and (count is None or count == 1):
        return None
    if count is not None and index is not None and not 0 <= index < count:
        raise ValueError(f"distributed.process_id must be in [0, num_processes={count}), got {index}")
    if address is None:
        raise ValueError(f"distributed.num_processes={count} needs distributed.coordinator_address "
                         "(host:port of process 0), or JAX_COORDINATOR_ADDRESS in the environment")
    return {"coordinator_address": address, "num_processes": count, "process_id": index}


def _to_plain(value):
    if isinstance(value, Mapping):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    return value
