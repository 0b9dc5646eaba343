"""The image-optimisation loop shared by the optimisation-based style operators."""
from __future__ import annotations

from typing import Callable

import torch

OPTIMIZERS = ("lbfgs", "adam")


def optimise_image(x0: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor], optimizer: str,
                   steps: int, lr: float) -> torch.Tensor:
    """Minimise `loss_fn(x)` over the pixels of `x`, from `x0`, for `steps` iterations; result clamped to [0, 1].

    `lbfgs` runs L-BFGS with a strong-Wolfe line search (the usual choice for Gatys-style transfer),
    `adam` runs Adam with learning rate `lr`.
    """
    x = x0.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    if optimizer == "lbfgs":
        lbfgs = torch.optim.LBFGS([x], lr=1.0, max_iter=steps, history_size=50, tolerance_grad=0.0,
                                  tolerance_change=0.0, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            lbfgs.zero_grad()
            loss = loss_fn(x)
            loss.backward()
            return loss

        lbfgs.step(closure)
    else:
        adam = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            adam.zero_grad()
            loss_fn(x).backward()
            adam.step()
    return x.detach().clamp(0, 1)
