"""Store (quantize and scatter) and gather-dequantize against the plain reference."""
import pytest
import torch

import mla
import reference as ref
from cases import bf16, cache_bytes, make_cache, strided, cache_to

FLAVORS = [ref.FN, ref.FNUZ]


@pytest.mark.parametrize("version,page_size", [("v32", 64), ("v32", 53), ("v40", 64),
                                               ("v40", 2), ("v40", 61)])
@pytest.mark.parametrize("flavor", FLAVORS)
def test_store_writes_the_reference_bytes(device, gen, version, page_size, flavor):
    num_pages = 3
    d = 576 if version == "v32" else 512
    n_slots = num_pages * page_size
    slots = torch.randperm(n_slots, generator=gen)[:n_slots // 2]
    k = bf16(torch.randn(len(slots), d, generator=gen) / 10)
    k[0, :64] = 0  # an all-zero tile gives zero codes, never NaN
    cache = mla.empty_k_cache(num_pages, page_size, version, device, torch.uint8, zeroed=True)
    stride = cache.stride(0)
    wanted = torch.zeros(num_pages, stride, dtype=torch.uint8)
    ref.write_cache(wanted, version, page_size, stride, slots, k, flavor)
    slots_arg = torch.cat([slots, torch.tensor([-1, n_slots])])  # two skipped slots
    k_arg = torch.cat([k, bf16(torch.ones(2, d))])
    mla.store_k_cache(strided(k_arg.to(device)), cache, slots_arg.to(device), fp8=flavor)
    got = cache.cpu().reshape(num_pages, -1)
    assert torch.equal(got, wanted[:, :got.shape[1]])


@pytest.mark.parametrize("version,page_size", [("v32", 64), ("v40", 64), ("v40", 69)])
@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("slot_dtype", [torch.int32, torch.int64])
def test_gather_is_bit_exact(device, gen, version, page_size, flavor, slot_dtype):
    num_pages = 3
    used = torch.randperm(num_pages * page_size, generator=gen)[:100]
    cache, _, stride = make_cache(version, page_size, num_pages, used.tolist(), gen, flavor)
    slots = torch.cat([used[:50], torch.tensor([-1, -7, num_pages * page_size])])
    expected = ref.read_cache(cache_bytes(cache), version, page_size, stride, slots, flavor)
    out = mla.dequantize_k_cache_paged(cache_to(cache, device), slots.to(slot_dtype).to(device),
                                       fp8=flavor)
    assert out.shape == (len(slots), 1, expected.shape[1]) and out.dtype == torch.bfloat16
    assert torch.equal(out[:, 0].cpu().double(), expected)
    assert torch.equal(out[-3:].cpu(), torch.zeros_like(out[-3:].cpu()))  # invalid slots


def test_gather_into_strided_out(device, gen):
    cache, _, stride = make_cache("v40", 64, 2, list(range(128)), gen)
    slots = torch.arange(0, 128, 3)
    space = torch.full((len(slots), 1, 600), 7.0, dtype=torch.bfloat16, device=device)
    out = space[:, :, :512]
    got = mla.dequantize_k_cache_paged(cache_to(cache, device), slots.to(device), out=out)
    assert got is out
    expected = ref.read_cache(cache_bytes(cache), "v40", 64, stride, slots, ref.FN)
    assert torch.equal(out[:, 0].cpu().double(), expected)
    assert bool((space[:, :, 512:] == 7).all())


def test_sglang_v4_pool_needs_page_size(device, gen):
    # sglang's DeepSeek V4 pool: [num_pages, padded page bytes], read with page_size
    cache, _, stride = make_cache("v40", 64, 2, list(range(128)), gen)
    pool = cache_bytes(cache).to(device)
    slots = torch.arange(128)
    out = mla.dequantize_k_cache_paged(pool, slots.to(device), 64)
    expected = ref.read_cache(cache_bytes(cache), "v40", 64, stride, slots, ref.FN)
    assert torch.equal(out[:, 0].cpu().double(), expected)
    with pytest.raises(ValueError, match="quant_k_cache.*page_size"):
        mla.dequantize_k_cache_paged(pool, slots.to(device))


def test_flat_v32_pool(device, gen):
    cache, _, stride = make_cache("v32", 1, 40, list(range(40)), gen)
    flat = cache.reshape(40, 656).to(device)
    slots = torch.tensor([3, 39, 0])
    out = mla.dequantize_k_cache_paged(flat, slots.to(device))
    expected = ref.read_cache(cache_bytes(cache), "v32", 1, 656, slots, ref.FN)
    assert torch.equal(out[:, 0].cpu().double(), expected)


@pytest.mark.parametrize("version", ["v32", "v40"])
def test_quantize_k_cache_round_trip(device, gen, version):
    d = 576 if version == "v32" else 512
    k = bf16(torch.randn(2, 5, 1, d, generator=gen) / 10).to(device)
    cache = mla.quantize_k_cache(k)
    assert cache.shape == (2, 5, 1, 656 if version == "v32" else 584)
    back = mla.dequantize_k_cache_paged(cache, torch.arange(10, device=device))[:, 0]
    rows = k.reshape(10, d).double().cpu()
    err = (back.double().cpu() - rows).abs()
    assert bool((err <= rows.abs() / 8 + 1e-3).all())  # within one fp8 rounding
    rope = slice(512, 576) if version == "v32" else slice(448, 512)
    assert torch.equal(back[:, rope].cpu(), k.reshape(10, d)[:, rope].cpu())


def test_cache_argument_errors(device):
    cache = mla.empty_k_cache(2, 4, "v32", device, torch.uint8)
    slots = torch.arange(8, device=device)
    with pytest.raises(TypeError, match="page_table_1_flattened"):
        mla.dequantize_k_cache_paged(cache, slots.float())
    with pytest.raises(ValueError, match="quant_k_cache.*656.*584"):
        mla.dequantize_k_cache_paged(cache[..., :600], slots)
    with pytest.raises(TypeError, match="^k:"):
        mla.store_k_cache(torch.zeros(8, 576, device=device), cache, slots)
    with pytest.raises(ValueError, match="^k:"):
        mla.store_k_cache(bf16(torch.zeros(8, 512, device=device)), cache, slots)
    with pytest.raises(ValueError, match="^slots:"):
        mla.store_k_cache(bf16(torch.zeros(8, 576, device=device)), cache, slots[:3])
    if device.type == "cuda":
        with pytest.raises(ValueError, match="page_table_1_flattened.*cpu"):
            mla.dequantize_k_cache_paged(cache, slots.cpu())
