"""Small fused operations around the attention (SPEC 7) with the engines' names:
concat_mla_k and concat_mla_absorb_q (sglang), merge_state (sglang) and
merge_attn_states (vLLM), and norm_rope (RMSNorm + interleaved RoPE on the last 64 values,
or the inverse rotation of the attention output)."""
from typing import Optional, Tuple

import torch

from . import _cabi as c
from . import _runtime
from ._tensors import check_device_type, check_last_contiguous, check_tensor, pointer

__all__ = ["concat_mla_k", "concat_mla_absorb_q", "merge_state", "merge_attn_states",
           "norm_rope"]

_BF16 = (torch.bfloat16,)
_F32 = (torch.float32,)
_TABLES = {"halves": c.ROPE_TABLE_HALVES, "interleaved": c.ROPE_TABLE_INTERLEAVED}


def _same_shape(name, t, shape):
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name}: must have shape {tuple(shape)}, got {tuple(t.shape)}")


def concat_mla_k(k: torch.Tensor, k_nope: torch.Tensor, k_rope: torch.Tensor) -> None:
    """k[n, h] = [k_nope[n, h] | k_rope[n, 0]] in place (sglang's argument order).
    k: bf16 [N, H, 192]; k_nope: bf16 [N, H, 128]; k_rope: bf16 [N, 1, 64]."""
    check_tensor("k", k, _BF16, 3, None)
    device = check_device_type("k", k)
    check_tensor("k_nope", k_nope, _BF16, 3, device)
    check_tensor("k_rope", k_rope, _BF16, 3, device)
    n, h = k.shape[0], k.shape[1]
    _same_shape("k", k, (n, h, 192))
    _same_shape("k_nope", k_nope, (n, h, 128))
    _same_shape("k_rope", k_rope, (n, 1, 64))
    for name, t in (("k", k), ("k_nope", k_nope), ("k_rope", k_rope)):
        check_last_contiguous(name, t)
    args = c.ConcatMlaKArgs()
    args.k_nope, args.k_rope, args.k = pointer(k_nope), pointer(k_rope), pointer(k)
    _runtime.run("mla_concat_mla_k", device, args)


