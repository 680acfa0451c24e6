"""Input checks shared by the kernel and the layers: each error names what was expected and what
was received. Checks of values (NaN, inf) need the data on the host, so they run eagerly only:
under ``torch.compile`` they would break the graph."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from groups import Group, Rep


def check_reps(rep_in: Rep, rep_out: Rep, attr: Rep | None = None) -> Group:
    """The common group of the reps; ``ValueError`` if they belong to different groups."""
    for name, rep in (("rep_in", rep_in), ("rep_out", rep_out), ("attr", attr)):
        if rep is not None and not isinstance(rep, Rep):
            raise TypeError(f"{name} must be a Rep, got {type(rep).__name__}")
    group = rep_in.group
    group.check_same_group(rep_out)
    if attr is not None:
        group.check_same_group(attr)
    return group


def check_positions(x: torch.Tensor, group: Group, what: str = "positions") -> None:
    """``x`` must be a floating tensor ``(..., n)`` without NaN or inf."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got {type(x).__name__}")
    if x.dim() == 0 or x.shape[-1] != group.n:
        raise ValueError(
            f"{what} must have last dimension n = {group.n} for {group.name}, got shape {tuple(x.shape)}"
        )
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{what} contain NaN or inf")


def check_features(f: torch.Tensor, rep: Rep, dim: int, what: str) -> None:
    """``f`` must be floating with ``rep.size`` channels along ``dim``."""
    if not torch.is_tensor(f) or not f.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got {type(f).__name__}")
    if f.dim() <= dim or f.shape[dim] != rep.size:
        raise ValueError(
            f"{what} must have {rep.size} channels (the size of {rep!r}) in dimension {dim}, "
            f"got shape {tuple(f.shape)}"
        )


def check_attr(attr: torch.Tensor | None, rep: Rep | None, batch_shape: torch.Size) -> None:
    """Attributes must be given exactly when a rep was declared, with shape ``batch + (rep.size,)``."""
    if rep is None:
        if attr is not None:
            raise ValueError("attributes were given but the layer was built without an attr rep (attr=None)")
        return
    if attr is None:
        raise ValueError(f"this layer needs attributes of {rep!r} (shape (..., {rep.size})), got None")
    expected = tuple(batch_shape) + (rep.size,)
    if tuple(attr.shape) != expected:
        raise ValueError(f"attributes must have shape {expected}, got {tuple(attr.shape)}")
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(attr).all()):
        raise ValueError("attributes contain NaN or inf")


def check_edge_index(edge_index: torch.Tensor, num_nodes: int) -> None:
    """``edge_index`` must be an integer ``(2, E)`` tensor with entries in ``[0, num_nodes)``."""
    if not torch.is_tensor(edge_index) or edge_index.dtype not in (torch.int64, torch.int32):
        received = getattr(edge_index, "dtype", type(edge_index).__name__)
        raise TypeError(f"edge_index must be an int64 or int32 tensor, got {received}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(
            f"edge_index entries must lie in [0, {num_nodes}) for {num_nodes} nodes, "
            f"got range [{int(edge_index.min())}, {int(edge_index.max())}]"
        )


def check_dtypes(layer: nn.Module, features: torch.Tensor, what: str, **others: torch.Tensor | None) -> None:
    """The features must have the dtype of the layer's parameters (of its first floating parameter,
    or buffer if it has none, float64 constants aside; no check without either), and each tensor in
    ``others`` (by name, e.g. ``positions=pos``; ``None`` skips one) the features' dtype. Layers
    never cast their inputs: a mismatch is a ``TypeError`` naming both dtypes. ``layer.to(dtype)``
    converts a layer."""
    tensors = itertools.chain(layer.parameters(), _state_buffers(layer))
    expected = next((t.dtype for t in tensors if t.is_floating_point()), None)
    if expected is not None and features.dtype != expected:
        raise TypeError(
            f"the dtype of the {what} ({features.dtype}) is not the dtype of the layer's parameters "
            f"({expected}); convert the {what} (.to({expected})) or the layer (layer.to({features.dtype}))"
        )
    for name, tensor in others.items():
        if tensor is not None and tensor.dtype != features.dtype:
            raise TypeError(
                f"the dtype of the {name} ({tensor.dtype}) is not the dtype of the features ({features.dtype}); "
                f"give the {name} in the features' dtype"
            )


def _state_buffers(layer: nn.Module):
    """The buffers of ``layer`` and its submodules that follow ``.to(dtype)`` (running statistics),
    not the float64 constants of a :class:`~groups.kernel_network.ConstantsModule`."""
    for module in layer.modules():
        constants = module.__dict__.get("_constant_names", set())
        for name, buffer in module.named_buffers(recurse=False):
            if name not in constants:
                yield buffer
