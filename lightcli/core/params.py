"""Selecting a model's parameters by name, the way the freezer, the weights loader and the parameter groups do.

Names are those of ``system.model``: ``named_parameters()`` and ``named_modules()`` of the network given
under ``system.model``, e.g. ``backbone.0.weight``. Lightning's model summary prints the same names with
the System's attribute in front (``model.backbone.0.weight``); that leading ``model.`` is accepted too.

A *prefix* is a module name: ``backbone`` selects ``backbone.0.weight`` and ``backbone.1.bias`` but not
``backbone2.weight``. A trailing dot (``backbone.``) means the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from lightcli.config.problems import ConfigError, Problem

__all__ = ["canonical", "matches_prefix", "module_names", "select"]


_SUMMARY_PREFIX = "model."


def matches_prefix(name: str, prefix: str) -> bool:
    """Whether ``name`` is the module ``prefix`` or inside it (``a.b`` is inside ``a``, ``ab`` is not)."""
    prefix = prefix.rstrip(".")
    return prefix in ("", name) or name.startswith(prefix + ".")


def canonical(given: str, names: Iterable[str], prefix: bool) -> str | None:
    """The name relative to the model that ``given`` refers to, or None when it matches nothing.

    ``given`` is tried as written first, then without the summary's leading ``model.``.
    """
    names = list(names)
    candidates = [given]
    if given.startswith(_SUMMARY_PREFIX):
        candidates.append(given[len(_SUMMARY_PREFIX) :])
    elif given.rstrip(".") == "model":
        candidates.append("")
    for candidate in candidates:
        if prefix and any(matches_prefix(name, candidate) for name in names):
            return candidate.rstrip(".")
        if not prefix and candidate in names:
            return candidate
    return None


def _closest(given: str, names: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(given, list(names), n=1, cutoff=0.6)
    return f" Did you mean {', '.join(close)}?" if close else ""


def module_names(model: nn.Module) -> list[str]:
    """The names of the model's sub-modules that hold parameters, shortest first (for error messages)."""
    owners = {name.rpartition(".")[0] for name, _ in model.named_parameters()}
    parents = {".".join(owner.split(".")[: i + 1]) for owner in owners if owner for i in range(owner.count(".") + 1)}
    return sorted(parents, key=lambda n: (n.count("."), n))


def select(
    model: nn.Module,
    key: str,
    names: Iterable[str] = (),
    prefixes: Iterable[str] = (),
    fields: tuple[str, str] = ("names", "prefixes"),
) -> dict[str, nn.Parameter]:
    """The parameters of ``model`` chosen by exact parameter names and by module-name prefixes.

    Args:
        model: The network (``system.model``).
        key: The config key the names and prefixes come from, for error messages (e.g. ``trainer.callbacks.Freezer``).
        names: Exact parameter names, e.g. ``head.weight``.
        prefixes: Module names, e.g. ``backbone``; every parameter inside is chosen.
        fields: The config fields holding ``names`` and ``prefixes``, for error messages.

    Returns:
        Name relative to the model -> parameter, in the model's order.

    Raises:
        ConfigError: A name or prefix matches no parameter of the model.
    """
    params = dict(model.named_parameters())
    chosen: set[str] = set()
    for given in names:
        name = canonical(given, params, prefix=False)
        if name is None:
            fix = (
                f"{_closest(given, params)} Parameter names are those of `model.named_parameters()`, e.g. "
                f"{', '.join(list(params)[:3])}."
            )
            got = f"{given!r}, which is not one"
            raise ConfigError(Problem(f"{key}.{fields[0]}", "parameter names of system.model", got, fix.lstrip()))
        chosen.add(name)
    for given in prefixes:
        prefix = canonical(given, params, prefix=True)
        if prefix is None:
            modules = module_names(model)
            listing = (
                f"Modules with parameters: {', '.join(modules[:12])}."
                if modules
                else "The model holds its parameters itself: the prefix 'model' selects them all."
            )
            got = f"{given!r}, which matches no parameter"
            fix = f"{_closest(given, modules)} {listing}".lstrip()
            raise ConfigError(Problem(f"{key}.{fields[1]}", "module names of system.model", got, fix))
        chosen.update(name for name in params if matches_prefix(name, prefix))
    return {name: param for name, param in params.items() if name in chosen}
