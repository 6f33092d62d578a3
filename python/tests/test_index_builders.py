"""build_swa_token_ids and combine_topk_swa_indices against SPEC 5 written plainly."""
import pytest
import torch

import mla


def swa_reference(seq, ext, req_idx, req_to_token, full_to_swa, w):
    ids, first, gather, offsets = [], [], [], [0]
    for r in range(len(seq)):
        g = max(0, min(seq[r], ext[r] + w - 1))
        f = seq[r] - g
        for i in range(g):
            ids.append(int(full_to_swa[req_to_token[req_idx[r], f + i]]))
        first.append(f)
        gather.append(g)
        offsets.append(offsets[-1] + g)
    return ids, first, gather, offsets


def combine_reference(topk_idx, qsl, seq, gather, cbase, sbase, topk, w, ratio, width):
    t_total = len(topk_idx)
    rows = [[-1] * width for _ in range(t_total)]
    lens = [0] * t_total
    q0 = qsl[0]
    for r in range(len(seq)):
        start, end = qsl[r] - q0, qsl[r + 1] - q0
        for t in range(start, end):
            pos = seq[r] - (end - start) + (t - start)
            tl = min(max((pos + 1) // ratio, 0), topk)
            sl = min(max(pos + 1, 0), w)
            gs = seq[r] - gather[r]
            row = [(topk_idx[t][j] + cbase[r]) if topk_idx[t][j] >= 0 else -1 for j in range(tl)]
            row += [sbase[r] + (pos - sl + 1 - gs) + j for j in range(sl)]
            rows[t][:len(row)] = row
            lens[t] = tl + sl
    return rows, lens


def test_build_swa_token_ids(device, gen):
    w = 8
    seq = [20, 5, 13]
    ext = [3, 5, 13]
    req_to_token = torch.randint(0, 200, (5, 32), generator=gen, dtype=torch.int32)
    full_to_swa = torch.randperm(200, generator=gen).to(torch.int64)
    req_idx = [4, 0, 2]
    want = swa_reference(seq, ext, req_idx, req_to_token, full_to_swa, w)
    t = lambda x: torch.tensor(x, dtype=torch.int32, device=device)  # noqa: E731
    got = mla.build_swa_token_ids(t(seq), t(ext), t(req_idx), req_to_token.to(device),
                                  full_to_swa.to(device), w)
    for g, e in zip(got, want):
        assert g.dtype == torch.int32 and g.tolist() == e
    fixed = mla.build_swa_token_ids(t(seq), t(ext), t(req_idx), req_to_token.to(device),
                                    full_to_swa.to(device), w, total_swa=len(want[0]))
    assert fixed[0].tolist() == want[0]


@pytest.mark.parametrize("topk,ratio", [(16, 4), (0, 1)])
def test_combine_topk_swa_indices_sglang_form(device, gen, topk, ratio):
    w = 8
    seq = [30, 9, 17]
    ext = [4, 9, 6]
    qsl = [100, 104, 113, 119]  # a chunk's slice of global offsets
    gather = [min(s, e + w - 1) for s, e in zip(seq, ext)]
    cbase = [0, 40, 80]
    sbase = [120, 131, 147]
    k = max(topk, 1)
    topk_idx = torch.randint(-1, 12, (19, k), generator=gen, dtype=torch.int32)
    width = mla.combined_topk_width(topk, w)
    assert width == -(-(topk + w) // 128) * 128
    want = combine_reference(topk_idx.tolist(), qsl, seq, gather, cbase, sbase, topk, w, ratio,
                             width)
    t = lambda x: torch.tensor(x, dtype=torch.int32, device=device)  # noqa: E731
    rows, lens = mla.combine_topk_swa_indices(topk_idx.to(device), t(qsl), t(seq), t(gather),
                                              t(cbase), t(sbase), w, ratio, topk)
    assert rows.tolist() == want[0] and lens.tolist() == want[1]


def test_combine_topk_swa_indices_vllm_form(device, gen):
    w, topk, ratio, M, N = 4, 8, 4, 100, 60
    seq, ext = [12, 7], [5, 7]
    qsl = [0, 5, 12]
    gather = [min(s, e + w - 1) for s, e in zip(seq, ext)]
    topk_idx = torch.randint(-1, 10, (12, topk), generator=gen, dtype=torch.int32)
    width = mla.combined_topk_width(topk, w)
    want = combine_reference(topk_idx.tolist(), qsl, seq, gather, [0, M], [N, M + N], topk, w,
                             ratio, width)
    t = lambda x: torch.tensor(x, dtype=torch.int32, device=device)  # noqa: E731
    rows, lens = mla.combine_topk_swa_indices(topk_idx.to(device), t(qsl), t(seq), t(gather),
                                              w, ratio, topk, M, N)
    assert rows.tolist() == want[0] and lens.tolist() == want[1]


def test_index_builder_argument_errors(device):
    t = lambda x, dt=torch.int32: torch.tensor(x, dtype=dt, device=device)  # noqa: E731
    with pytest.raises(TypeError, match="^seq_lens: dtype"):
        mla.build_swa_token_ids(t([3], torch.int64), t([1]), t([0]), t([[0, 1, 2]]),
                                t([0, 1, 2], torch.int64), 4)
    with pytest.raises(ValueError, match="^extend_seq_lens: shape"):
        mla.build_swa_token_ids(t([3]), t([1, 1]), t([0]), t([[0, 1, 2]]),
                                t([0, 1, 2], torch.int64), 4)
    with pytest.raises(ValueError, match="^gather_lens: shape"):
        mla.combine_topk_swa_indices(t([[0]]), t([0, 1]), t([1]), t([1, 1]), t([0]), t([0]),
                                     4, 4, 1)
