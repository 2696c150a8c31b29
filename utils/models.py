"""Small model factories: fast on a laptop CPU, big enough to show the effects the lessons need."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["mlp", "small_cnn", "count_parameters"]


def mlp(in_features: int, hidden: Sequence[int] = (256, 256), n_classes: int = 10, dropout: float = 0.0) -> nn.Sequential:
    """A ReLU MLP that flattens its input first, so it takes images (N, C, H, W) or vectors (N, D)."""
    if in_features < 1 or n_classes < 1:
        raise ValueError("in_features and n_classes must be positive")
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def small_cnn(in_channels: int = 1, n_classes: int = 10, width: int = 32, image_size: int = 8) -> nn.Sequential:
    """Two 3x3 conv blocks, a 2x2 max-pool, and a linear head (about 52k parameters at width 32, 8x8 input).

    ``model[:4]`` is the convolutional feature extractor (handy for reading channel activations).
    """
    if image_size < 2 or image_size % 2:
        raise ValueError(f"image_size must be an even number >= 2, got {image_size}")
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(width * (image_size // 2) ** 2, 64), nn.ReLU(),
        nn.Linear(64, n_classes),
    )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
