"""The cloze task of bidirectional sequence encoders (BERT4Rec): masked training sequences and the inference input.

A bidirectional encoder sees the whole sequence at every position, so it cannot be trained to predict the next
item from the items before it (it would read the answer). It is trained instead to restore items hidden behind a
[mask] token (Sun et al., 2019, Sec. 3.6): a proportion rho of a sequence's items is replaced by [mask] and the
loss is the cross-entropy of each masked item given the rest. Samples that mask only the last item match the
next-item task; at inference the [mask] token is appended after the history and its output scores the next item.

The training sequences are built from the base class's batches of prefixes: each prefix with its target appended
(the most recent `length` items), so every training target is restored at least as the last item, never a
validation or test item. Sequences are left-aligned and zero-padded; the [mask] token is one id past the items.

The masks are drawn from a generator seeded by the batch's items (`batch_generator`): a batch seen twice is masked
the same way, as the authors' code fixes each training instance's masks when it writes the data, while the
shuffled batches of each epoch draw new ones.
"""

from __future__ import annotations

import hashlib

import torch

PAD = 0


def append_item(histories: torch.Tensor, lengths: torch.Tensor, items: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, L] left-aligned histories with `items` [B] written after their last real item -> (sequences [B, L],
    lengths [B]); a full history drops its oldest item so the newest L items remain."""
    full = lengths >= histories.shape[1]
    shifted = torch.where(full[:, None], torch.roll(histories, -1, dims=1), histories)
    slot = torch.where(full, lengths.new_full(lengths.shape, histories.shape[1] - 1), lengths)
    sequences = shifted.scatter(1, slot[:, None], items[:, None])
    return sequences, slot + 1


def shift_in_item(histories: torch.Tensor, lengths: torch.Tensor, items: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """RecBole's BERT4Rec inference input (`reconstruct_test_data`): every history, full or not, drops its oldest
    item, shifts left and takes `items` [B] after its last -> (sequences [B, L], lengths [B], unchanged). An empty
    history (RecBole has none) takes the item at position 0, as `append_item` writes it."""
    padded = torch.cat([histories, histories.new_zeros(len(histories), 1)], dim=1)
    shifted = padded.scatter(1, lengths[:, None], items[:, None])[:, 1:]
    appended, appended_lengths = append_item(histories, lengths, items)
    empty = lengths == 0
    return torch.where(empty[:, None], appended, shifted), torch.where(empty, appended_lengths, lengths)


def batch_generator(sequences: torch.Tensor) -> torch.Generator:
    """A generator on the batch's device seeded by its items: the same batch draws the same masks."""
    seed = int(hashlib.sha256(sequences.cpu().numpy().tobytes()).hexdigest()[:15], 16)
    return torch.Generator(device=sequences.device).manual_seed(seed)


def mask_items(sequences: torch.Tensor, lengths: torch.Tensor, ratio: float, mask_id: int, last_share: float,
               generator: torch.Generator | None = None, *, loss_cap: int = 0, first_position_loss: bool = True,
               fallback_last: bool = True, last_by_batch: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The cloze inputs and labels of left-aligned sequences [B, L]: (tokens [B, L], labels [B, L]).

    Each real item is replaced by [mask] with probability `ratio`; a share `last_share` of the sequences instead
    mask only their last item (the paper's samples that match next-item prediction). A sequence no draw masked
    masks its last item, so every sequence restores at least one. Labels hold the hidden item where masked, 0 else.

    RecBole's BERT4Rec (`MaskItemSequence`) as options, the paper's form by default: `last_by_batch` draws the
    last-item choice once for the whole batch (its ft_ratio); `fallback_last=False` leaves a sequence no draw
    masked unmasked (no loss); `loss_cap` > 0 labels only the last `loss_cap` masked positions of a sequence (the
    others stay masked in the input: its mask_item_length); `first_position_loss=False` gives a mask at position 0
    no label (its index 0 reads as padding).
    """
    real = torch.arange(sequences.shape[1], device=sequences.device)[None, :] < lengths[:, None]
    drawn = torch.rand(sequences.shape, generator=generator, device=sequences.device) < ratio
    last = torch.zeros_like(real).scatter(1, (lengths - 1).clamp(min=0)[:, None], True) & real
    rows = 1 if last_by_batch else sequences.shape[0]
    last_only = (torch.rand(rows, generator=generator, device=sequences.device) < last_share).expand(
        sequences.shape[0])
    masked = torch.where(last_only[:, None], last, drawn & real)
    if fallback_last:
        masked |= last & ~masked.any(dim=1, keepdim=True)
    tokens = torch.where(masked, torch.full_like(sequences, mask_id), sequences)
    return tokens, torch.where(labelled(masked, loss_cap, first_position_loss), sequences, torch.zeros_like(sequences))


def labelled(masked: torch.Tensor, cap: int, first_position: bool) -> torch.Tensor:
    """The masked positions [B, L] that give loss: the last `cap` of each row (all when cap is 0), position 0
    only if `first_position` (RecBole caps first, then drops index 0)."""
    kept = masked
    if cap > 0:
        from_end = masked.flip(1).long().cumsum(1).flip(1)  # masked positions at or after each one
        kept = kept & (from_end <= cap)
    if not first_position:
        kept = kept.clone()
        kept[:, 0] = False
    return kept
