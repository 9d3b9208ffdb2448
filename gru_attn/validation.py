"""Config validation at the door, and Hydra's own errors as one line.

:data:`SCHEMA` is the table of every numeric, boolean and choice setting of the configs
(``conf/``): its type and range. :func:`validate_config` checks a composed config
against it, and checks that every ``_target_`` node sets only arguments its target
takes, before any work; each bad setting is one line ``<option>=<value>: <reason>``
(an :class:`~gru_attn.errors.InputError` holding one line per problem). Keys a config
does not have are not checked (your own model's settings are checked by its constructor);
defaults live in the YAML files only.

:func:`run_hydra` runs a ``@hydra.main`` entry point so that Hydra's own errors (an
unknown key ``foo=1``, ``logger=nonexistent``, a malformed override, a sweep in a single
run) and any :class:`InputError` raised outside the task function (the sweeper's) end in
one ``error: <override>: <reason>`` line naming the valid choices, with exit status 2.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import sys
from dataclasses import dataclass

from omegaconf import DictConfig, ListConfig, OmegaConf

from gru_attn.errors import InputError, print_error, safe_streams


@dataclass(frozen=True)
class Rule:
    """One setting: ``kind`` (``int``, ``float``, ``bool``, ``str`` or ``"choice"``), optional
    bounds (``ge``/``gt``/``le``/``lt``), ``null`` allowed, ``choices`` for a choice."""

    kind: object
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    null: bool = False
    choices: tuple = ()

    def expected(self) -> str:
        """What the rule accepts, in words."""
        if self.kind == "choice":
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.kind is bool:
            text = "true or false"
        elif self.kind is str:
            text = "a string"
        else:
            text = "a whole number" if self.kind is int else "a finite number"
            bounds = [
                f"{op} {v:g}"
                for op, v in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
                if v is not None
            ]
            if bounds:
                text += " " + " and ".join(bounds)
        return text + (" (or null)" if self.null else "")

    def accepts(self, value) -> bool:
        if value is None:
            return self.null
        if self.kind == "choice":
            return value in self.choices
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is str:
            return isinstance(value, str)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )


def Int(ge=None, gt=None, le=None, null=False) -> Rule:  # noqa: N802 - reads as a type in the table
    return Rule(int, ge=ge, gt=gt, le=le, null=null)


def Num(ge=None, gt=None, le=None, lt=None, null=False) -> Rule:  # noqa: N802
    return Rule(float, ge=ge, gt=gt, le=le, lt=lt, null=null)


BOOL = Rule(bool)
PROBABILITY = Num(ge=0, le=1)
WEIGHT = Num(ge=0)
PITCH_METHODS = ("model", "praat", "world", "harvest")  # gru_attn.pitch.INFERENCE_METHODS (checked by a test)

# Every numeric / boolean / choice setting of conf/: key -> rule.
SCHEMA: dict[str, Rule] = {
    "seed": Int(ge=0),
    "optimized_direction": Rule("choice", choices=("maximize", "minimize")),
    "optimized_metric": Rule(str),
    # loss
    "loss.voiced_weight": WEIGHT,
    "loss.onset_weight": WEIGHT,
    "loss.offset_weight": WEIGHT,
    "loss.pitch_weight": WEIGHT,
    "loss.pitch_sigma": Num(gt=0),
    "loss.event_width": Int(ge=0),
    "loss.voiced_lead_weight": WEIGHT,
    # decode (gru_attn.decode.DecodeParams)
    "decode.onset_threshold": PROBABILITY,
    "decode.offset_threshold": PROBABILITY,
    "decode.voiced_threshold": PROBABILITY,
    "decode.min_voiced_fraction": PROBABILITY,
    "decode.smooth_frames": Int(ge=0),
    "decode.peak_distance_frames": Int(ge=1),
    "decode.min_note_frames": Int(ge=0),
    "decode.min_silence_frames": Int(ge=1),
    "decode.split_semitones": Num(ge=0),
    "decode.split_frames": Int(ge=1),
    "decode.round_pitch": BOOL,
    "inference.pitch_method": Rule("choice", choices=PITCH_METHODS),
    # trainer
    "trainer.max_epochs": Int(ge=1),
    "trainer.device": Rule(str),
    "trainer.amp": BOOL,
    "trainer.grad_clip": Num(gt=0, null=True),
    "trainer.early_stopping_patience": Int(ge=1, null=True),
    "trainer.checkpoint_every": Int(ge=0),
    "trainer.max_minutes": Num(gt=0, null=True),
    "trainer.limit_train_batches": Int(ge=1, null=True),
    "trainer.segment_frames": Int(ge=1, null=True),
    "trainer.resume": Rule(str, null=True),
    "trainer.threads": Int(ge=1, null=True),
    "trainer.frame_step": Int(ge=1),
    # data
    "data.batch_size": Int(ge=1),
    "data.chunk_frames": Int(ge=1),
    "data.val_fraction": Num(ge=0, lt=1),
    "data.split_seed": Int(ge=0),
    "data.corpus.minutes_train": Num(gt=0),
    "data.corpus.minutes_val": Num(gt=0),
    "data.corpus.minutes_test": Num(ge=0),
    "data.corpus.seed": Int(ge=0),
    "data.corpus.accompaniment_share": PROBABILITY,
    "data.corpus.recording_chain": BOOL,
    # model (the shipped architecture's settings; another model checks its own)
    "model.hidden_dim": Int(ge=1),
    "model.num_layers": Int(ge=1),
    "model.num_heads": Int(ge=1),
    "model.dropout": Num(ge=0, lt=1),
    "model.context": Int(ge=0),
    "model.pitch_head": BOOL,
    "model.pitch_features": BOOL,
    # optimizer / scheduler
    "optimizer.lr": Num(gt=0),
    "optimizer.weight_decay": Num(ge=0),
    "optimizer.momentum": Num(ge=0, lt=1),
    "optimizer.nesterov": BOOL,
    "scheduler.T_max": Int(ge=1),
    "scheduler.eta_min": Num(ge=0),
    "scheduler.factor": Num(gt=0, lt=1),
    "scheduler.patience": Int(ge=0),
    "scheduler.epochs": Int(ge=1),
    "scheduler.warmup": Num(ge=0, lt=1),
    # logger
    "logger.log_every_n_steps": Int(ge=1),
}

# The sweeper's settings (hydra.sweeper.*, checked by gru_attn.sweep.sweeper before a study opens).
SWEEPER_SCHEMA: dict[str, Rule] = {
    "hydra.sweeper.n_trials": Int(ge=1),
    "hydra.sweeper.n_jobs": Int(ge=1, null=True),
    "hydra.sweeper.max_failure_rate": PROBABILITY,
    "hydra.sweeper.heartbeat_interval": Num(gt=0),
    "hydra.sweeper.grace_period": Num(gt=0, null=True),
    "hydra.sweeper.reseed": BOOL,
}

# Every-element rules of list settings: key -> (rule, length or None)
LIST_SCHEMA: dict[str, tuple[Rule, int | None]] = {
    "model.conv_channels": (Int(ge=1), None),
    "data.augment.pitch_shift_bins": (Int(), 2),
}

# Config nodes built by hydra.utils.instantiate: their keys must be arguments of the target;
# and nodes passed as keyword arguments to a fixed class (node -> class).
TARGET_NODES = ("model", "optimizer", "scheduler", "loss", "logger", "data.corpus")
SETTINGS_NODES = {"trainer": "gru_attn.engine.TrainerSettings", "decode": "gru_attn.decode.DecodeParams"}
_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
_BUILT_LATER = {"model": {"n_channels", "n_bins"}}  # arguments train adds from the data


def _show(value) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def check_values(values: dict, schema: dict[str, Rule]) -> list[str]:
    """Problems (``key=value: expected ...``) of ``values`` (key -> plain value) under ``schema``;
    keys missing from ``values`` are not checked."""
    problems = []
    for key, rule in schema.items():
        if key in values and not rule.accepts(values[key]):
            problems.append(f"{key}={_show(values[key])}: expected {rule.expected()}")
    return problems


def _select(cfg: DictConfig, key: str):
    """(found, plain value) of ``key`` in ``cfg`` (interpolations resolved)."""
    node, _, last = key.rpartition(".")
    parent = OmegaConf.select(cfg, node) if node else cfg
    if not isinstance(parent, DictConfig) or last not in parent:
        return False, None
    if OmegaConf.is_interpolation(parent, last):  # follows another setting, which is checked itself
        return False, None
    value = parent[last]
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=True)
    return True, value


def _check_lists(cfg: DictConfig) -> list[str]:
    problems = []
    for key, (rule, length) in LIST_SCHEMA.items():
        found, value = _select(cfg, key)
        if not found or value is None:
            continue
        if (
            not isinstance(value, list)
            or (length is not None and len(value) != length)
            or not all(rule.accepts(v) for v in value)
        ):
            size = f"{length} " if length else ""
            problems.append(f"{key}={_show(value)}: expected a list of {size}{rule.expected()}s")
        elif key == "data.augment.pitch_shift_bins" and value[0] > value[1]:
            problems.append(f"{key}={value}: expected [lo, hi] with lo <= hi")
    return problems


def _target_callable(target: str):
    from hydra.utils import get_object

    from gru_attn.config import target_allowed

    if not target_allowed(target):
        return None  # refused by gru_attn.train.instantiate with its own line
    try:
        return get_object(target)
    except Exception:  # noqa: BLE001 - cannot be imported: instantiate reports it
        return None


def _check_targets(cfg: DictConfig) -> list[str]:
    """Keys of ``_target_`` nodes that are not arguments of their target (``+model.foo=1``)."""
    problems = []
    choices = _choices()
    for node_key in (*TARGET_NODES, *SETTINGS_NODES):
        node = OmegaConf.select(cfg, node_key)
        if not isinstance(node, DictConfig):
            continue
        target = node.get("_target_") if "_target_" in node else SETTINGS_NODES.get(node_key)
        if not isinstance(target, str):
            continue
        fn = _target_callable(target)
        if fn is None:
            continue
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        if any(p.kind == p.VAR_KEYWORD for p in params.values()):
            continue
        allowed = set(params) | _HYDRA_KEYS | _BUILT_LATER.get(node_key, set())
        unknown = [f"{node_key}.{key}" for key in node if key not in allowed]
        if not unknown:
            continue
        group = node_key.split(".")[0]
        picked = f" ({group}={choices[group]})" if group in choices else ""
        hint = ""
        if group == "data" and choices.get("experiment"):
            hint = (
                f"; experiment={choices['experiment']} is a preset for the synthetic corpus "
                "(it sets data.corpus.minutes_*), not for this data set"
            )
        valid = ", ".join(
            sorted(set(params) - {"self", "params", "splits", "progress"} - _BUILT_LATER.get(node_key, set()))
        )
        problems.append(
            f"{', '.join(unknown)}: {'not a setting' if len(unknown) == 1 else 'not settings'} "
            f"of {target}{picked}{hint}; its settings: {valid}"
        )
    return problems


def _choices() -> dict:
    """Hydra's config-group choices of the current run ({} outside a Hydra run)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    except Exception:  # noqa: BLE001
        return {}


