"""lightcli.upstream: every private jsonargparse and Lightning name lightcli relies on, and the version check.

Each private name has a test that fails loudly when upstream renames it or changes what lightcli
relies on (its parameters, its attributes), and each delegation a behaviour test. The jsonargparse
patches themselves are tested in test_parsing.py.
"""

from __future__ import annotations

import ast
import contextvars
import copy
import inspect
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jsonargparse import ArgumentParser
from jsonargparse import _typehints as typehints
from jsonargparse._parameter_resolvers import get_signature_parameters
from jsonargparse.typing import path_type
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.cli import LightningCLI, _InstantiatorFn
from pytorch_lightning.core.mixins.hparams_mixin import _given_hyperparameters, _given_hyperparameters_context

from conftest import REPO, tiny_config, write_config
from lightcli.cli import LightCLI, StrictParser, main
from lightcli.config.problems import ConfigError, Problem
from lightcli.run.console import quiet
from lightcli.upstream import import_gate, lightning_core, parse_memo, versions
from lightcli.upstream import jsonargparse as upstream_jsonargparse
from lightcli.upstream import lightning as upstream_lightning


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


class Part:
    """A class for jsonargparse to build."""

    def __init__(self, size: int = 1) -> None:
        self.size = size


# -- jsonargparse ------------------------------------------------------------------------------------


def test_action_type_hint_keeps_its_type_hint_in_typehint() -> None:
    parser = ArgumentParser()
    parser.add_argument("--size", type=int)
    parser.add_argument("--flag", action="store_true")
    actions = {a.dest: a for a in upstream_jsonargparse.parser_actions(parser)}
    assert inspect.isclass(typehints.ActionTypeHint)
    assert upstream_jsonargparse.is_typehint_action(actions["size"])
    assert upstream_jsonargparse.has_typehint(actions["size"])
    assert upstream_jsonargparse.action_typehint(actions["size"]) is int
    assert not upstream_jsonargparse.is_typehint_action(actions["flag"])
    assert not upstream_jsonargparse.has_typehint(actions["flag"])


def test_the_patched_internals_of_typehints_exist() -> None:
    add_sub_defaults = typehints.ActionTypeHint.__dict__["add_sub_defaults"]
    assert isinstance(add_sub_defaults, staticmethod)
    assert parameters(add_sub_defaults.__func__) == ["parser", "cfg"]
    assert isinstance(typehints.sub_defaults, contextvars.ContextVar)
    assert typehints.sub_defaults.get() is False
    assert typehints.deepcopy in (copy.deepcopy, upstream_jsonargparse._deepcopy)
    adapt = inspect.getsource(typehints.adapt_typehints)
    assert "deepcopy(adapt_kwargs)" in adapt  # the copy the patch makes cheap
    assert set(upstream_jsonargparse._ADAPT_KWARGS_KEYS) <= set(parameters(typehints.adapt_typehints))
    assert {"prev_val", "orig_val"} <= set(parameters(typehints.adapt_typehints))


def test_the_memo_wraps_adapt_class_type_and_reads_the_context_it_depends_on() -> None:
    from jsonargparse import _common, _paths, _subcommands, _util

    assert parse_memo.install()
    original = parse_memo._original["adapt_class_type"]
    assert typehints.adapt_class_type is parse_memo.adapt_class_type
    assert parameters(original) == parameters(parse_memo.adapt_class_type) == [
        "value", "serialize", "instantiate_classes", "sub_add_kwargs", "prev_val", "partial_skip_args", "typehint"
    ]  # fmt: skip
    from jsonargparse import _core

    assert _core.ArgumentParser.get_defaults is parse_memo.get_defaults
    assert parameters(parse_memo._original["get_defaults"])[:2] == ["self", "skip_validation"]
    assert isinstance(ArgumentParser().default_config_files, list)
    source = inspect.getsource(typehints.adapt_typehints)
    assert source.count("adapt_class_type(") >= 3  # looked up by name in the module at each call: the memo is seen
    assert isinstance(typehints.NestedArg, type)
    for variable in (
        typehints.sub_defaults, typehints.allow_default_instance, typehints.dump_kwargs, _common.lenient_check,
        _common.load_value_mode, _common.parsing_defaults, _common.validating_defaults, _common.parent_parser,
        _common.nested_links, _common.path_dump_preserve_relative, _paths._current_path_dir, _util.config_load_stack,
    ):  # fmt: skip
        assert isinstance(variable, contextvars.ContextVar)
    # every context variable jsonargparse declares in the modules adapt_class_type's parse runs through is either
    # in the memo's key or known not to change a parse result
    declared = {
        name
        for module in (typehints, _common, _paths, _util, _subcommands)
        for name, value in vars(module).items()
        if isinstance(value, contextvars.ContextVar)
    }
    in_key = {
        "sub_defaults", "allow_default_instance", "dump_kwargs", "lenient_check", "load_value_mode",
        "parsing_defaults", "validating_defaults", "parent_parser", "nested_links", "path_dump_preserve_relative",
        "_current_path_dir", "config_load_stack",
    }  # fmt: skip
    not_changing = {
        "subclass_arg_parser",  # only set while a subclass's own parser is being built (help)
        "parser_capture", "defaults_cache", "single_subcommand",  # capture_parser, get_defaults' cache, subcommands
        "class_instantiators", "scoped_class_instantiators", "applied_instantiation_links",  # builds: never kept
        "parse_kwargs",  # read before adapt_class_type is called (its prev_val, in the key) and for subcommands
    }  # fmt: skip
    assert declared <= in_key | not_changing, declared - in_key - not_changing


