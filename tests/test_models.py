"""The ready-made models."""

from __future__ import annotations

import torch
from torch import nn

from lightcli import MLP


def test_mlp_layers_and_shapes() -> None:
    model = MLP(64, 10, hidden=[32, 16], activation="gelu", dropout=0.1)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 16), (16, 10)]
    assert sum(isinstance(m, nn.GELU) for m in model) == 2
    assert sum(isinstance(m, nn.Dropout) for m in model) == 2
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 10)  # inputs are flattened


def test_mlp_without_hidden_layers_is_linear() -> None:
    model = MLP(4, 2, hidden=[])
    assert [type(m) for m in model] == [nn.Flatten, nn.Linear]
