"""The classes a config can name, found for the schema and completion.

Library classes come from a fixed, bounded set of modules (torch, torchmetrics, Lightning, lightcli), so
the type universe stays small enough for help, completion and schema to finish in seconds; project classes
come from the importable modules in the working directory that only define things (no scripts).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from lightcli.config.allowlist import import_module
from lightcli.config.problems import ConfigError

__all__ = [
    "LIBRARY_MODULES",
    "collect_classes",
    "lightcli_modules",
    "project_modules",
]

LIBRARY_MODULES: tuple[str, ...] = (
    "torch.nn",
    "torch.optim",
    "torch.optim.lr_scheduler",
    "torch.utils.data",
    "torchmetrics",
    "torchmetrics.aggregation",
    "torchmetrics.audio",
    "torchmetrics.classification",
    "torchmetrics.clustering",
    "torchmetrics.detection",
    "torchmetrics.image",
    "torchmetrics.multimodal",
    "torchmetrics.nominal",
    "torchmetrics.regression",
    "torchmetrics.retrieval",
    "torchmetrics.segmentation",
    "torchmetrics.shape",
    "torchmetrics.text",
    "torchmetrics.wrappers",
    "pytorch_lightning",
    "pytorch_lightning.accelerators",
    "pytorch_lightning.callbacks",
    "pytorch_lightning.loggers",
    "pytorch_lightning.plugins",
    "pytorch_lightning.plugins.environments",
    "pytorch_lightning.profilers",
    "pytorch_lightning.strategies",
    "lightcli",
)
"""The library modules whose public classes the schema lists (besides the project's modules)."""

_SKIPPED_DIRS = {"tests", "test", "docs", "build", "dist", "runs", "sweeps", "node_modules", "site-packages"}


def _safe_to_import(path: Path) -> bool:
    """True when a module's top level only defines things (no statements that would run a script)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return False
    allowed: tuple[type[ast.stmt], ...] = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef)
    allowed += (ast.ClassDef, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Try, ast.Pass)
    for node in tree.body:
        if isinstance(node, allowed):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # docstring
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if "__name__" in test or "TYPE_CHECKING" in test or "sys.version_info" in test:
                continue
        return False
    return True


def project_modules(root: str | Path = ".") -> list[str]:
    """Names of the project's modules in ``root`` that can be imported without running anything.

    Top-level ``*.py`` files and packages (with their submodules) are considered; a module whose top
    level runs statements (a script) is left out, as are tests, setup files and hidden directories.

    Args:
        root: The project directory (the working directory by default).
    """
    root = Path(root)
    names: list[str] = []
    for path in sorted(root.iterdir()):
        if path.name.startswith((".", "_")) or path.name in _SKIPPED_DIRS:
            continue
        if path.is_file() and path.suffix == ".py" and path.stem not in ("setup", "conftest", "noxfile"):
            if path.stem.isidentifier() and _safe_to_import(path):
                names.append(path.stem)
        elif path.is_dir() and (path / "__init__.py").is_file() and path.name.isidentifier():
            for file in sorted(path.rglob("*.py")):
                parts = file.relative_to(root).with_suffix("").parts
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                if any(p.startswith(".") or p in _SKIPPED_DIRS or not p.isidentifier() for p in parts):
                    continue
                if _safe_to_import(file):
                    names.append(".".join(parts))
    return [n for n in names if n != "lightcli" and not n.startswith("lightcli.")]


_COMMAND_MODULES = ("lightcli.commands", "lightcli.tools")
"""The tools and the dispatcher: they define no class a config names, and are not imported to find one."""


def lightcli_modules() -> list[str]:
    """Every public module of lightcli that defines classes a config can name, subpackages included."""
    import pkgutil

    import lightcli

    found = pkgutil.walk_packages(lightcli.__path__, "lightcli.")
    return [
        m.name
        for m in found
        if not any(part.startswith("_") for part in m.name.split("."))
        and not any(m.name == c or m.name.startswith(c + ".") for c in _COMMAND_MODULES)
    ]


def _lists_imported(module: str, project: list[str] | tuple[str, ...]) -> bool:
    """Whether a module's classes are listed under its name also when they are defined elsewhere: a library's
    public module (``torch.nn.Linear``) and lightcli's API (``lightcli.MLP``), not a project module or a module
    inside lightcli (what one imports for its own use is not a name to give in a config)."""
    return module not in project and not module.startswith("lightcli.")


def collect_classes(
    module_names: list[str], project: list[str] | tuple[str, ...] = ()
) -> tuple[dict[type, list[str]], list[str]]:
    """Maps each public class of the modules to its import paths (shortest first); also returns problems.

    From the ``project`` modules and lightcli's inner modules only the classes they define are taken (not what
    they import).

    Raises:
        ConfigError: A module is outside ``LIGHTCLI_ALLOWED_MODULES`` (nothing of it is imported).
    """
    paths: dict[type, list[str]] = {}
    problems: list[str] = []
    for name in [*module_names, *project]:
        try:
            module = import_module(name, "--module")  # the allowlist first: a refused module is an error
        except ConfigError:
            raise
        except Exception as error:  # a project module that does not import is skipped, not fatal
            if not name.startswith("lightcli."):
                problems.append(f"{name}: not importable ({type(error).__name__}: {error})")
            continue
        for attr in dir(module):
            if attr.startswith("_"):
                continue
            value = getattr(module, attr, None)
            if inspect.isclass(value) and (_lists_imported(name, project) or value.__module__ == name):
                paths.setdefault(value, []).append(f"{name}.{attr}")
    for cls, found in paths.items():
        canonical = f"{cls.__module__}.{cls.__qualname__}"
        if "<" not in canonical and canonical not in found:
            found.append(canonical)
        found.sort(key=lambda p: (p.count("."), len(p)))
    return paths, problems
