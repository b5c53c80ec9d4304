"""Loading a System from a checkpoint safely: no pickle, and the allowlist before any class it names is imported.

``System.load_from_checkpoint(path)`` rebuilds the system from the config stored in the checkpoint. Lightning
loads the file and lets jsonargparse import every ``class_path`` of that config; here the file is loaded with
``weights_only=True`` (no code is unpickled, whatever the caller passes), and jsonargparse's imports pass
:func:`lightcli.config.allowlist.check_import` first (:func:`lightcli.upstream.import_gate.guard_imports`):
with ``LIGHTCLI_ALLOWED_MODULES`` set, a checkpoint naming a class outside it is refused before the import.
"""

from __future__ import annotations

from typing import Any

from lightcli.config.allowlist import check_import
from lightcli.config.problems import ConfigError, Problem
from lightcli.upstream.import_gate import guard_imports

__all__ = ["CheckedLoading"]


class CheckedLoading:
    """Mixin of :class:`lightcli.System`: ``load_from_checkpoint`` without pickle, behind the allowlist."""

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> Any:
        """Loads the system from a checkpoint written by ``lightcli fit`` (see LightningModule.load_from_checkpoint).

        The file is read with ``weights_only=True``, and each class its stored config names passes
        ``LIGHTCLI_ALLOWED_MODULES`` before it is imported.

        Raises:
            ConfigError: ``weights_only=False`` was asked for, or the checkpoint names a class outside the allowlist.
        """
        if kwargs.get("weights_only") is False:
            fix = "Load checkpoints without unpickling code: leave weights_only out."
            raise ConfigError(Problem("weights_only", "true (no pickle)", "False", fix))
        kwargs["weights_only"] = True
        guard_imports(check_import)
        try:
            return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)  # type: ignore[misc]
        except Exception as error:
            refusal = _refusal(error)
            if refusal is None:
                raise
            raise ConfigError(refusal.within("system")).with_traceback(None) from None


def _refusal(error: BaseException | None) -> Any:
    """The allowlist's problem in an exception's cause chain, if the gate refused an import."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ConfigError):
            return error.problems[0]
        error = error.__cause__ or error.__context__
    return None
