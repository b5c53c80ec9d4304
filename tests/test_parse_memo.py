"""Each nested class_path value validated once per parse (lightcli.upstream.parse_memo): same results, less work."""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lightcli.cli as cli_module
from conftest import REPO, subprocess_env, tiny_config, write_config
from lightcli.cli import LightCLI
from lightcli.run.console import quiet
from lightcli.upstream import parse_memo

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def _parsed(args: list[str], monkeypatch: pytest.MonkeyPatch, memo: bool) -> tuple[str, dict[str, Any]]:
    """The checked dump of the parsed config and the built system's hyperparameters, with or without the memo."""
    with monkeypatch.context() as patch:
        if not memo:
            patch.setattr(cli_module, "remembered", contextlib.nullcontext)
        with quiet():
            cli = LightCLI(args=args, run=False)
    return cli.parser.dump(cli.config, skip_none=False), dict(cli.model.hparams)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_the_memo_changes_nothing_a_parse_returns(config: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["--config", str(config), "--trainer.max_epochs", "2"]
    assert _parsed(args, monkeypatch, memo=True) == _parsed(args, monkeypatch, memo=False)


def test_each_distinct_value_is_parsed_a_few_times_not_once_per_enclosing_pass(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parse_memo.install()
    adapt = parse_memo._original["adapt_class_type"]
    parsed: list[str] = []

    def counting(value: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(getattr(value, "get", lambda _: None)("class_path"))
        return adapt(value, *args, **kwargs)

    monkeypatch.setitem(parse_memo._original, "adapt_class_type", counting)
    path = write_config(workdir / "tiny.yaml", tiny_config())
    with quiet():
        LightCLI(args=["--config", str(path)], run=False)
    with_memo = len(parsed)
    parsed.clear()
    with quiet(), monkeypatch.context() as patch:
        patch.setattr(cli_module, "remembered", contextlib.nullcontext)
        LightCLI(args=["--config", str(path)], run=False)
    # jsonargparse parses each nested value again in every pass of every enclosing level (about 240 parses of
    # the 4 datasets of this config); the memo answers a value seen in the same context
    assert with_memo * 2 < len(parsed)
    assert parse_memo.stats()["reused"] > 0


def test_values_equal_in_python_but_of_other_types_are_told_apart() -> None:
    frozen = parse_memo._frozen
    assert len({frozen(1), frozen(True), frozen(1.0)}) == 3  # 1 == True == 1.0 with one hash
    assert frozen({"a": [1]}) != frozen({"a": (1,)})
    assert frozen({"a": 1, "b": 2}) != frozen({"b": 2, "a": 1})  # key order is kept in a dump
    with pytest.raises(TypeError, match="not plain data"):
        frozen({"a": object()})  # anything but plain data is never kept


@pytest.mark.parametrize(("good", "bad", "said"), [("verbose: true", "verbose: 1", "expected true or false")])
def test_a_value_equal_to_one_already_accepted_but_of_the_wrong_type_is_still_refused(
    tmp_path: Path, good: str, bad: str, said: str
) -> None:
    callback = "  - class_path: pytorch_lightning.callbacks.EarlyStopping\n    init_args: {monitor: val/acc, %s}\n"
    (tmp_path / "callbacks.yaml").write_text("trainer:\n  callbacks:\n" + callback % good + callback % bad)
    config = str(REPO / "configs" / "template.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "lightcli", "fit", "--config", config, "--config", "callbacks.yaml"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "trainer.callbacks[1].init_args.verbose" in proc.stderr and said in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_the_memo_and_the_paused_collection_end_with_the_build(workdir: Path) -> None:
    path = write_config(workdir / "tiny.yaml", tiny_config())
    assert gc.isenabled()
    with quiet():
        LightCLI(args=["--config", str(path)], run=False)
    assert parse_memo._memo.get() is None  # nothing kept once the command built its objects
    assert gc.isenabled()
    gc.disable()
    try:
        with quiet():
            LightCLI(args=["--config", str(path)], run=False)
        assert not gc.isenabled()  # a program that turned collection off keeps it off
    finally:
        gc.enable()


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_every_answer_of_the_memo_is_what_jsonargparse_answers(
    config: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each value the memo answers (the same value again, or a value equal to a validated result) is validated
    by jsonargparse too, and the two answers compared."""
    kept_or_computed = parse_memo._kept_or_computed
    answered: list[Any] = []

    def checked(memo: dict[Any, Any], key: Any, compute: Any, copied: Any) -> Any:
        kept = memo.get(key)
        answer = kept_or_computed(memo, key, compute, copied)
        if kept is not None and answer is not kept[0]:
            assert answer == compute(), key  # jsonargparse's own answer
            answered.append(key[0])
        return answer

    monkeypatch.setattr(parse_memo, "_kept_or_computed", checked)
    with quiet():
        LightCLI(args=["--config", str(config), "--trainer.max_epochs", "2"], run=False)
    assert parse_memo.VALIDATED in answered  # a validated result given again was answered from the memo
