"""Fail fast: every config error found before anything runs, printed in one shape, named by its key.

``<key.path>: expected X, got Y (in file.yaml). <how to fix>`` — one line per problem, all problems at
once, exit code 2, no traceback (``LIGHTCLI_TRACEBACK=1`` shows it). jsonargparse decides what is
valid; when it rejects a config, :func:`explain` re-reads what the user gave and checks it key by key
(:mod:`lightcli.config.typecheck`) to say where each problem is, falling back to a cleaned-up jsonargparse
message when it cannot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from lightcli.config.allowlist import import_paths
from lightcli.config.classpaths import resolve_class
from lightcli.config.preflight import preflight
from lightcli.config.problems import (
    CHECK_INIT_ARGS,
    TRACEBACK_ENV_VAR,
    ConfigError,
    Problem,
    not_a_mapping,
    raised,
    suggest,
    type_name,
)
from lightcli.config.sources import Sources, read_sources
from lightcli.upstream.jsonargparse import (
    action_typehint,
    is_typehint_action,
    parser_actions,
    parser_instantiators,
    subcommand_parsers,
)

__all__ = [
    "TRACEBACK_ENV_VAR",
    "ConfigError",
    "ParseFailure",
    "Problem",
    "building",
    "explain",
    "naming",
    "preflight",
    "run_reported",
]


class ParseFailure(Exception):
    """Internal: jsonargparse rejected the arguments (raised by the parser of ``lightcli``, caught by
    :func:`run_reported`); :func:`explain` turns it into a :class:`ConfigError`. Never shown to a user."""

    def __init__(self, message: str, cause: BaseException | None, parser: Any) -> None:
        super().__init__(message)
        self.message, self.cause, self.parser = message, cause, parser


# -- after a parse failure --------------------------------------------------------------------------------


def explain(failure: ParseFailure, argv: list[str], subcommands: list[str]) -> ConfigError:
    """Every problem of a config jsonargparse rejected, named by key, with origins and suggestions."""
    from lightcli.config.typecheck import Checker

    position = next((i for i, a in enumerate(argv) if a in subcommands), None)
    parser = _subcommand_parser(failure.parser, argv[position] if position is not None else None)
    if position is None or parser is None:
        return ConfigError([_help_key(_fallback(failure), argv)])
    sources = read_sources(argv[position + 1 :])
    if sources.problems:
        return ConfigError(sources.problems)
    try:
        problems = _check_root(sources, parser, Checker(sources))
    except Exception:  # explaining must never hide the error itself
        if os.environ.get(TRACEBACK_ENV_VAR):
            traceback.print_exc()
        problems = []
    return ConfigError(problems or [_help_key(_fallback(failure, sources), argv)])


def _help_key(problem: Problem, argv: list[str]) -> Problem:
    """A problem jsonargparse gave no key for, named by the ``--<key>.help <value>`` argument whose value it is about."""
    if problem.key != "config":
        return problem
    for option, value in itertools.pairwise(argv):
        if option.startswith("--") and option.endswith(".help") and value and value in str(problem.got):
            return dataclasses.replace(problem, key=option[2 : -len(".help")])
    return problem


def _subcommand_parser(parser: Any, subcommand: str | None) -> Any:
    if getattr(parser, "subcommand", None):
        return parser
    root = parser
    while getattr(root, "parent_parser", None) is not None:
        root = root.parent_parser
    parsers = subcommand_parsers(root)
    if parsers is None or subcommand is None:
        return None
    return parsers.get(subcommand)


def _check_root(sources: Sources, parser: Any, checker: Any) -> list[Problem]:
    from jsonargparse import ActionConfigFile

    actions: dict[str, Any] = {}
    for action in parser_actions(parser):
        if is_typehint_action(action) and not action.dest.endswith(".help"):
            actions[action.dest] = action
    meta = {"config", "print_config", "help", "__path__"} | {
        a.dest for a in parser_actions(parser) if isinstance(a, ActionConfigFile)
    }
    problems: list[Problem] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for name, value in node.items():
            key = f"{prefix}{name}"
            if key in meta or key in sources.skipped:
                continue
            action = actions.get(key)
            if action is not None:
                default = getattr(action.default, "class_path", None) if action.default is not None else None
                problems.extend(checker.check(value, action_typehint(action), key, default_class=default))
                continue
            children = [d[len(key) + 1 :] for d in actions if d.startswith(key + ".")]
            if children:
                if isinstance(value, dict):
                    walk(value, key + ".")
                else:
                    problem = not_a_mapping(key, value)
                    problems.append(checker.problem(key, problem.expected, problem.got, problem.fix))
                continue
            known = sorted({d[len(prefix) :].split(".")[0] for d in actions if d.startswith(prefix)})
            hint = suggest(str(name), known)
            where = f"a known key of {prefix[:-1]}" if prefix else "a known top-level key"
            fix = (
                f"Remove it or fix its name.{hint}" if hint else "Remove it or fix its name (`--help` lists the keys)."
            )
            problems.append(checker.problem(key, where, f"the unknown key {str(name)!r}", fix))

    walk(sources.tree, "")
    return problems


_KEY = re.compile(r'^Parser key "([^"]+)":')
_EXPECTED = re.compile(r"Expected a <class '(\w+)'>\. Got value: (.*)")


def _fallback(failure: ParseFailure, sources: Sources | None = None) -> Problem:
    """jsonargparse's message, reduced to its key path and innermost reason."""
    keys: list[str] = []
    leaf = failure.message.strip().splitlines()[0] if failure.message.strip() else "an invalid value"
    error: BaseException | None = failure.cause
    seen: set[int] = set()
    refusal: Problem | None = None  # the allowlist's gate refused an import inside jsonargparse
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ConfigError) and refusal is None:
            refusal = error.problems[0]
        text = str(error).strip()
        match = _KEY.match(text)
        if match and (not keys or keys[-1] != match.group(1)):
            keys.append(match.group(1))
        if text:
            leaf = text.splitlines()[0]
        error = error.__cause__ or error.__context__
    key = ".".join(keys) or "config"
    origin = sources.origin(key) if sources else None
    if refusal is not None:
        placed = refusal.within(key) if not refusal.key else refusal
        return dataclasses.replace(placed, origin=placed.origin or origin)
    match = _EXPECTED.search(leaf)
    if match:
        return Problem(key, f"a value of type {match.group(1)}", repr(match.group(2)), "Fix the value.", origin)
    leaf = _KEY.sub("", leaf).strip() or leaf
    missing = re.search(r"the following arguments are required: (.*)", failure.message)
    if missing:
        names = missing.group(1)
        return Problem(
            names, "a value (required)", "nothing", f"Set {names} in the config or on the command line.", origin
        )
    return Problem(
        key,
        "a valid value",
        leaf.rstrip("."),
        "Check the value; `--help` after the subcommand lists what is accepted.",
        origin,
    )