def test_a_namespace_keeps_its_keys_in_vars_so_the_memo_copies_it_without_reparsing_keys() -> None:
    from jsonargparse import Namespace

    kept = Namespace(class_path="m.C", init_args=Namespace(sizes=[1, 2], extra={"a": Namespace(b=1)}))
    assert set(vars(kept)) == {"class_path", "init_args"} and set(vars(kept.init_args)) == {"sizes", "extra"}
    copied = parse_memo._copied(kept)
    assert copied == kept and copied["init_args.extra"]["a"].b == 1 and copied.as_dict() == kept.as_dict()
    copied.init_args.sizes.append(3)
    copied["init_args.extra"]["a"].b = 2
    assert kept.init_args.sizes == [1, 2] and kept["init_args.extra"]["a"].b == 1  # nothing kept is shared


def test_the_logger_of_parsers_without_one_discards_everything_and_is_disabled_once_installed() -> None:
    import logging

    from jsonargparse import _common

    assert ArgumentParser().logger is _common.null_logger  # lightcli's parsers have no logger
    assert _common.null_logger.parent is None
    assert [type(h) for h in _common.null_logger.handlers] == [logging.NullHandler]
    assert upstream_jsonargparse.install()
    assert _common.null_logger.disabled and not _common.null_logger.isEnabledFor(logging.DEBUG)


@pytest.mark.parametrize("config", ["digits.yaml", "finetune.yaml"])
def test_a_namespace_is_cloned_as_jsonargparse_clones_it(config: str, workdir: Path) -> None:
    from jsonargparse import Namespace, _core, _namespace

    assert upstream_jsonargparse.install()
    recreate = _namespace.recreate_branches
    original = recreate.__wrapped__
    assert _core.recreate_branches is recreate  # _core holds it by name
    assert "new_data[key] = recreate_branches(val, skip_keys)" in inspect.getsource(original)
    with quiet():
        parsed = LightCLI(args=["--config", str(REPO / "configs" / config)], run=False).config
    parsed["meta.__path__"] = "x.yaml"  # a meta key, left out with skip_keys
    for skip in (None, _namespace.meta_keys):
        fast, slow = recreate(parsed, skip), original(parsed, skip)
        assert fast == slow and fast.as_dict() == slow.as_dict() and fast is not parsed
        assert repr(fast) == repr(slow)  # the same types all the way down
    cloned = parsed.clone()
    cloned["system.init_args.optimizer.init_args.lr"] = 9.0
    assert parsed["system.init_args.optimizer.init_args.lr"] != 9.0  # no branch is shared
    assert isinstance(cloned.system, Namespace)


def test_the_class_lists_of_help_come_from_extra_help() -> None:
    """``shorten_class_lists`` wraps ``ActionTypeHint.extra_help``, which lists ``get_all_subclass_paths``."""
    extra_help = typehints.ActionTypeHint.__dict__["extra_help"]
    original = getattr(extra_help, "__wrapped__", extra_help)
    assert parameters(original) == ["self"]
    assert "get_all_subclass_paths(self._typehint, closed_types=False)" in inspect.getsource(original)
    assert "closed_types" in parameters(typehints.get_all_subclass_paths)
    assert upstream_jsonargparse.shorten_class_lists()
    assert typehints.ActionTypeHint.__dict__["extra_help"].__wrapped__ is original  # once, whatever the calls