def validate_config(cfg: DictConfig) -> None:
    """InputError (one line per problem) unless every setting of :data:`SCHEMA` / :data:`LIST_SCHEMA`
    present in ``cfg`` has the right type and range and every ``_target_`` node sets only arguments
    of its target."""
    values = {}
    problems = []
    for key in SCHEMA:
        try:
            found, value = _select(cfg, key)
        except Exception as exc:  # noqa: BLE001 - an interpolation that does not resolve
            problems.append(f"{key}: {str(exc).splitlines()[0]}")
            continue
        if found:
            values[key] = value
    problems += check_values(values, SCHEMA) + _check_lists(cfg) + _check_targets(cfg)
    if problems:
        raise InputError("\n".join(problems))


# --------------------------------------------------------------------------- Hydra's errors


def _overrides(argv: list[str]) -> list[str]:
    """The ``key=value`` overrides of a Hydra command line (flags and their values left out)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in (
            "--config-path",
            "-cp",
            "--config-name",
            "-cn",
            "--config-dir",
            "-cd",
            "--package",
            "-p",
            "--experimental-rerun",
            "--info",
            "-i",
        ):
            skip = arg not in ("--info", "-i")
            continue
        if not arg.startswith("-") and ("=" in arg or arg.startswith("~")):
            out.append(arg)
    return out


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _find_override(overrides: list[str], key: str) -> str:
    key = key.lstrip("+~")
    for override in overrides:
        if _key(override) == key or _key(override).endswith("/" + key) or key.endswith("/" + _key(override)):
            return override
    return key


def _valid_keys(parent: str, overrides: list[str], config_name: str) -> str:
    """Keys of config node ``parent`` ('' = the root) when composed with ``overrides``, or ''."""
    try:
        from hydra.core.global_hydra import GlobalHydra

        from gru_attn.config import compose

        GlobalHydra.instance().clear()
        cfg = compose(overrides, config_name=config_name)
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if isinstance(node, DictConfig):
            return ", ".join(k for k in node if k not in _HYDRA_KEYS and k != "hydra")
    except Exception:  # noqa: BLE001 - the list is a courtesy
        pass
    return ""


def hydra_error_line(exc: BaseException, argv: list[str], config_name: str = "train") -> str:
    """One line ``<override>: <reason>`` for an exception Hydra (or OmegaConf) raised while parsing the
    command line or composing the config."""
    overrides = _overrides(argv)
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = re.search(r"Error parsing override '(.+?)'\n(.+)", text) or re.search(
        r"Error when parsing index: \d+, string: (.+?) out of \[.*?\n(.+)", text
    )
    if found:  # a malformed override
        reason = re.sub(r"^\w+ while evaluating '.*?': ", "", found.group(2).strip())
        return f"{found.group(1)}: {reason} (see https://hydra.cc/docs/advanced/override_grammar/basic)"
    found = re.search(r"Could not find '([^']+)'", text)
    if found and getattr(exc, "options", None) is not None:  # logger=nonexistent
        group, _, name = found.group(1).rpartition("/")
        override = _find_override(overrides, group) if group else found.group(1)
        options = ", ".join(o for o in exc.options) or "none"
        return f"{override}: no option {name!r} in group {group or '(root)'}; choose one of {options}"
    found = re.search(r"Could not (?:override|append to|delete) '([^']+)'", text) or re.search(
        r"Could not delete from config\. '([^']+)' does not exist", text
    )
    if found or "is not in struct" in text:
        key = found.group(1) if found else re.search(r"full_key: (\S+)", text).group(1)
        override = _find_override(overrides, key)
        parent = key.rpartition(".")[0]
        others = [o for o in overrides if o != override]
        valid = _valid_keys(parent, others, config_name)
        what = f"{parent} has" if parent else "the settings are"
        adding = f"; to add a new key use +{override.lstrip('+')}" if not override.startswith("+") else ""
        if "Could not delete" in text:
            return f"{_find_override(overrides, '~' + key)}: no such key to delete" + (
                f"; {what}: {valid}" if valid else ""
            )
        return f"{override}: no such setting{adding}" + (f"; {what}: {valid}" if valid else "")
    found = re.search(r"Ambiguous value for argument '(.+?)'", text)
    if found:  # a sweep in a single run
        return (
            f"{found.group(1)}: a sweep over several values needs --multirun (a list: key=[a,b]; "
            "a string with commas: quote it)"
        )
    found = re.search(r"full_key: (\S+)", text)
    key = found.group(1) if found else next((_key(o) for o in overrides if _key(o) in text), None)
    cause = str(exc.__cause__ or "").strip().splitlines()
    reason = cause[0] if cause else lines[0] if lines else type(exc).__name__
    return f"{_find_override(overrides, key)}: {reason}" if key else reason


def run_hydra(hydra_main, argv: list[str] | None = None, config_name: str = "train"):
    """Call ``hydra_main()`` (a ``@hydra.main`` function reading ``sys.argv``) with Hydra's errors and
    any InputError that escapes it printed as one ``error:`` line, exit status 2.

    Other exceptions keep their traceback (``HYDRA_FULL_ERROR`` is set for the call, so Hydra
    re-raises instead of printing a multi-line report itself).
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    safe_streams()
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        return hydra_main()
    except (InputError, HydraException, OmegaConfBaseException) as exc:
        cause = exc
        while cause is not None and not isinstance(cause, InputError):  # e.g. the sweeper's, wrapped by Hydra
            cause = cause.__cause__ or cause.__context__
        print_error(cause if cause is not None else hydra_error_line(exc, argv, config_name).splitlines()[0])
        sys.exit(2)
    finally:
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous
        try:
            from hydra.core.global_hydra import GlobalHydra

            GlobalHydra.instance().clear()
        except Exception:  # noqa: BLE001
            pass
