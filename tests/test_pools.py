"""Pools that are not one in-memory tensor: Datasets, DataLoaders, iterables of batches, memory maps.

The truth for every streamed result is computed independently of the streaming code: the same acquisition function
on the same points held as one in-memory tensor (its scores; ``torch.sort`` of all scores for top-k; the in-memory
greedy rule on the rows a shortlist must contain, picked with ``torch.topk`` from all scores).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

import infonotation as inf
from infonotation.errors import CompileError
from infonotation.protocol import StreamSelection

f64 = torch.float64
N = 150


@pytest.fixture(scope="module")
def s() -> dict:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).double().eval()
    drop = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4)).double().eval()
    X = torch.randn(N, 6, dtype=f64)
    y = torch.randint(0, 4, (N,))
    train = (torch.randn(40, 6, dtype=f64), torch.randint(0, 4, (40,)))
    acq = inf.compile("I[W;Y|x]", net, train=train, chunk_size=32)
    return {"net": net, "drop": drop, "X": X, "y": y, "train": train, "eval": torch.randn(10, 6, dtype=f64),
            "acq": acq, "truth": acq.scores(X)}


class MemmapPoints(Dataset):
    """A map-style dataset over a memory-mapped .npy file, opened lazily (the usual pattern for big pools)."""

    def __init__(self, path: str):
        self.path = path
        self.data: np.ndarray | None = None

    def __len__(self) -> int:
        return int(np.load(self.path, mmap_mode="r").shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self.data is None:
            self.data = np.load(self.path, mmap_mode="r")
        return torch.from_numpy(np.array(self.data[i])), i


class Stream(IterableDataset):
    def __init__(self, X: torch.Tensor):
        self.X = X

    def __iter__(self):
        return iter(self.X)


def pools(X: torch.Tensor, y: torch.Tensor, tmp_path) -> dict[str, object]:
    path = str(tmp_path / "pool.npy")
    np.save(path, X.numpy())
    return {
        "DataLoader of inputs": DataLoader(TensorDataset(X), batch_size=37),
        "DataLoader of (inputs, labels)": DataLoader(TensorDataset(X, y), batch_size=100),
        "DataLoader, batch_size=1": DataLoader(TensorDataset(X), batch_size=1),
        "TensorDataset": TensorDataset(X, y),
        "list of tensors": [X[i : i + 40] for i in range(0, N, 40)],
        "generator of (x, y) tuples": ((X[i : i + 25], y[i : i + 25]) for i in range(0, N, 25)),
        "memory-mapped array": np.load(path, mmap_mode="r"),
        "Dataset over a memory map": MemmapPoints(path),
        "DataLoader over a memory map": DataLoader(MemmapPoints(path), batch_size=64),
        "IterableDataset": Stream(X),
    }


def test_every_kind_of_pool_scores_like_the_tensor(s: dict, tmp_path) -> None:
    for name, pool in pools(s["X"], s["y"], tmp_path).items():
        got = s["acq"].scores(pool)
        assert got.shape == (N,), name
        torch.testing.assert_close(got, s["truth"], rtol=1e-12, atol=0, msg=name)


def test_a_float32_stream_is_cast_like_a_float32_tensor(s: dict) -> None:
    X32 = s["X"].float()
    truth = s["acq"].scores(X32)  # the in-memory path casts to the network's dtype
    got = s["acq"].scores(DataLoader(TensorDataset(X32), batch_size=64))
    torch.testing.assert_close(got, truth, rtol=1e-12, atol=0)


def all_acquisitions(s: dict) -> dict[str, inf.Acquisition]:
    out: dict[str, inf.Acquisition] = {
        "compile weight": s["acq"],
        "compile prediction": inf.compile("I[W;Y|x]", s["drop"], space="prediction", num_samples=6),
        "compile prediction EPIG": inf.compile("I[Y_eval;Y|x,X_eval]", s["drop"], space="prediction",
                                               num_samples=6, eval=s["eval"]),
    }
    for name, m in inf.methods.items():
        kw: dict = {"eval": s["eval"]} if m.needs_eval else {}
        if name == "badge_logdet":
            kw["eps"] = 1e-4  # the default eps depends on the whole pool (refused for streams, tested below)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", inf.CompileWarning)
            net = s["drop"] if m.space == "prediction" else s["net"]
            out[name] = m.compile(net, train=s["train"], **kw)
    return out


def test_every_acquisition_function_and_method_streams(s: dict) -> None:
    """Scores of a DataLoader equal the tensor's; every strategy on a stream whose shortlist holds the whole pool
    equals the in-memory rule (the shortlist is then the pool, in pool order)."""
    X, y = s["X"][:60], s["y"][:60]
    for name, acq in all_acquisitions(s).items():
        y_pool = y if acq.label_aware else None
        loader = DataLoader(TensorDataset(X, y), batch_size=23)
        truth = acq.scores(X, y_pool=y_pool)
        torch.testing.assert_close(acq.scores(loader, y_pool=y_pool), truth, rtol=1e-10, atol=1e-12, msg=name)
        torch.testing.assert_close(acq.scores(loader, y_pool="batch" if y_pool is not None else None), truth,
                                   rtol=1e-10, atol=1e-12, msg=name)
        for strategy in acq.strategies:
            want = acq.select(X, 4, strategy, y_pool=y_pool)
            got = acq.select(loader, 4, strategy, y_pool=y_pool, shortlist=60)
            assert isinstance(got, StreamSelection) and got.pool_size == 60, (name, strategy)
            assert got.indices.tolist() == want.indices.tolist(), (name, strategy)
            torch.testing.assert_close(got.scores, want.scores, rtol=1e-8, atol=1e-10, msg=f"{name} {strategy}")


def test_random_scores_do_not_depend_on_the_chunks(s: dict) -> None:
    rnd = inf.methods.random.compile(s["net"], seed=7)
    truth = rnd.scores(s["X"])
    for pool in (DataLoader(TensorDataset(s["X"]), batch_size=1), [s["X"][:100], s["X"][100:]]):
        torch.testing.assert_close(rnd.scores(pool), truth, rtol=0, atol=0)
    assert float(truth.min()) >= 0 and float(truth.max()) < 1 and len(set(truth.tolist())) == N


def test_running_topk_is_the_topk_of_all_scores(s: dict) -> None:
    X = torch.cat([s["X"][:50], s["X"][:50], s["X"][50:]])  # duplicates: tied scores, lower index first
    truth = s["acq"].scores(X)
    for k in (1, 7, 60, X.shape[0]):
        order = torch.sort(truth, descending=True, stable=True).indices[:k]
        got = s["acq"].select(DataLoader(TensorDataset(X), batch_size=19), k, "topk")
        assert got.indices.tolist() == order.tolist(), k
        torch.testing.assert_close(got.scores, truth[order], rtol=1e-12, atol=0)
        assert got.shortlist is None and got.pool_size == X.shape[0]


def test_running_topk_of_a_lower_is_better_proxy(s: dict) -> None:
    proxy = inf.compile("I[Y_eval;Y|x,X_eval]", s["net"], train=s["train"], eval=s["eval"],
                        using=["gaussian", "ggn", "eig_logdet", "proxy"])
    assert not proxy.higher_is_better
    truth = proxy.scores(s["X"])
    got = proxy.select(DataLoader(TensorDataset(s["X"]), batch_size=40), 9, "topk")
    assert got.indices.tolist() == torch.sort(truth, stable=True).indices[:9].tolist()


def test_greedy_runs_on_a_shortlist_of_the_best_individual_scores(s: dict) -> None:
    acq, X = s["acq"], s["X"]
    m, k = 40, 6
    got = acq.select(DataLoader(TensorDataset(X), batch_size=64), k, "greedy", shortlist=m)
    kept = torch.sort(torch.topk(s["truth"], m).indices).values  # independent: top-m of all scores, pool order
    assert got.shortlist.tolist() == kept.tolist()
    inner = acq.select(X[kept], k, "greedy")  # the in-memory greedy rule on exactly those rows
    assert got.indices.tolist() == kept[inner.indices].tolist()
    torch.testing.assert_close(got.scores, inner.scores, rtol=1e-10, atol=1e-12)
    # a shortlist that holds the whole pool gives the whole pool's greedy selection
    full = acq.select(iter([X[:70], X[70:]]), k, "greedy", shortlist=N)
    assert full.indices.tolist() == acq.select(X, k, "greedy").indices.tolist()
    # the default shortlist is documented: max(10 k, 1000) points
    assert acq.select(DataLoader(TensorDataset(X)), 2, "greedy").shortlist.numel() == N  # 1000 > N: all kept


def test_a_progress_bar_for_long_streams(s: dict, capsys) -> None:
    s["acq"].scores(DataLoader(TensorDataset(s["X"]), batch_size=50), progress=True)
    err = capsys.readouterr().err
    assert "scoring (local)" in err and "150" in err


# ----------------------------------------------------------------------------------------------------
# bad input: a library error naming the batch or the setting


def test_a_wrong_feature_size_mid_stream_names_the_batch(s: dict) -> None:
    X = s["X"]
    with pytest.raises(CompileError, match=r"X_pool batch 2 \(points 80\.\.119\) has inputs of shape \[40, 5\].*"
                                           r"\[n, 6\]"):
        s["acq"].scores([X[:40], X[40:80], X[80:120, :5]])


class Batches(IterableDataset):
    """A loader's source that yields whole batches (DataLoader(..., batch_size=None))."""

    def __init__(self, batches: list[torch.Tensor]):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def test_a_wrong_dtype_mid_stream_names_the_batch(s: dict) -> None:
    X = s["X"]
    loader = DataLoader(Batches([X[:40], X[40:80].float(), X[80:]]), batch_size=None)
    with pytest.raises(CompileError, match=r"batch 1 \(points 40\.\.79\) has dtype float32.*float64"):
        s["acq"].scores(loader)
    loader = DataLoader(Batches([X[:40], X[40:80], X[80:, :5]]), batch_size=None)
    with pytest.raises(CompileError, match=r"batch 2 \(points 80\.\.149\) has inputs of shape \[70, 5\]"):
        s["acq"].select(loader, 3, "greedy")


