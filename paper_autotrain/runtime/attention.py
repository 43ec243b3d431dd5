"""A causal Transformer encoder layer whose self-attention is PyTorch's fused scaled_dot_product_attention.

`CausalEncoderLayer` is `nn.TransformerEncoderLayer` (the same parameters, names, sublayers and maths) except for
the training path of its self-attention under a causal mask: `nn.MultiheadAttention` splits its packed q/k/v
projection by three `select`s, whose backward writes each gradient into a zero-filled copy of the whole [3, L, B, d]
projection; here the projection is split by `unbind` (its backward one stack) and the attention runs in
`F.scaled_dot_product_attention(is_causal=True)` (softmax(q k^T / sqrt(d_h)) with the future masked, dropout on the
weights at the layer's rate, times v). Any other mask (a key-padding mask, a non-causal one) takes the parent's
path, and evaluation without gradients PyTorch's fused fast path as before.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalEncoderLayer(nn.TransformerEncoderLayer):
    """nn.TransformerEncoderLayer (batch_first) with a fused causal self-attention (see the module docstring)."""

    def _sa_block(self, x: torch.Tensor, attn_mask: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
                  is_causal: bool = False) -> torch.Tensor:
        attention = self.self_attn
        if not (is_causal and key_padding_mask is None and attention.batch_first and attention._qkv_same_embed_dim):
            return super()._sa_block(x, attn_mask, key_padding_mask, is_causal=is_causal)
        batch, length, dim = x.shape
        heads = attention.num_heads
        projected = F.linear(x, attention.in_proj_weight, attention.in_proj_bias)
        query, key, value = projected.view(batch, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(query, key, value, is_causal=True,
                                                  dropout_p=attention.dropout if self.training else 0.0)
        attended = attended.transpose(1, 2).reshape(batch, length, dim)
        return self.dropout1(F.linear(attended, attention.out_proj.weight, attention.out_proj.bias))