def test_every_jsonargparse_module_that_imports_values_is_guarded() -> None:
    """``import_object`` is imported by name into these modules, ``check_import_path`` into ``_typehints``."""
    import importlib
    import pkgutil

    import jsonargparse
    from jsonargparse import _common, _util

    calls: list[tuple[str, bool]] = []
    assert import_gate.guard_imports(lambda path, module=False: calls.append((path, module)))
    assert import_gate.guarded()
    original = _util.import_object.__wrapped__
    assert parameters(original) == ["name", "check_path"]
    for info in pkgutil.iter_modules(jsonargparse.__path__):
        module = importlib.import_module(f"jsonargparse.{info.name}")
        held = module.__dict__.get("import_object")
        if held is not None:  # a module holding jsonargparse's import_object holds the guarded one
            assert info.name in import_gate._IMPORTERS, info.name
            assert getattr(held, "__wrapped__", None) is original, info.name
    assert "check_import_path(val)" in inspect.getsource(typehints.adapt_typehints)  # a ModuleType value
    assert typehints.check_import_path.__wrapped__ is _common.check_import_path
    assert issubclass(_common.ImportDenied, ImportError)
    _util.import_object("collections.OrderedDict")
    _util.import_object("collections.Counter", check_path=False)  # jsonargparse re-importing code: not a value
    assert calls == [("collections.OrderedDict", False)]
    from lightcli.config.allowlist import check_import

    import_gate.guard_imports(check_import)


def test_a_refusal_of_the_gate_is_jsonargparses_import_denied() -> None:
    def refuse(path: str, module: bool = False) -> None:
        raise ConfigError(Problem("", "an allowed path", path, ""))

    import_gate.guard_imports(refuse)
    try:
        from jsonargparse import _typehints, _util
        from jsonargparse._common import ImportDenied

        with pytest.raises(ImportDenied) as denied:
            _util.import_object("collections.OrderedDict")
        assert isinstance(denied.value.__cause__, ConfigError)
        with pytest.raises(ImportDenied):
            _typehints.check_import_path("collections")
    finally:
        from lightcli.config.allowlist import check_import

        import_gate.guard_imports(check_import)


def test_signature_parameters_come_from_the_resolver() -> None:
    assert parameters(get_signature_parameters)[:3] == ["function_or_class", "method_or_property", "logger"]
    params = upstream_jsonargparse.signature_parameters(Part, logger=False)
    assert [(p.name, p.annotation, p.default) for p in params] == [("size", int, 1)]
    assert [p.name for p in upstream_jsonargparse.signature_parameters(Part)] == ["size"]


def test_subcommand_parsers_by_name() -> None:
    parser = ArgumentParser()
    assert upstream_jsonargparse.subcommand_parsers(parser) is None
    fit, test = ArgumentParser(), ArgumentParser()
    subcommands = parser.add_subcommands()
    subcommands.add_subcommand("fit", fit)
    subcommands.add_subcommand("test", test)
    found = upstream_jsonargparse.subcommand_parsers(parser)
    assert found is not None
    assert (found["fit"], found["test"]) == (fit, test)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # instantiate_classes: what LightningCLI calls
def test_an_instantiator_added_to_the_parsers_dict_builds_the_class() -> None:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--part", type=Part)
    assert parser._instantiators is None  # jsonargparse creates it on the first add_instantiator
    built: list[type] = []

    def record(class_type: type, *args: Any, **kwargs: Any) -> Any:
        built.append(class_type)
        return class_type(*args, **kwargs)

    instantiators = upstream_jsonargparse.parser_instantiators(parser)
    assert upstream_jsonargparse.parser_instantiators(parser) is instantiators
    instantiators[(object, True)] = record  # the key: (class, whether subclasses match too)
    config = parser.instantiate_classes(parser.parse_args(["--part.size=3"]))
    assert (built, config.part.size) == ([Part], 3)
    instantiators.pop((object, True))
    parser.instantiate_classes(parser.parse_args(["--part.size=3"]))
    assert built == [Part]


def test_the_mode_of_a_path_type() -> None:
    assert upstream_jsonargparse.path_mode(path_type("fr")) == "fr"
    assert upstream_jsonargparse.path_mode(path_type("dw")) == "dw"
    assert upstream_jsonargparse.path_mode(int) == ""


def test_the_parser_error_method_lightcli_overrides() -> None:
    assert parameters(ArgumentParser.error) == ["self", "message", "ex"]
    assert parameters(StrictParser.error) == parameters(ArgumentParser.error)


# -- Lightning: LightningCLI's private methods -------------------------------------------------------

PRIVATE_METHODS = {
    "_add_subcommands": ["self", "parser", "kwargs"],
    "_prepare_subcommand_parser": ["self", "klass", "subcommand", "kwargs"],
    "_parse_ckpt_path": ["self"],
    "_add_instantiators": ["self"],
    "_instantiate_trainer": ["self", "config", "callbacks"],
    "_parser": ["self", "subcommand"],
    "_get": ["self", "config", "key", "default"],
    "_run_subcommand": ["self", "subcommand"],
    "_dump_config": ["self"],
    "_setup_parser_kwargs": ["self", "parser_kwargs"],
}


