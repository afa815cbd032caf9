"""Attention for packed rows: each example attends causally within itself, and nothing else.

The trainer packs several examples (and pieces of raw text) into one row, with position ids that
restart at zero where each begins. transformers' SDPA path turns that into a dense block-diagonal
mask, and a kernel handed a mask must compute every query-key pair of the row: for a 512-token
row that is the whole square, where the examples need only their own causal triangles (about a
quarter of it for two examples, less for more). On a CPU that waste was a sixth of a training
step.

Here the row is cut at its example boundaries instead, and each piece goes through
`scaled_dot_product_attention` with `is_causal=True`, which skips the upper triangle outright.
The result is the same attention (tested against the masked SDPA path), with less work and no
mask to build. A sliding-window layer (Gemma 3's local layers) gets a banded mask for any piece
longer than its window. The boundaries come from the position ids, which the model passes down
to every attention call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface

NAME = "slmtui_packed"


class _LastLengths:
    """The lengths for the position ids seen last: every layer of one forward pass gets the same
    tensor, so they are read from it once per pass, not once per layer (a device sync on GPU)."""

    position_ids: torch.Tensor | None = None
    lengths: list[int] = []


def segment_lengths(position_ids: torch.Tensor) -> list[int]:
    """Lengths of the runs of positions that start at zero, over the rows laid end to end.

    Every row starts at position zero, so no run crosses from one row into the next.
    """
    if position_ids is _LastLengths.position_ids:
        return _LastLengths.lengths
    flat = position_ids.reshape(-1)
    starts = torch.nonzero(flat == 0).flatten().tolist()
    if not starts or starts[0] != 0:
        raise ValueError("packed attention needs position ids that start at zero in every row")
    lengths = [end - start for start, end in zip(starts, [*starts[1:], flat.numel()], strict=True)]
    _LastLengths.position_ids, _LastLengths.lengths = position_ids, lengths
    return lengths


def packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Causal attention within each packed example; shapes as transformers' SDPA function.

    query is (batch, heads, seq, dim), key and value (batch, kv_heads, seq, dim); the result is
    (batch, seq, heads, dim).
    """
    position_ids = kwargs.get("position_ids")
    if position_ids is None:
        raise ValueError("packed attention needs the position ids of the packed rows")
    batch, heads, seq, dim = query.shape
    lengths = segment_lengths(position_ids)

    def rows_end_to_end(tensor: torch.Tensor) -> torch.Tensor:
        # (batch, h, seq, dim) -> (1, h, batch*seq, dim), so one split cuts every row at once.
        return tensor.transpose(0, 1).reshape(1, tensor.shape[1], batch * seq, dim)

    pieces = zip(
        rows_end_to_end(query).split(lengths, dim=2),
        rows_end_to_end(key).split(lengths, dim=2),
        rows_end_to_end(value).split(lengths, dim=2),
        strict=True,
    )
    window = kwargs.get("sliding_window")  # Gemma 3's local layers: the last `window` tokens
    outputs = [
        F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=sliding_mask(q.shape[2], window, q.device) if needs_band(q, window) else None,
            dropout_p=dropout if module.training else 0.0,
            is_causal=not needs_band(q, window),
            scale=scaling,
            enable_gqa=k.shape[1] != heads,
        )
        for q, k, v in pieces
    ]
    joined = torch.cat(outputs, dim=2).reshape(heads, batch, seq, dim)
    return joined.permute(1, 2, 0, 3).contiguous(), None


def needs_band(query: torch.Tensor, window: int | None) -> bool:
    """Whether a piece is longer than the sliding window, so plain causal attention would see
    further back than the layer may."""
    return bool(window) and query.shape[2] > window


def sliding_mask(length: int, window: int, device: torch.device) -> torch.Tensor:
    """Causal within the last `window` positions, each position included (as transformers'
    sliding-window mask: key j is seen by query i when i - window < j <= i)."""
    rows = torch.arange(length, device=device)[:, None]
    cols = torch.arange(length, device=device)[None, :]
    return (cols <= rows) & (cols > rows - window)


def no_mask(*args, **kwargs) -> None:
    """The mask function for this implementation: the boundaries live in the position ids."""
    return None


def use_packed_attention(model) -> None:
    """Switch a transformers model (or a PEFT model around one) to packed attention."""
    AttentionInterface.register(NAME, packed_attention)
    AttentionMaskInterface.register(NAME, no_mask)
    model.set_attn_implementation(NAME)