def test_non_finite_inputs_mid_stream_name_the_batch_and_points(s: dict) -> None:
    X = s["X"].clone()
    X[57, 2] = float("nan")
    with pytest.raises(CompileError, match=r"batch 1 \(points 50\.\.99\) holds NaN.*\[57\]"):
        s["acq"].scores(DataLoader(TensorDataset(X), batch_size=50))


def test_non_finite_scores_name_the_chunk_and_points(s: dict) -> None:
    class Poison(nn.Module):  # features of 1e200 (finite) for inputs whose first feature is large: inf Fisher
        def forward(self, h: torch.Tensor) -> torch.Tensor:
            big = torch.tensor(1e200, dtype=h.dtype)
            return h * torch.where(h[:, :1].abs() > 1e3, big, torch.ones((), dtype=h.dtype))

    net = nn.Sequential(nn.Linear(6, 16), Poison(), nn.Linear(16, 4)).double().eval()
    acq = inf.compile("I[W;Y|x]", net, train=s["train"], chunk_size=32)
    X = s["X"].clone()
    X[70] = 1e4
    with pytest.raises(CompileError, match=r"NaN or infinite.*\(in chunk 2: pool points 64\.\.95\)"):
        acq.scores(DataLoader(TensorDataset(X), batch_size=10))
    # scores that come back non-finite without an error inside the plan are caught by the driver
    quiet = copy.copy(s["acq"])
    quiet._score_chunk = lambda X, y, start: torch.where(torch.arange(start, start + X.shape[0]) == 70, torch.inf, 1.0)
    with pytest.raises(CompileError, match=r"non-finite scores.*pool points \[70\] in chunk 2 \(points 64\.\.95\)"):
        quiet.select(DataLoader(TensorDataset(X), batch_size=10), 3)


