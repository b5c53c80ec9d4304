"""The search space of ``lightcli sweep``: dotted config keys mapped to distributions, read from YAML.

::

    metric: val/acc                # optional: what to optimize (default val/loss) and the direction
    direction: maximize
    params:
      system.optimizer.init_args.lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
      system.model.init_args.hidden: {type: categorical, choices: [[32], [64, 32]]}
      trainer.max_epochs: {type: int, low: 1, high: 3}
      system.optimizer:              # a choice between classes
        type: categorical
        choices:
          - {class_path: torch.optim.Adam}
          - {class_path: torch.optim.SGD, init_args: {lr: 0.05, momentum: 0.9}}

A space is checked before any trial runs: its structure here, then every bound and choice by the
parser of ``lightcli fit`` (:func:`check_space`), so a typo in a key or a value of the wrong type is an
error naming the key, not a failed trial.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightcli.config.allowlist import import_paths, refused
from lightcli.config.preflight import preflight
from lightcli.config.problems import ConfigError, Problem
from lightcli.config.sources import shared_values

__all__ = ["SearchSpace", "check", "check_space", "overrides", "read_space"]

_TYPES = ("float", "int", "categorical")
_FIELDS = {"type", "low", "high", "log", "step", "choices"}


class SearchSpace:
    """The parameters to search: dotted config key -> distribution, plus the metric and its direction.

    Args:
        params: Dotted config key -> ``{type, low, high, log, step}`` or ``{type: categorical, choices}``.
        metric: The logged metric to optimize.
        direction: ``minimize`` or ``maximize``.
        source: Where the space comes from (for messages).
    """

    def __init__(self, params: dict[str, Any], metric: str, direction: str, source: str = "space") -> None:
        self.params = params
        self.metric = metric
        self.direction = direction
        self.source = source
        self.labels: dict[str, dict[Any, Any]] = {}  # categorical key -> label -> value
        for key, spec in params.items():
            if spec["type"] == "categorical":
                self.labels[key] = _labels(spec["choices"])

    def distributions(self) -> dict[str, Any]:
        """The Optuna distribution of each key."""
        import optuna.distributions as d

        found: dict[str, Any] = {}
        for key, spec in self.params.items():
            if spec["type"] == "categorical":
                found[key] = d.CategoricalDistribution(list(self.labels[key]))
            elif spec["type"] == "int":
                found[key] = d.IntDistribution(
                    spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step", 1)
                )
            else:
                found[key] = d.FloatDistribution(
                    spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step")
                )
        return found

    def value(self, key: str, sampled: Any) -> Any:
        """The config value of a sampled parameter (a categorical label maps back to its choice)."""
        return self.labels[key][sampled] if key in self.labels else sampled

    def corners(self) -> list[tuple[str, Any]]:
        """Every (key, value) worth checking before the first trial: the bounds and each choice."""
        found: list[tuple[str, Any]] = []
        for key, spec in self.params.items():
            values = spec["choices"] if spec["type"] == "categorical" else [spec["low"], spec["high"]]
            found += [(key, v) for v in values]
        return found


def _labels(choices: list[Any]) -> dict[Any, Any]:
    """Optuna stores str/int/float/bool/None choices; other choices (lists, classes) get a readable label."""
    labels: dict[Any, Any] = {}
    for choice in choices:
        if choice is None or isinstance(choice, (str, int, float, bool)):
            label = choice
        elif isinstance(choice, dict) and isinstance(choice.get("class_path"), str):
            label = (
                choice["class_path"]
                if len(choice) == 1
                else f"{choice['class_path']} {json.dumps(choice.get('init_args', {}), sort_keys=True)}"
            )
        else:
            label = json.dumps(choice, sort_keys=True)
        labels[label] = choice
    return labels


def _fail(source: str, key: str, expected: str, got: str, fix: str) -> ConfigError:
    """A problem of the space file ``source`` at ``key`` (both named, as ``space.yaml: params.lr``)."""
    return ConfigError(Problem(f"{source}: {key}", expected, got, fix))


def _number(source: str, key: str, value: Any, integer: bool) -> float | int:
    kind = "an int" if integer else "a number"
    valid = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not valid:
        raise _fail(source, key, kind, repr(value), f"Write e.g. {'1' if integer else '0.001'}.")
    return value


def _check_param(source: str, key: str, spec: Any) -> dict[str, Any]:
    where = f"params.{key}"
    if not isinstance(spec, dict):
        fix = "Write e.g. {type: float, low: 0.0001, high: 0.1, log: true}."
        raise _fail(source, where, "a mapping with a type", repr(spec), fix)
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise _fail(
            source, f"{where}.{unknown[0]}", f"one of {', '.join(sorted(_FIELDS))}", repr(unknown[0]), "Remove it."
        )
    kind = spec.get("type")
    if kind not in _TYPES:
        raise _fail(source, f"{where}.type", f"one of {', '.join(_TYPES)}", repr(kind), "Set the type.")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _fail(
                source, f"{where}.choices", "a non-empty list of values", repr(choices), "List the values to try."
            )
        extra = sorted(set(spec) - {"type", "choices"})
        if extra:
            raise _fail(source, f"{where}.{extra[0]}", "only choices for a categorical", repr(extra[0]), "Remove it.")
        return dict(spec)
    if "choices" in spec:
        raise _fail(source, f"{where}.choices", f"low and high for a {kind}", "choices", "Use type: categorical.")
    for bound in ("low", "high"):
        if bound not in spec:
            expected = "an int" if kind == "int" else "a number"
            raise _fail(source, f"{where}.{bound}", expected, "nothing", f"Set {bound}.")
        _number(source, f"{where}.{bound}", spec[bound], kind == "int")
    low, high = spec["low"], spec["high"]
    if not low < high:
        raise _fail(source, where, "low < high", f"low={low!r} and high={high!r}", "Swap or widen them.")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise _fail(source, f"{where}.log", "true or false", repr(log), "Write log: true for a log scale.")
    if log and low <= 0:
        raise _fail(source, f"{where}.low", "a positive low on a log scale", repr(low), "Use e.g. 1.0e-5.")
    if "step" in spec:
        _number(source, f"{where}.step", spec["step"], kind == "int")
        if log:
            raise _fail(source, f"{where}.step", "either step or log", "both", "Remove one.")
    return dict(spec)


def read_space(path: str | Path, metric: str | None = None, direction: str | None = None) -> SearchSpace:
    """Reads and checks a search space file (metric and direction given here win over the file's).

    Raises:
        ConfigError: The file is missing or a parameter is not a valid distribution.
    """
    from lightcli.tools.diff import read_config

    source = str(path)
    if not Path(path).is_file():
        fix = "Create it; see `lightcli sweep --help`."
        raise ConfigError(Problem("--space", "a YAML search space file", f"{source!r} (not found)", fix))
    data = read_config(path)
    if not isinstance(data, dict):
        got = f"a {type(data).__name__}"
        raise ConfigError(Problem(source, "a mapping with params", got, "See `lightcli sweep --help`."))
    unknown = sorted(set(data) - {"params", "metric", "direction"})
    if unknown:
        raise _fail(source, unknown[0], "one of params, metric, direction", repr(unknown[0]), "Remove it.")
    params = data.get("params")
    if not isinstance(params, dict) or not params:
        raise _fail(source, "params", "a mapping of config keys to distributions", repr(params), "Add params.")
    checked = {str(key): _check_param(source, str(key), spec) for key, spec in params.items()}
    for key, spec in checked.items():  # a class or function among the choices: the allowlist before any trial
        for where, import_path in import_paths(spec.get("choices") or [], f"params.{key}.choices"):
            blocked = refused(import_path)
            if blocked is not None:
                raise _fail(source, where, *blocked)
    metric = metric or data.get("metric") or "val/loss"
    direction = direction or data.get("direction") or "minimize"
    if direction not in ("minimize", "maximize"):
        raise _fail(source, "direction", "minimize or maximize", repr(direction), "Fix the direction.")
    return SearchSpace(checked, str(metric), direction, source)


def _override(key: str, value: Any) -> str:
    return f"--{key}={json.dumps(value)}"


def overrides(space: SearchSpace, values: dict[str, Any]) -> list[str]:
    """The command line arguments setting the values, parents first (a class choice before its init_args)."""
    return [_override(key, values[key]) for key in sorted(values, key=lambda k: k.count("."))]


def _condensed(message: str) -> str:
    skip = ("Does not validate against any", "Subtypes:", "Errors:", "Given value", "Expected a <class 'NoneType'>")
    lines = [line.strip().lstrip("- ").strip() for line in message.strip().splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith(skip))


def _explained(args: list[str]) -> str | None:
    """The problems as ``lightcli fit`` reports them (key, expected, got, fix), when it can say."""
    try:
        from lightcli.cli import build_parser
        from lightcli.config.explain import ParseFailure, explain

        argv = ["fit", *args]
        try:
            build_parser("fit", root=True).parse_args(argv)
        except ParseFailure as failure:
            return "; ".join(str(problem) for problem in explain(failure, argv, ["fit"]).problems)
    except Exception:  # explaining must never hide the error itself
        return None
    return None


def check(parser: Any, args: list[str]) -> str | None:
    """The fit parser's complaint about these arguments, or None when they parse."""
    from jsonargparse import ArgumentError

    try:
        parser.parse_args(shared_values(args))  # ${dotted.key} references resolved, as lightcli fit does
    except ConfigError as error:
        return str(error)
    except ArgumentError as error:
        return _explained(args) or _condensed(str(error))
    return None


def check_space(parser: Any, space: SearchSpace, fit_args: list[str]) -> None:
    """Parses the fit arguments with every bound and choice of the space, one at a time.

    Raises:
        ConfigError: A value of the space (or the fit arguments themselves) does not parse.
    """
    preflight(["fit", *fit_args], ["fit"])  # the allowlist over the fit arguments' config files and values
    problem = check(parser, fit_args)
    if problem:
        expected = "a config that `lightcli fit` accepts"
        raise ConfigError(Problem("the fit arguments", expected, f"errors: {problem}", ""))
    first = {
        key: space.value(key, next(iter(space.labels[key]))) if key in space.labels else spec["low"]
        for key, spec in space.params.items()
    }
    for key, value in space.corners():
        problem = check(parser, [*fit_args, *overrides(space, {**first, key: value})])
        if problem:
            raise _fail(
                space.source,
                f"params.{key}",
                "values that `lightcli fit` accepts",
                json.dumps(value),
                f"Fix the range or choices; lightcli fit says: {problem if problem.endswith(('.', '?')) else problem + '.'}",
            )
