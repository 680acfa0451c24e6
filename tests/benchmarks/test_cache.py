"""The checksummed on-disk cache shared by the benchmark datasets."""

import pytest
import torch

from benchmarks.cache import cached, digest


def test_digest_sees_names_values_and_order_of_bytes():
    a = {"x": torch.arange(4.0), "y": torch.ones(2)}
    assert digest(a) == digest({"y": torch.ones(2), "x": torch.arange(4.0)})
    assert digest(a) != digest({"x": torch.arange(4.0), "z": torch.ones(2)})
    assert digest(a) != digest({"x": torch.arange(4.0).flip(0), "y": torch.ones(2)})
    assert digest({"x": torch.arange(4.0).view(2, 2).t()}) == digest({"x": torch.tensor([0.0, 2.0, 1.0, 3.0])})


def test_cache_is_written_read_and_regenerated_when_corrupted(tmp_path):
    path = tmp_path / "sub" / "data.pt"
    calls = []

    def generate():
        calls.append(1)
        return {"x": torch.randn(5, generator=torch.Generator().manual_seed(0))}

    first = cached(path, generate)
    assert path.exists() and len(calls) == 1
    assert torch.equal(cached(path, lambda: pytest.fail("a valid cache was regenerated"))["x"], first["x"])
    stored = torch.load(path)
    stored["tensors"]["x"] += 1.0
    torch.save(stored, path)
    assert torch.equal(cached(path, generate)["x"], first["x"]) and len(calls) == 2
    assert torch.equal(torch.load(path)["tensors"]["x"], first["x"])
    assert torch.equal(cached(None, generate)["x"], first["x"]) and len(calls) == 3