def test_empty_pools(s: dict) -> None:
    for pool in ([], DataLoader(TensorDataset(s["X"][:0])), iter([s["X"][:0]])):
        with pytest.raises(CompileError, match="empty"):
            s["acq"].scores(pool)
        with pytest.raises(CompileError, match="empty"):
            s["acq"].select(pool, 1, "greedy")


def test_k_larger_than_the_pool(s: dict) -> None:
    X = s["X"]

    class Untouchable(Dataset):
        def __len__(self) -> int:
            return 20

        def __getitem__(self, i: int) -> torch.Tensor:
            raise AssertionError("a sized pool is checked before it is read")

    with pytest.raises(CompileError, match="k = 21 points from a pool of 20"):
        s["acq"].select(Untouchable(), 21)
    with pytest.raises(CompileError, match="k = 31 points from a pool of 30"):  # a stream of unknown length
        s["acq"].select(iter([X[:10], X[10:30]]), 31, "topk")


def test_other_bad_pools_and_settings(s: dict) -> None:
    acq, X = s["acq"], s["X"]
    with pytest.raises(CompileError, match="shuffles"):
        acq.scores(DataLoader(TensorDataset(X), shuffle=True))
    with pytest.raises(CompileError, match="must be a tensor, a torch Dataset"):
        acq.scores("pool.pt")
    with pytest.raises(CompileError, match=r"batch 0 is a dict"):
        acq.scores([{"x": X}])
    with pytest.raises(CompileError, match="shortlist must be an int >= k"):
        acq.select(DataLoader(TensorDataset(X)), 5, "greedy", shortlist=3)
    with pytest.raises(CompileError, match="workers= is a setting of engine='ray'"):
        acq.scores(DataLoader(TensorDataset(X)), workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inf.CompileWarning)  # known-label IG on a GLM: equals the EIG (R14)
        ig = inf.compile("I[W;y|x]", s["net"], train=s["train"])
    with pytest.raises(CompileError, match="y_pool holds 100 labels but the pool has more points"):
        ig.scores(DataLoader(TensorDataset(X), batch_size=64), y_pool=s["y"][:100])
    with pytest.raises(CompileError, match="needs the labels"):
        ig.scores(DataLoader(TensorDataset(X)))
    with pytest.raises(CompileError, match="second element of every batch"):
        ig.scores(DataLoader(TensorDataset(X)), y_pool="batch")


def test_scores_that_need_the_whole_pool_are_refused_for_streams(s: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inf.CompileWarning)
        bait = inf.methods.bait.compile(s["net"], train=s["train"], eval="pool")
        badge_logdet = inf.methods.badge_logdet.compile(s["net"], train=s["train"])
    loader = DataLoader(TensorDataset(s["X"]))
    with pytest.raises(CompileError, match="eval='pool'.*pass eval=X_eval"):
        bait.select(loader, 3)
    with pytest.raises(CompileError, match="pass eps="):
        badge_logdet.scores(loader)
    assert bait.select(s["X"], 3).indices.shape == (3,)  # in memory they work as before
