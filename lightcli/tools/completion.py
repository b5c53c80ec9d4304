"""``lightcli completion bash|zsh``: shell completion of subcommands, nested config keys and their values.

The script is generated from the same data as ``lightcli schema`` (the fit parser and the accepted
classes), so it completes ``--trainer.max_epochs``, ``--system.optimizer`` with optimizer classes,
``--system.optimizer.init_args.<arg>`` for the class given on the line, and Literal or bool values.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from lightcli.upstream.jsonargparse import parser_actions

__all__ = ["completion_data", "main", "script"]

_FILE_OPTIONS = ("--config", "-c", "--ckpt_path", "--space", "--dir", "-o", "--output", "--project")
_MAX_FAMILY = 40  # a class-typed key with at most this many classes gets the union of their init_args listed
_MAX_DEPTH = 8


class _Walker:
    """Collects the options (dotted keys) of a schema and the values each one takes."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.definitions = schema.get("definitions", {})
        self.options: list[str] = []
        self.values: dict[str, list[str]] = {}
        self.class_args: dict[str, list[str]] = {}
        self.families: dict[str, str] = {}
        self.names: dict[str, list[str]] = {}  # preferred class path -> the names to offer (with the bare name)

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.definitions[node["$ref"].rsplit("/", 1)[1]]
        return node

    def alternatives(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        node = self.resolve(node)
        if "anyOf" in node:
            return [alt for a in node["anyOf"] for alt in self.alternatives(a)]
        return [node]

    def classes(self, spec: dict[str, Any]) -> list[tuple[str, list[str]]]:
        """(preferred class path, its init_args names) of a class_path spec."""
        found = []
        for condition in spec.get("allOf", []):
            aliases = condition["if"]["properties"]["class_path"]["enum"]
            args = self.resolve(condition["then"]["properties"]["init_args"])
            found.append((aliases[0], list(args.get("properties", {}))))
            self.names[aliases[0]] = [aliases[0]] + ([aliases[-1]] if "." not in aliases[-1] else [])
        return found

    def family(self, names: list[str]) -> str:
        """A reference to a list of class names, stored once however many keys accept them."""
        text = " ".join(names)
        if text not in self.families:
            self.families[text] = f"@{len(self.families)}"
        return self.families[text]

    def walk(self, node: dict[str, Any], key: str, depth: int = 0, nested: int = 0) -> None:
        if depth > _MAX_DEPTH:
            return
        if key:
            self.options.append(key)
        values: list[str] = []
        alternatives = self.alternatives(node)
        has_family = any("class_path" in a.get("properties", {}) for a in alternatives)
        for alt in alternatives:
            if "enum" in alt and has_family and alt.get("type") == "string":
                continue  # a class_path given alone: the same classes as the family's
            if "enum" in alt:
                values += [
                    "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in alt["enum"]
                ]
            elif alt.get("type") == "boolean":
                values += ["true", "false"]
            elif alt.get("type") == "null":
                values.append("null")
            properties = alt.get("properties", {})
            if "class_path" in properties:
                family = self.classes(alt)
                if family:
                    values.append(self.family([n for name, _ in family for n in self.names[name]]))
                for name, args in family:
                    for alias in self.names[name]:
                        self.class_args.setdefault(alias, args)
                flat = {k: v for k, v in properties.items() if k not in ("class_path", "init_args", "dict_kwargs")}
                for arg, sub in flat.items():  # a default class (system): its arguments without init_args
                    self.walk(sub, f"{key}.{arg}", depth + 1, nested)
                if not flat and nested == 0 and len(family) <= _MAX_FAMILY:  # deeper: from the class on the line
                    for condition in alt.get("allOf", []):
                        init_args = self.resolve(condition["then"]["properties"]["init_args"])
                        for arg, sub in init_args.get("properties", {}).items():
                            self.walk(sub, f"{key}.init_args.{arg}", depth + 1, nested + 1)
            elif alt.get("type") == "object":
                for name, sub in properties.items():
                    self.walk(sub, f"{key}.{name}" if key else name, depth + 1, nested)
        if key and values and values != ["null"]:
            self.values[key] = list(dict.fromkeys(values))


def completion_data(subcommands: list[str] | None = None) -> dict[str, Any]:
    """The commands, each one's options, the values of options and the init_args of each class."""
    from lightcli.cli import build_parser
    from lightcli.config.commands import SUBCOMMANDS, TOOLS
    from lightcli.tools.schema import build_schema

    fit = build_schema("fit")
    walker = _Walker(fit)
    walker.walk(fit, "")
    fit_options = list(dict.fromkeys(walker.options))
    options: dict[str, list[str]] = {}
    values: dict[str, list[str]] = {f"--{k}": v for k, v in walker.values.items()}
    for name in subcommands or list(SUBCOMMANDS):
        own = [a.dest for a in parser_actions(build_parser(name)) if a.dest and not a.dest.endswith(".help")]
        tops = {d.split(".")[0] for d in own}
        keys = [k for k in fit_options if k.split(".")[0] in tops]
        keys += [d for d in own if d not in keys and d not in ("help", "config", "print_config")]
        options[name] = list(dict.fromkeys(["--config", "--print_config", "--help", *(f"--{k}" for k in keys)]))
    for name, (target, _) in TOOLS.items():
        module = target.split(":")[0]
        tool_options: list[str] = ["--help"]
        if module.startswith("lightcli.") and module.rsplit(".", 1)[1] in ("schema", "completion", "sweep", "diff"):
            import importlib

            parser: argparse.ArgumentParser = importlib.import_module(module)._parser()
            for action in parser_actions(parser):
                if action.help != argparse.SUPPRESS:
                    tool_options += [o for o in action.option_strings if o.startswith("--")]
                if action.choices:
                    option = action.option_strings[-1] if action.option_strings else ""
                    values[f"{name} {option}"] = [str(c) for c in action.choices]
        options[name] = list(dict.fromkeys(tool_options))
    commands = {**SUBCOMMANDS, **{name: help for name, (_, help) in TOOLS.items()}}
    families = {ref: names for names, ref in walker.families.items()}
    return {
        "commands": commands,
        "options": options,
        "values": values,
        "families": families,
        "class_args": walker.class_args,
    }


def _assoc(name: str, table: dict[str, Any]) -> str:
    lines = [f"{name}=("]
    for key, value in table.items():
        text = " ".join(value) if isinstance(value, list) else str(value)
        lines.append(f"  [{shlex.quote(key)}]={shlex.quote(text)}")
    return "\n".join(lines) + "\n)"


_CORE = r"""
# _lightcli_candidates INDEX WORD...: the completions of WORD[INDEX], one per line ("" = complete files).
_lightcli_candidates() {
  local IFS=$' \t\n'
  local index=$1; shift
  local -a line; line=("$@")
  local cur=${line[$index]} prev="" sub="" i cls key arg
  (( index > 0 )) && prev=${line[$((index - 1))]}
  for ((i = 1; i < index; i++)); do
    if [[ -n ${line[$i]} && -n ${_lightcli_commands[${line[$i]}]+x} ]]; then sub=${line[$i]}; break; fi
  done
  if [[ -z $sub ]]; then
    for key in "${!_lightcli_commands[@]}"; do [[ $key == "$cur"* ]] && echo "$key"; done
    [[ "--help" == "$cur"* ]] && echo "--help"
    return 0
  fi
  case " $_lightcli_file_options " in *" $prev "*) echo "__files__"; return 0;; esac
  local own="$sub $prev" positional="$sub "
  if [[ $prev == -* ]]; then
    local values=""
    if [[ -n ${_lightcli_values[$own]+x} ]]; then values=${_lightcli_values[$own]}
    elif [[ -n ${_lightcli_values[$prev]+x} ]]; then values=${_lightcli_values[$prev]}
    fi
    if [[ -n $values ]]; then
      for key in $values; do
        if [[ $key == @* ]]; then
          for cls in ${_lightcli_families[$key]}; do [[ $cls == "$cur"* ]] && echo "$cls"; done
        elif [[ $key == "$cur"* ]]; then echo "$key"; fi
      done
      return 0
    fi
  fi
  if [[ $cur != -* ]]; then
    if [[ -n ${_lightcli_values[$positional]+x} ]]; then
      for key in ${_lightcli_values[$positional]}; do [[ $key == "$cur"* ]] && echo "$key"; done
      return 0
    fi
    echo "__files__"; return 0
  fi
  for key in ${_lightcli_options[$sub]}; do [[ $key == "$cur"* ]] && echo "$key"; done
  # --key.init_args.<arg> (or --key.<arg>) of the class given on the line with --key CLASS
  key=${cur#--}; key=${key%.*}; key=${key%.init_args}
  cls=""
  for ((i = 1; i < index; i++)); do
    [[ ${line[$i]} == "--$key" ]] && cls=${line[$((i + 1))]}
    [[ ${line[$i]} == "--$key="* ]] && cls=${line[$i]#*=}
  done
  if [[ -n $cls && -n ${_lightcli_class_args[$cls]+x} ]]; then
    for arg in ${_lightcli_class_args[$cls]}; do
      [[ "--$key.init_args.$arg" == "$cur"* && " ${_lightcli_options[$sub]} " != *" --$key.init_args.$arg "* ]] &&
        echo "--$key.init_args.$arg"
    done
  fi
  return 0
}
"""

_BASH = r"""
_lightcli() {
  local IFS=$'\n' candidates
  candidates=($(_lightcli_candidates "$COMP_CWORD" "${COMP_WORDS[@]}"))
  if [[ $'\n'"${candidates[*]}"$'\n' == *$'\n__files__\n'* ]]; then
    COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
    candidates=("${candidates[@]/__files__/}")
  fi
  COMPREPLY+=(${candidates[@]})
}
complete -o filenames -o bashdefault -F _lightcli lightcli
"""

_ZSH = r"""
_lightcli() {
  local -a candidates described
  local key
  candidates=("${(@f)$(_lightcli_candidates $((CURRENT - 1)) "${words[@]}")}")
  if (( ${candidates[(I)__files__]} )); then
    candidates=("${(@)candidates:#__files__}")
    _files
  fi
  candidates=("${(@)candidates:#}")
  if [[ $CURRENT -eq 2 || -z ${words[2]} ]]; then
    for key in $candidates; do described+=("$key:${_lightcli_commands[$key]}"); done
    _describe 'lightcli command' described
  else
    compadd -Q -- $candidates
  fi
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  _lightcli "$@"  # autoloaded from $fpath as _lightcli
elif (( $+functions[compdef] )); then
  compdef _lightcli lightcli  # sourced after compinit
fi
"""


def script(shell: str, data: dict[str, Any]) -> str:
    """The completion script for ``bash`` or ``zsh``, with the data inlined."""
    declare = "typeset -gA" if shell == "zsh" else "declare -gA"
    head = [
        f"# lightcli {shell} completion, generated by `lightcli completion {shell}`.",
        "# Regenerate it after installing packages or adding classes to your project.",
    ]
    if shell == "zsh":
        head.insert(0, "#compdef lightcli")
    body = [
        f"{declare} _lightcli_commands _lightcli_options _lightcli_values _lightcli_families _lightcli_class_args",
        _assoc("_lightcli_commands", data["commands"]),
        _assoc("_lightcli_options", data["options"]),
        _assoc("_lightcli_values", data["values"]),
        _assoc("_lightcli_families", data["families"]),
        _assoc("_lightcli_class_args", data["class_args"]),
        f"_lightcli_file_options={shlex.quote(' '.join(_FILE_OPTIONS))}",
    ]
    core = _CORE if shell == "bash" else _zsh_core()
    return "\n".join([*head, *body, core, _BASH if shell == "bash" else _ZSH])


def _zsh_core() -> str:
    """The shared function, made zsh-compatible (arrays from 0, keys of associative arrays)."""
    core = _CORE.replace('"${!_lightcli_commands[@]}"', '"${(@k)_lightcli_commands[@]}"')
    core = core.replace(
        "_lightcli_candidates() {\n", "_lightcli_candidates() {\n  setopt local_options ksh_arrays sh_word_split\n"
    )
    return core


def main(args: list[str]) -> int:
    """Runs ``lightcli completion bash|zsh [-o FILE]`` and returns the exit code."""
    parser = _parser()
    try:
        options = parser.parse_args(args)
    except SystemExit as exit:  # --help, or a usage error argparse has printed
        return exit.code if isinstance(exit.code, int) else 0
    text = script(options.shell, completion_data())
    if not options.output:
        sys.stdout.write(text)
        return 0
    Path(options.output).write_text(text, encoding="utf-8")
    print(f"wrote {options.output}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightcli completion",
        description=(
            "Print the completion script of lightcli for bash or zsh. bash: "
            "lightcli completion bash > ~/.local/share/bash-completion/completions/lightcli ; zsh: "
            "lightcli completion zsh > ~/.zfunc/_lightcli (with fpath+=~/.zfunc before compinit)."
        ),
        allow_abbrev=False,
    )
    parser.add_argument("shell", choices=["bash", "zsh"], help="the shell")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    return parser
