"""The fill-in slots' shape contracts, checked on every call of a custom part while the probe runs.

A custom part's class (templates/slots/custom_part.py.j2) carries its slot's contract as class attributes, written
from the slot's manifest (templates/slots/<slot>.yaml): `SLOT`, `INPUTS` and `OUTPUTS`, each input and output a
tuple of size names ("B", "L", "dim"; a leading "..." is any number of batch dimensions; None: not a tensor). A
size named once must be the same wherever it appears in that call; a size no input binds (an autoencoder encoder's
latent `dim`) is read from the part's `slot_sizes`, which the slot's fixed __init__ line sets. A mismatch raises
SlotShapeError, whose one line (the part, the slot, the value and what was expected) is the gate's message the LLM
is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

ELLIPSIS = "..."


class SlotShapeError(ValueError):
    """A custom part's call broke its slot's shape contract."""


def contract_of(module: nn.Module) -> tuple[str, Mapping[str, Any], Mapping[str, Any]] | None:
    """(slot, inputs, outputs) of a custom part's class; None for any other module."""
    kind = type(module)
    slot, inputs, outputs = (getattr(kind, name, None) for name in ("SLOT", "INPUTS", "OUTPUTS"))
    if isinstance(slot, str) and isinstance(inputs, Mapping) and isinstance(outputs, Mapping):
        return slot, inputs, outputs
    return None


def attach(model: nn.Module) -> int:
    """Check every custom part of `model` on each call (a forward hook); the number of parts found."""
    found = 0
    for module in model.modules():
        if contract_of(module) is not None:
            module.register_forward_hook(check_call, with_kwargs=True)
            found += 1
    return found


def check_call(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
    contract = contract_of(module)
    assert contract is not None
    slot, inputs, outputs = contract
    part = f"custom part {type(module).__name__} (slot {slot})"
    sizes: dict[str, Any] = {key: int(value) for key, value in dict(getattr(module, "slot_sizes", None) or {}).items()}
    values = [*args, *(kwargs[name] for name in list(inputs)[len(args):] if name in kwargs)]
    for (name, shape), value in zip(inputs.items(), values, strict=False):
        if shape is not None and isinstance(value, torch.Tensor):
            match(part, "was given", name, value, shape, sizes)
    names = list(outputs)
    if len(names) == 1:
        results = [output]
        if not isinstance(output, torch.Tensor):
            raise SlotShapeError(f"{part} returned {type(output).__name__}, expected one tensor {names[0]}")
    else:
        if not isinstance(output, tuple | list) or len(output) != len(names):
            got = f"{len(output)} values" if isinstance(output, tuple | list) else type(output).__name__
            raise SlotShapeError(f"{part} returned {got}, expected a tuple ({', '.join(names)})")
        results = list(output)
    for (name, shape), value in zip(outputs.items(), results, strict=True):
        if not isinstance(value, torch.Tensor):
            raise SlotShapeError(f"{part} returned {name} as {type(value).__name__}, expected a tensor")
        if not value.is_floating_point():
            raise SlotShapeError(f"{part} returned {name} of dtype {value.dtype}, expected a float tensor")
        if shape is not None:
            match(part, "returned", name, value, shape, sizes)


def match(part: str, verb: str, name: str, value: torch.Tensor, shape: Sequence[str], sizes: dict[str, Any]) -> None:
    """Bind `shape`'s size names to `value`'s sizes, or raise naming what was expected."""
    actual = tuple(int(size) for size in value.shape)
    pattern = list(shape)
    lead: tuple[int, ...] = ()
    if pattern[:1] == [ELLIPSIS]:
        pattern = pattern[1:]
        cut = len(actual) - len(pattern)
        if cut < 0:
            raise SlotShapeError(mismatch(part, verb, name, actual, shape, sizes))
        lead, actual_tail = actual[:cut], actual[cut:]
        if ELLIPSIS in sizes and sizes[ELLIPSIS] != lead:
            raise SlotShapeError(mismatch(part, verb, name, actual, shape, sizes))
        sizes.setdefault(ELLIPSIS, lead)
    else:
        actual_tail = actual
    if len(actual_tail) != len(pattern):
        raise SlotShapeError(mismatch(part, verb, name, actual, shape, sizes))
    for symbol, size in zip(pattern, actual_tail, strict=True):
        if symbol in sizes and sizes[symbol] != size:
            raise SlotShapeError(mismatch(part, verb, name, actual, shape, sizes))
        sizes.setdefault(symbol, size)


def mismatch(part: str, verb: str, name: str, actual: tuple[int, ...], shape: Sequence[str],
             sizes: Mapping[str, Any]) -> str:
    expected = [str(list(sizes[s])) if s == ELLIPSIS and s in sizes else str(sizes.get(s, s)) for s in shape]
    return (f"{part} {verb} {name} of shape {list(actual)}, expected [{', '.join(shape)}] = "
            f"[{', '.join(expected)}] (sizes bound so far: {format_sizes(sizes)})")


def format_sizes(sizes: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={list(value) if isinstance(value, tuple) else value}" for key, value in sizes.items()) \
        or "none"
