"""Gradient episodic memory (Lopez-Paz & Ranzato, 2017) for a single past task.

GEM keeps a small memory of source samples and, on every step, checks the
proposed gradient ``g`` against the memory gradient ``g_mem``. If ``g . g_mem < 0``
the step would (to first order) raise the loss on the memory, so ``g`` is
replaced by the closest vector that does not: with one past task the QP

    min_z  1/2 ||z - g||^2   s.t.   z . g_mem >= 0

has the closed form ``z = g - (g . g_mem / ||g_mem||^2) g_mem``. A ``margin``
(the GEM code's dual lower bound) pushes a little further along ``g_mem``:
``z = g + max(margin, -g.g_mem/||g_mem||^2) g_mem``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def project_gradient(
    g: torch.Tensor, g_mem: torch.Tensor, margin: float = 0.0, eps: float = 1e-12
) -> tuple[torch.Tensor, bool]:
    """Project flat gradient ``g`` so that it does not oppose ``g_mem``; returns (gradient, projected?)."""
    dot = torch.dot(g, g_mem)
    if dot >= 0:
        return g, False
    nn2 = torch.dot(g_mem, g_mem)
    if nn2 <= eps:
        return g, False
    v = torch.clamp(-dot / nn2, min=margin)
    return g + v * g_mem, True


def flat_grad(params: Iterable[torch.nn.Parameter]) -> torch.Tensor:
    """All parameter gradients as one flat vector (zeros where a parameter has none)."""
    parts = []
    for p in params:
        if p.grad is None:
            parts.append(torch.zeros(p.numel(), dtype=p.dtype, device=p.device))
        else:
            parts.append(p.grad.detach().reshape(-1))
    return torch.cat(parts) if parts else torch.zeros(0)


def assign_flat_grad(params: Iterable[torch.nn.Parameter], flat: torch.Tensor) -> None:
    """Write a flat gradient vector back into ``p.grad`` of each parameter."""
    params = list(params)
    total = sum(p.numel() for p in params)
    if total != flat.numel():
        raise ValueError(f"flat gradient has {flat.numel()} values for {total} parameters")
    offset = 0
    for p in params:
        n = p.numel()
        chunk = flat[offset : offset + n].view_as(p).to(p.dtype)
        if p.grad is None:
            p.grad = chunk.clone()
        else:
            p.grad.copy_(chunk)
        offset += n