# -- building components ----------------------------------------------------------------------------------


@contextlib.contextmanager
def building(parser: Any, config: Any, subcommand: str | None) -> Iterator[None]:
    """Names the config key of a component whose construction raises, keeping the error as ``__cause__``.

    Raises:
        ConfigError: ``<key>: expected <Class>(...) to build, got <Error>: <message>. <fix>``.
    """
    failures: list[tuple[type, BaseException]] = []

    def record(class_type: type, *args: Any, **kwargs: Any) -> Any:
        try:
            return class_type(*args, **kwargs)
        except Exception as error:
            failures.append((class_type, error))
            raise

    instantiators = parser_instantiators(parser)
    instantiators[(object, True)] = record
    try:
        yield
    except (ConfigError, ParseFailure):
        raise
    except Exception as error:
        own = _own_error(error) or (_own_error(failures[0][1]) if failures else None)
        if own is not None:  # lightcli's own components already name their key: pass the message on as it is
            raise own from None
        if not failures:
            raise ConfigError(Problem("system", "the system to build", raised(error), CHECK_INIT_ARGS)) from error
        cls, original = failures[0]
        tree = config[subcommand] if subcommand and subcommand in config else config
        key = _component_key(tree, cls) or type_name(cls)
        raise ConfigError(Problem(key, f"{type_name(cls)} to build", raised(original), CHECK_INIT_ARGS)) from original
    finally:
        instantiators.pop((object, True), None)


def _own_error(error: BaseException | None) -> ConfigError | None:
    """The first lightcli ConfigError in an exception's cause/context chain, if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ConfigError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def naming(key: str, what: str) -> Iterator[None]:
    """Turns an exception raised while building ``what`` into a :class:`ConfigError` naming ``key``."""
    try:
        yield
    except (ConfigError, ParseFailure):
        raise
    except Exception as error:
        fix = f"Check the {key} settings ({TRACEBACK_ENV_VAR}=1 shows the traceback)."
        raise ConfigError(Problem(key, f"{what} that builds", raised(error), fix)) from error


def _component_key(tree: Any, cls: type) -> str | None:
    as_dict = tree.as_dict() if hasattr(tree, "as_dict") else tree
    for key, path in import_paths(as_dict):
        if not key.endswith(".class_path"):
            continue
        with contextlib.suppress(Exception):
            if resolve_class(path) is cls:
                key = key[: -len(".class_path")]
                return re.sub(r"^(system|data)\.init_args\.", r"\1.", key)
    return None


# -- the command ------------------------------------------------------------------------------------------


def run_reported(build: Callable[[], Any], argv: list[str], subcommands: list[str]) -> int:
    """Runs ``build()`` (a LightCLI) and turns every config error into a message on stderr and exit code 2."""
    show = bool(os.environ.get(TRACEBACK_ENV_VAR))
    try:
        preflight(argv, subcommands)
        build()
    except ParseFailure as failure:
        if show and failure.cause is not None:
            traceback.print_exception(failure.cause)
        return _report(explain(failure, argv, subcommands))
    except ConfigError as error:
        if show:
            traceback.print_exception(error)
        return _report(error)
    except SystemExit as exit:
        code = exit.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _report(errors: ConfigError) -> int:
    for problem in errors.problems:
        print(f"error: {problem}", file=sys.stderr)
    if len(errors.problems) > 1:
        print(f"{len(errors.problems)} errors; nothing was run.", file=sys.stderr)
    return 2
