"""Small ready-made models for the examples and for quick experiments."""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from torch import nn

__all__ = ["MLP"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class MLP(nn.Sequential):
    """A multi-layer perceptron: Linear layers with an activation (and optional dropout) between them.

    Args:
        in_features: Size of each input sample (inputs are flattened from dimension 1).
        out_features: Size of each output (e.g. the number of classes).
        hidden: Sizes of the hidden layers, in order.
        activation: Activation between layers.
        dropout: Dropout probability after each hidden activation; 0 disables it.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: list[int] | None = None,
        activation: Literal["relu", "gelu", "tanh", "silu"] = "relu",
        dropout: float = 0.0,
    ) -> None:
        sizes = [in_features, *(hidden if hidden is not None else [128])]
        layers: list[nn.Module] = [nn.Flatten()]
        for size_in, size_out in itertools.pairwise(sizes):
            layers += [nn.Linear(size_in, size_out), _ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-1], out_features))
        super().__init__(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Maps a batch of inputs to a batch of outputs."""
        return super().forward(input)
