"""Every file under configs/ has its header and runs (fast_dev_run) with the command its header gives."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from conftest import REPO

CONFIGS = sorted(p.relative_to(REPO) for p in (REPO / "configs").rglob("*.yaml"))


def header(path: Path) -> list[str]:
    lines = []
    for line in (REPO / path).read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].removeprefix(" ").rstrip())
    return lines


def command(path: Path, label: str) -> list[str]:
    """The ``lightcli ...`` command that uses this config in the header's ``<label>:`` block.

    Placeholders such as ``--ckpt_path <ckpt>`` are dropped and config paths made absolute.
    """
    text, inside = "", False
    for line in header(path):
        if line.startswith(label + ":"):
            inside, line = True, line[len(label) + 1 :]
        elif not line.startswith(" "):
            inside = False  # a block goes on over indented lines only
        if inside:
            text += " " + line
    assert text, f"{path}: no '# {label}: lightcli ...' line in the header"
    for candidate in text.split("lightcli ")[1:]:
        words = shlex.split(candidate.split("(", 1)[0])
        if words[words.index("--config") + 1 if "--config" in words else 0] != str(path):
            continue
        args: list[str] = []
        for word in words:
            if word.startswith("<"):
                args.pop()  # the option whose value is a placeholder
            else:
                args.append(str(REPO / word) if word.startswith("configs/") else word)
        return args
    raise AssertionError(f"{path}: no 'lightcli ... --config {path}' command after '{label}:' in the header")


def test_there_are_configs() -> None:
    assert {"configs/digits.yaml", "configs/template.yaml"} <= {str(p) for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=str)
def test_header_says_what_how_and_an_override(path: Path) -> None:
    lines = header(path)
    assert lines and not lines[0].startswith(("Run:", "Override:")), f"{path}: first line must say what it does"
    assert f"--config {REPO / path}" in " ".join(command(path, "Run"))
    assert len(command(path, "Override")) > len(command(path, "Run"))


@pytest.mark.parametrize("path", CONFIGS, ids=str)
def test_config_runs(path: Path, cli) -> None:
    args = command(path, "Run")
    assert cli(*args, "--trainer.fast_dev_run", "true", "--trainer.enable_progress_bar", "false") == 0


@pytest.mark.parametrize("path", CONFIGS, ids=str)
def test_override_example_parses(path: Path, cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(*command(path, "Override"), "--print_config") == 0
    assert "system:" in capsys.readouterr().out