def concat_mla_absorb_q(a: torch.Tensor, b: torch.Tensor,
                        out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """[a | b] along the last dimension: a bf16 [N, (H,) 512], b bf16 [N, (H,) 64]
    -> bf16 [N, (H,) 576] (out if given)."""
    check_tensor("a", a, _BF16, None, None)
    device = check_device_type("a", a)
    check_tensor("b", b, _BF16, a.dim(), device)
    if a.dim() not in (2, 3) or a.shape[-1] != 512:
        raise ValueError(f"a: must be [N, 512] or [N, H, 512], got shape {tuple(a.shape)}")
    _same_shape("b", b, tuple(a.shape[:-1]) + (64,))
    shape = tuple(a.shape[:-1]) + (576,)
    if out is None:
        out = torch.empty(shape, dtype=torch.bfloat16, device=device)
    else:
        check_tensor("out", out, _BF16, a.dim(), device)
        _same_shape("out", out, shape)
    for name, t in (("a", a), ("b", b), ("out", out)):
        check_last_contiguous(name, t)
    args = c.ConcatMlaAbsorbQArgs()
    args.a, args.b, args.out = pointer(a), pointer(b), pointer(out)
    _runtime.run("mla_concat_mla_absorb_q", device, args)
    return out


def merge_state(v_a: torch.Tensor, s_a: torch.Tensor, v_b: torch.Tensor, s_b: torch.Tensor,
                v_merged: Optional[torch.Tensor] = None,
                s_merged: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Merges two attention states over disjoint keys (sglang merge_state).
    v_a, v_b: bf16 [N, H, D]; s_a, s_b: fp32 [N, H] natural-log lse (+inf, -inf or NaN mean
    no keys). Returns (v bf16 [N, H, D], s fp32 [N, H]); both empty gives v = 0, s = +inf."""
    check_tensor("v_a", v_a, _BF16, 3, None)
    device = check_device_type("v_a", v_a)
    check_tensor("v_b", v_b, _BF16, 3, device)
    _same_shape("v_b", v_b, v_a.shape)
    for name, t in (("s_a", s_a), ("s_b", s_b)):
        check_tensor(name, t, _F32, 2, device)
        _same_shape(name, t, v_a.shape[:2])
    if v_merged is None:
        v_merged = torch.empty_like(v_a, memory_format=torch.contiguous_format)
    else:
        check_tensor("v_merged", v_merged, _BF16, 3, device)
        _same_shape("v_merged", v_merged, v_a.shape)
    if s_merged is None:
        s_merged = torch.empty(tuple(v_a.shape[:2]), dtype=torch.float32, device=device)
    else:
        check_tensor("s_merged", s_merged, _F32, 2, device)
        _same_shape("s_merged", s_merged, v_a.shape[:2])
    for name, t in (("v_a", v_a), ("v_b", v_b), ("v_merged", v_merged)):
        check_last_contiguous(name, t)
    _merge(device, v_a, s_a, v_b, s_b, v_merged, s_merged)
    return v_merged, s_merged


def merge_attn_states(output: torch.Tensor, prefix_output: torch.Tensor,
                      prefix_lse: torch.Tensor, suffix_output: torch.Tensor,
                      suffix_lse: torch.Tensor,
                      output_lse: Optional[torch.Tensor] = None) -> None:
    """vLLM's merge_attn_states: writes output (and output_lse) in place. The outputs are
    bf16 [N, H, D]; the lse tensors are fp32 [H, N], vLLM's layout."""
    check_tensor("output", output, _BF16, 3, None)
    device = check_device_type("output", output)
    n, h = output.shape[0], output.shape[1]
    for name, t in (("prefix_output", prefix_output), ("suffix_output", suffix_output)):
        check_tensor(name, t, _BF16, 3, device)
        _same_shape(name, t, output.shape)
    for name, t in (("prefix_lse", prefix_lse), ("suffix_lse", suffix_lse),
                    ("output_lse", output_lse)):
        check_tensor(name, t, _F32, 2, device, optional_ok=name == "output_lse")
        if t is not None:
            _same_shape(name, t, (h, n))
    for name, t in (("output", output), ("prefix_output", prefix_output),
                    ("suffix_output", suffix_output)):
        check_last_contiguous(name, t)
    _merge(device, prefix_output, prefix_lse.t(), suffix_output, suffix_lse.t(), output,
           None if output_lse is None else output_lse.t())


def _merge(device, v_a, s_a, v_b, s_b, v_out, s_out):
    args = c.MergeStateArgs()
    args.v_a, args.lse_a = pointer(v_a), pointer(s_a)
    args.v_b, args.lse_b = pointer(v_b), pointer(s_b)
    args.v_out, args.lse_out = pointer(v_out), pointer(s_out)
    _runtime.run("mla_merge_state", device, args)


def norm_rope(x: torch.Tensor, positions: torch.Tensor, cos_sin: torch.Tensor, *,
              weight: Optional[torch.Tensor] = None, eps: float = 1e-6,
              normalize: bool = True, inverse: bool = False, table_layout: str = "halves",
              out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """RMSNorm then RoPE on the last 64 values of each row, with interleaved pairs (SPEC 7).

    x: bf16 [N, H, D] or [N, D] (D even, >= 64); positions: int32/int64 [N] rows of cos_sin;
    cos_sin: fp32 [max_pos, 64], laid out 'halves' ([cos_0..cos_31 | sin_0..sin_31], vLLM)
    or 'interleaved' ([cos_0, sin_0, ...], sglang's freqs_cis as real); weight: bf16 or fp32
    [D] or None. normalize=False rotates only; inverse=True applies the conjugate rotation
    (undoing the rope of the attention output). out may be x itself (in place).
    Returns out (a new tensor unless given).
    """
    check_tensor("x", x, _BF16, None, None)
    device = check_device_type("x", x)
    if x.dim() not in (2, 3) or x.shape[-1] < 64 or x.shape[-1] % 2:
        raise ValueError(f"x: must be [N, H, D] or [N, D] with D even and >= 64, "
                         f"got shape {tuple(x.shape)}")
    check_tensor("positions", positions, (torch.int32, torch.int64), 1, device)
    if positions.shape[0] != x.shape[0]:
        raise ValueError(f"positions: shape[0] must be {x.shape[0]} (the rows of x), "
                         f"got shape {tuple(positions.shape)}")
    check_tensor("cos_sin", cos_sin, _F32, 2, device)
    if cos_sin.shape[1] != 64:
        raise ValueError(f"cos_sin: must be [max_pos, 64], got shape {tuple(cos_sin.shape)}")
    check_tensor("weight", weight, _BF16 + _F32, 1, device, optional_ok=True)
    if weight is not None and (weight.shape[0] != x.shape[-1] or not normalize):
        raise ValueError(f"weight: must have {x.shape[-1]} values (D) and comes with "
                         f"normalize=True, got shape {tuple(weight.shape)}")
    if table_layout not in _TABLES:
        raise ValueError(f"table_layout: must be 'halves' or 'interleaved', "
                         f"got {table_layout!r}")
    if out is None:
        out = torch.empty(x.shape, dtype=torch.bfloat16, device=device)
    else:
        check_tensor("out", out, _BF16, x.dim(), device)
        _same_shape("out", out, x.shape)
    for name, t in (("x", x), ("cos_sin", cos_sin), ("out", out)):
        check_last_contiguous(name, t)
    args = c.NormRopeArgs()
    args.x, args.weight, args.positions = pointer(x), pointer(weight), pointer(positions)
    args.cos_sin = pointer(cos_sin)
    args.table_layout = _TABLES[table_layout]
    args.normalize, args.inverse = int(bool(normalize)), int(bool(inverse))
    args.eps = float(eps)
    args.out = pointer(out)
    _runtime.run("mla_norm_rope", device, args)
    return out