@pytest.mark.parametrize("name", PRIVATE_METHODS)
def test_lightning_cli_has_the_private_method(name: str) -> None:
    method = getattr(LightningCLI, name, None)
    assert callable(method), f"LightningCLI.{name} is gone: see lightcli/upstream/lightning.py"
    assert parameters(method) == PRIVATE_METHODS[name]


@pytest.mark.parametrize("hook", ["_parse_ckpt_path", "_add_instantiators", "_run_subcommand"])
def test_lightning_cli_init_calls_the_hook(hook: str) -> None:
    assert f"self.{hook}(" in inspect.getsource(LightningCLI.__init__)


def test_lightning_cli_init_sets_what_parsers_only_sets_before_building_the_parsers() -> None:
    source = inspect.getsource(LightningCLI.__init__)
    for attribute in (
        "save_config_callback",
        "save_config_kwargs",
        "trainer_class",
        "trainer_defaults",
        "seed_everything_default",
        "parser_kwargs",
        "auto_configure_optimizers",
        "model_class",
        "_model_class",
        "subclass_mode_model",
        "datamodule_class",
        "_datamodule_class",
        "subclass_mode_data",
    ):
        assert f"self.{attribute} =" in source, f"LightningCLI.__init__ no longer sets {attribute}: see parsers_only"
    assert "self.setup_parser(" in source


def test_lightning_cli_keeps_the_subcommand_parsers_in_a_dict() -> None:
    source = inspect.getsource(LightningCLI._parser)
    assert "self._subcommand_parsers[subcommand]" in source
    assert "self._subcommand_method_arguments[subcommand]" in inspect.getsource(LightningCLI._prepare_subcommand_parser)
    assert 'hasattr(self, "config_dump")' in inspect.getsource(LightningCLI._dump_config)


def test_the_instantiator_takes_the_applied_links() -> None:
    assert parameters(_InstantiatorFn.__init__) == ["self", "cli", "key"]
    call = inspect.signature(_InstantiatorFn.__call__).parameters
    assert call["applied_instantiation_links"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters(upstream_lightning.SectionInstantiator.__call__) == list(call)


def test_the_keys_of_the_stored_hyperparameters() -> None:
    assert f'"{lightning_core.CLASS_PATH_KEY}"' in inspect.getsource(_InstantiatorFn.__call__)
    with _given_hyperparameters_context(hparams={}, instantiator="module.build"):
        assert _given_hyperparameters.get()[lightning_core.INSTANTIATOR_KEY] == "module.build"


class Recording(LightCLI):
    """LightCLI recording which public-named hooks LightningCLI's private ones reached."""

    calls: ClassVar[list[str]] = []

    def add_subcommands(self, parser: Any, **kwargs: Any) -> None:
        self.calls.append("add_subcommands")
        super().add_subcommands(parser, **kwargs)

    def prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> Any:
        self.calls.append(f"prepare_subcommand_parser {subcommand}")
        return super().prepare_subcommand_parser(klass, subcommand, **kwargs)

    def resolve_checkpoint(self) -> None:
        self.calls.append("resolve_checkpoint")
        super().resolve_checkpoint()

    def add_instantiators(self) -> None:
        self.calls.append("add_instantiators")
        super().add_instantiators()

    def build_trainer(self, config: dict[str, Any], callbacks: list[Any]) -> Any:
        self.calls.append("build_trainer")
        return super().build_trainer(config, callbacks)

    def run_subcommand(self, subcommand: str) -> None:
        self.calls.append(f"run_subcommand {subcommand}")
        super().run_subcommand(subcommand)


def test_the_private_hooks_reach_the_public_names(workdir: Path) -> None:
    path = write_config(workdir / "tiny.yaml", tiny_config())
    Recording.calls = []
    with quiet():
        cli = Recording(args=["validate", "--config", str(path), "--trainer.limit_val_batches=1"])
    assert Recording.calls == [
        "add_subcommands",
        "prepare_subcommand_parser validate",
        "resolve_checkpoint",
        "add_instantiators",
        "build_trainer",
        "run_subcommand validate",
    ]
    assert sorted(cli.subcommand_parsers) == ["fit", "predict", "test", "validate"]
    assert cli.subcommand_parser("validate") is cli.subcommand_parsers["validate"]
    assert cli.subcommand_parser(None) is cli.parser
    assert cli.section(cli.config, "trainer.limit_val_batches") == 1
    assert cli.section(cli.config, "missing", default="x") == "x"
    assert cli.trainer.state.fn == "validate"  # the trainer ran the subcommand


# -- Lightning: the System's internals ---------------------------------------------------------------


def test_built_from_config_inside_lightnings_instantiator_only() -> None:
    assert isinstance(_given_hyperparameters, contextvars.ContextVar)
    assert not lightning_core.built_from_config()
    with _given_hyperparameters_context(hparams={"a": 1}, instantiator="module.build"):
        assert lightning_core.built_from_config()
    assert not lightning_core.built_from_config()


def test_attached_trainer() -> None:
    module = LightningModule()
    assert lightning_core.attached_trainer(module) is None
    with pytest.raises(RuntimeError):
        module.trainer  # noqa: B018 - the public property raises instead, hence _trainer
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    module.trainer = trainer
    assert lightning_core.attached_trainer(module) is trainer


# -- the checked versions ----------------------------------------------------------------------------


def report(monkeypatch: pytest.MonkeyPatch, **installed: str) -> None:
    """Makes importlib.metadata report these versions (``pytorch_lightning="2.4.0"``)."""
    real = versions.metadata.version
    given = {name.replace("_", "-"): version for name, version in installed.items()}
    monkeypatch.setattr(versions.metadata, "version", lambda name: given.get(name) or real(name))


def test_the_installed_versions_were_checked() -> None:
    assert versions.unchecked_versions() == []


def test_release_numbers() -> None:
    assert versions._release("2.5.1.post0") == (2, 5, 1)
    assert versions._release("2.6.0rc1") == (2, 6, 0)
    assert versions._release("4.53.0") < versions._release("4.54") <= versions._release("4.54.0.dev1")


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("pytorch_lightning", "2.4.0"),
        ("pytorch_lightning", "2.7.0"),
        ("jsonargparse", "4.54.0"),
        ("torchmetrics", "2.0"),
    ],
)
def test_an_unchecked_version_is_refused_with_one_message(
    name: str, version: str, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report(monkeypatch, **{name: version})
    path = write_config(workdir / "tiny.yaml", tiny_config())
    assert main(["fit", "--config", str(path)]) == 2
    low, high = versions.CHECKED[name.replace("_", "-")]
    dist = name.replace("_", "-")
    assert capsys.readouterr().err.splitlines() == [
        f"error: {dist}: expected a version >={low},<{high} (the versions lightcli was checked on), got {version}. "
        f"Install one: pip install '{dist}>={low},<{high}'."
    ]
    assert not (workdir / "runs").exists()


def test_the_tools_refuse_an_unchecked_version_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report(monkeypatch, jsonargparse="4.54.0")
    assert main(["schema", "--help"]) == 2
    assert capsys.readouterr().err.startswith("error: jsonargparse: expected a version")
    with pytest.raises(ConfigError) as raised:
        LightCLI(args=["fit", "--help"])
    assert [p.key for p in raised.value.problems] == ["jsonargparse"]


def test_the_checked_ranges_are_the_dependencies_and_the_lowest_pins() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dependencies = {d.split("[")[0].split(">")[0].split("=")[0].strip(): d for d in project["dependencies"]}
    pins = dict(line.split("==") for line in (REPO / ".ci" / "lowest.txt").read_text().splitlines() if "==" in line)
    for name, (low, high) in versions.CHECKED.items():
        assert dependencies[name].endswith(f">={low},<{high}"), dependencies[name]
        assert pins[name] == low


def test_the_jsonargparse_module_imports_no_torch_and_no_lightning() -> None:
    """lightcli.config imports it: it stays below torch and Lightning."""
    for module in (upstream_jsonargparse, versions):
        tree = ast.parse(Path(str(module.__file__)).read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {str(n.module) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {m for m in imported if m.split(".")[0] in ("torch", "pytorch_lightning", "lightning")}


def test_the_stored_hyperparameters_keep_a_dict_of_metrics(workdir: Path) -> None:
    """jsonargparse before 4.51 dumped ``{acc: ...}`` as a ``torchmetrics.Metric`` class_path: a resume then failed."""
    path = write_config(workdir / "tiny.yaml", tiny_config())
    with quiet():
        cli = LightCLI(args=["--config", str(path)], run=False)
    metrics = cli.config_dump["system"]["init_args"]["metrics"]
    assert sorted(metrics["train"]) == ["acc"]
    assert metrics["train"]["acc"]["class_path"] == "torchmetrics.classification.MulticlassAccuracy"
    assert sorted(dict(cli.model.hparams)["metrics"]["val"]) == ["acc"]
