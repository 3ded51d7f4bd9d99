"""emovec.ops against straightforward hand-written references, on realistic shapes.

Shapes: 171 emotion vectors of width 576 (SmolLM2-135M's d_model) and float32 activations
[16, 128, 576]. Each op is timed against two references, interleaved (ours, then the
reference, alternating which goes first) and summarised by medians:

* "bare": the plain maths, with no input validation at all;
* "same contract": the same maths plus the validation the op promises (NaN/Inf, zero norms,
  linear dependence from singular values), written the obvious way.

The geometry wrappers are compared with calling scipy or scikit-learn directly (there is no
sense in a hand-written k-means: the wrapper's cost is the point). The last line is the worst
ratio against the same-contract reference; the line before it, the worst against bare maths.
Before them, the streaming covariance's peak extra memory for 1k vs 100k rows fed: if feeding
100k rows peaks more than `MEMORY_MARGIN_MIB` above feeding 1k, the run still prints both
ratio lines, then exits with status 1 and says why on stderr.

Run: `.venv/bin/python benchmarks/ops.py` (about 40 s of CPU time; longer on a busy machine).
"""

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

import emovec.ops as ops

# One thread: the machine is shared, and with 2 threads every OpenMP barrier can stall behind
# another process, which swamps the medians. Ours and the references get the same setting, and
# so do the BLAS and OpenMP pools of scipy and scikit-learn (see `main`).
THREADS = int(os.environ.get("EMOVEC_BENCH_THREADS", "1"))
torch.set_num_threads(THREADS)
BUDGET_S = float(os.environ.get("EMOVEC_BENCH_SECONDS_PER_OP", "0.4"))
# Streaming keeps O(d_model**2) state whatever the row count: 100x more rows may cost at most
# this much more peak memory (allocator noise), never another batch-sized buffer per update.
MEMORY_MARGIN_MIB = 1.0


def timed(fn: Callable[[], object]) -> float:
    # CPU time of this (single-threaded) process: on a shared machine, wall time also counts
    # the moments another process held the core, which swamps sub-millisecond differences.
    t = time.process_time()
    fn()
    return time.process_time() - t


def compare(ours, bare, contract) -> tuple[float, float, float]:
    """Interleaved medians (CPU seconds) of ours, the bare and the same-contract reference."""
    fns = [ours, bare, contract]
    probe = sum(timed(f) for f in fns)  # also the warm-up: first-call allocations, imports
    # At least 9 interleaved rounds (5 for ops slower than 0.2 s, to keep the run short).
    floor = 5 if probe > 0.6 else 9
    reps = int(min(201, max(floor, BUDGET_S / max(probe, 1e-6))))
    times: list[list[float]] = [[], [], []]
    for r in range(reps):
        for i in range(3) if r % 2 == 0 else range(2, -1, -1):
            times[i].append(timed(fns[i]))
    return tuple(statistics.median(t) for t in times)  # type: ignore[return-value]


def require(ok: torch.Tensor | bool, what: str) -> None:
    if not bool(ok):
        raise ValueError(what)


def finite(*ts: torch.Tensor) -> None:
    for t in ts:
        require(torch.isfinite(t).all(), "NaN or Inf")


def full_rank(v: torch.Tensor) -> None:
    s = torch.linalg.svdvals(v)
    require((s > max(v.shape) * torch.finfo(v.dtype).eps * s.max()).all(), "dependent")


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm()


def main() -> None:
    # Imported here (not in the `--feed` child), before limiting, so the limit reaches the
    # pools of the libraries they load.
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.linalg import orthogonal_procrustes
    from scipy.spatial.distance import squareform
    from scipy.stats import bootstrap, rankdata, spearmanr
    from sklearn.cluster import KMeans

    threadpool_limits(THREADS)
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(171, 576, generator=g)
    x = torch.randn(16, 128, 576, generator=g)
    source = torch.randn(16, 128, 576, generator=g)
    basis = torch.linalg.qr(torch.randn(576, 16, generator=g))[0].T.contiguous()
    direction = torch.randn(576, generator=g)
    mean = torch.randn(576, generator=g)
    rows = x.reshape(-1, 576)
    deflection = torch.randn(15, 576, generator=g)
    story_pcs = ops.pca(vectors, k=100).components
    cov = torch.cov(torch.randn(2000, 576, generator=g, dtype=torch.float64).T)
    sim_a, sim_b = ops.cosine_matrix(vectors, vectors), ops.cosine_matrix(vectors, -vectors.flip(1))
    half_a, half_b = vectors[:85], vectors[85:170]
    iu = torch.triu_indices(171, 171, offset=1)

    def ref_reject(x, b):
        return x - (x @ b.T) @ b

    def ref_orthonormalize(v):
        q, r = torch.linalg.qr(v.T)
        return (q * torch.sign(torch.diagonal(r))).T

    def ref_angles(a, b):
        qa, qb = torch.linalg.qr(a.T)[0].T, torch.linalg.qr(b.T)[0].T
        return torch.acos(torch.linalg.svdvals(qa @ qb.T).clamp(0, 1))

    def ref_symmetric(v):
        u, _, vh = torch.linalg.svd(v, full_matrices=False)
        return u @ vh

    def ref_against(v, b):
        q = torch.linalg.qr(b.T)[0]
        out = v - (v @ q) @ q.T
        return out, out.norm(dim=-1) / v.norm(dim=-1)

    def ref_clamp(x, d, value):
        u = unit(d)
        return x + (value - x @ u)[..., None] * u

    def ref_patch(x, s, b):
        return x + ((s - x) @ b.T) @ b

    def ref_ablate(x, b, m):
        return x - (x @ b.T) @ b + (m @ b.T) @ b

    def ref_cosine(a, b):
        return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T

    def ref_pca(v, variance):
        centred = v - v.mean(0)
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        ratio = s**2 / (s**2).sum()
        k = int((ratio.cumsum(0) < variance).sum()) + 1
        c = vh[:k]
        return c * torch.sign(c.gather(1, c.abs().argmax(1, keepdim=True))), ratio[:k]

    def ref_pca_cov(c, k):
        values, vecs = torch.linalg.eigh(c)
        comp = vecs.flip(1).T[:k]
        return comp * torch.sign(comp.gather(1, comp.abs().argmax(1, keepdim=True))), values

    class RefMean:
        def __init__(self) -> None:
            self.s, self.n = torch.zeros(576, dtype=torch.float64), 0

        def update(self, r: torch.Tensor) -> None:
            self.s += r.double().sum(0)
            self.n += r.shape[0]

    class RefCov(RefMean):
        def __init__(self) -> None:
            super().__init__()
            self.ss = torch.zeros(576, 576, dtype=torch.float64)

        def update(self, r: torch.Tensor) -> None:
            r = r.double()
            self.s += r.sum(0)
            self.ss += r.T @ r
            self.n += r.shape[0]

    def fresh_update(make: Callable[[], object]) -> Callable[[], object]:
        acc = make()
        return lambda: acc.update(rows)  # type: ignore[attr-defined]

    groups = torch.arange(rows.shape[0]) % 171

    def grouped_ref() -> None:
        s = torch.zeros(171, 576, dtype=torch.float64).index_add_(0, groups, rows.double())
        torch.zeros(171, dtype=torch.float64).index_add_(
            0, groups, torch.ones(len(groups)).double()
        )
        return s

    def lib_rsa(a, b):
        ua, ub = a[iu[0], iu[1]].numpy(), b[iu[0], iu[1]].numpy()
        return spearmanr(ua, ub).statistic

    def lib_procrustes(a, b):
        r = torch.from_numpy(orthogonal_procrustes(a.numpy(), b.numpy())[0])
        return r, F.cosine_similarity(a @ r, b, dim=-1)

    def lib_order(s):
        d = 1.0 - s.double().numpy()
        np.fill_diagonal(d, 0.0)
        d = np.clip((d + d.T) / 2, 0, None)
        return leaves_list(linkage(squareform(d, checks=False), "average", optimal_ordering=True))

    def torch_bootstrap(fn, samples, n_resamples):
        gen = torch.Generator().manual_seed(0)
        idx = torch.randint(0, len(samples), (n_resamples, len(samples)), generator=gen)
        stats = torch.tensor([float(fn(samples[i])) for i in idx])
        return torch.quantile(stats, torch.tensor([0.025, 0.975]))

    def lib_bootstrap(fn, samples, n_resamples):
        def stat(i):
            return float(fn(samples[torch.from_numpy(i)]))

        return bootstrap(
            (np.arange(len(samples)),),
            stat,
            n_resamples=n_resamples,
            method="percentile",
            vectorized=False,
            rng=np.random.default_rng(0),
        )

    score = vectors[:, 0]
    positive, negative = torch.randn(500, generator=g) + 0.5, torch.randn(500, generator=g)

    def lib_auroc(p, n):
        ranks = rankdata(np.concatenate([p.numpy(), n.numpy()]))
        return (ranks[: len(p)].sum() - len(p) * (len(p) + 1) / 2) / (len(p) * len(n))

    def lib_spearman(a, b):
        return spearmanr(a.numpy(), b.numpy()).statistic

    cases: list[tuple[str, Callable, Callable, Callable]] = [
        (
            "project",
            lambda: ops.project(x, basis),
            lambda: (x @ basis.T) @ basis,
            lambda: (finite(x, basis), (x @ basis.T) @ basis),
        ),
        (
            "reject",
            lambda: ops.reject(x, basis),
            lambda: ref_reject(x, basis),
            lambda: (finite(x, basis), ref_reject(x, basis)),
        ),
        (
            "orthonormalize [171]",
            lambda: ops.orthonormalize(vectors),
            lambda: ref_orthonormalize(vectors),
            lambda: (finite(vectors), full_rank(vectors), ref_orthonormalize(vectors)),
        ),
        (
            "principal_angles [85 vs 85]",
            lambda: ops.principal_angles(half_a, half_b),
            lambda: ref_angles(half_a, half_b),
            lambda: (
                finite(half_a, half_b),
                full_rank(half_a),
                full_rank(half_b),
                ref_angles(half_a, half_b),
            ),
        ),
        (
            "orthogonalize_set symmetric",
            lambda: ops.orthogonalize_set(vectors, method="symmetric"),
            lambda: ref_symmetric(vectors),
            lambda: (finite(vectors), ref_symmetric(vectors)),
        ),
        (
            "orthogonalize_against [15 vs 100]",
            lambda: ops.orthogonalize_against(deflection, story_pcs),
            lambda: ref_against(deflection, story_pcs),
            lambda: (
                finite(deflection, story_pcs),
                require((deflection.norm(dim=-1) > 0).all(), "0"),
                full_rank(story_pcs),
                ref_against(deflection, story_pcs),
            ),
        ),
        (
            "steer",
            lambda: ops.steer(x, direction, 0.5, relative_to=30.0),
            lambda: x + 15.0 * unit(direction),
            lambda: (
                finite(direction),
                require(direction.norm() > 0, "0"),
                x + 15.0 * unit(direction),
            ),
        ),
        (
            "clamp",
            lambda: ops.clamp(x, direction, 2.0),
            lambda: ref_clamp(x, direction, 2.0),
            lambda: (
                finite(x, direction),
                require(direction.norm() > 0, "0"),
                ref_clamp(x, direction, 2.0),
            ),
        ),
        (
            "patch_projection",
            lambda: ops.patch_projection(x, source, basis),
            lambda: ref_patch(x, source, basis),
            lambda: (finite(x, source, basis), ref_patch(x, source, basis)),
        ),
        (
            "ablate (mean)",
            lambda: ops.ablate(x, basis, mean=mean),
            lambda: ref_ablate(x, basis, mean),
            lambda: (finite(x, basis, mean), ref_ablate(x, basis, mean)),
        ),
        (
            "scores [171 emotions]",
            lambda: ops.scores(x, vectors),
            lambda: x @ vectors.T,
            lambda: (finite(x, vectors), x @ vectors.T),
        ),
        (
            "cosine_matrix [171 x 171]",
            lambda: ops.cosine_matrix(vectors, vectors),
            lambda: ref_cosine(vectors, vectors),
            lambda: (
                finite(vectors),
                require((vectors.norm(dim=-1) > 0).all(), "0"),
                ref_cosine(vectors, vectors),
            ),
        ),
        (
            "RunningMean.update [2048 rows]",
            fresh_update(lambda: ops.RunningMean(576)),
            fresh_update(RefMean),
            lambda: (finite(rows), fresh_update(RefMean)()),
        ),
        (
            "RunningMean.update grouped",
            lambda: ops.RunningMean(576, groups=171).update(rows, group=groups),
            grouped_ref,
            lambda: (finite(rows), grouped_ref()),
        ),
        (
            "RunningCovariance.update",
            fresh_update(lambda: ops.RunningCovariance(576)),
            fresh_update(RefCov),
            lambda: (finite(rows), fresh_update(RefCov)()),
        ),
        (
            "pca [171, variance=0.5]",
            lambda: ops.pca(vectors, variance=0.5),
            lambda: ref_pca(vectors, 0.5),
            lambda: (finite(vectors), ref_pca(vectors, 0.5)),
        ),
        (
            "pca_from_covariance [576]",
            lambda: ops.pca_from_covariance(cov, cov[0], k=50),
            lambda: ref_pca_cov(cov, 50),
            lambda: (finite(cov), ref_pca_cov(cov, 50)),
        ),
        (
            "rsa [171] (vs scipy)",
            lambda: ops.rsa(sim_a, sim_b),
            lambda: lib_rsa(sim_a, sim_b),
            lambda: (finite(sim_a, sim_b), lib_rsa(sim_a, sim_b)),
        ),
        (
            "spearman [171] (vs scipy)",
            lambda: ops.spearman(vectors[:, 0], vectors[:, 1]),
            lambda: lib_spearman(vectors[:, 0], vectors[:, 1]),
            lambda: (finite(vectors[:, :2]), lib_spearman(vectors[:, 0], vectors[:, 1])),
        ),
        (
            "auroc [500 vs 500] (vs scipy)",
            lambda: ops.auroc(positive, negative),
            lambda: lib_auroc(positive, negative),
            lambda: (finite(positive, negative), lib_auroc(positive, negative)),
        ),
        (
            "procrustes [171] (vs scipy)",
            lambda: ops.procrustes(vectors, vectors.flip(1)),
            lambda: lib_procrustes(vectors, vectors.flip(1)),
            lambda: (finite(vectors), lib_procrustes(vectors, vectors.flip(1))),
        ),
        (
            "kmeans k=10 (vs sklearn)",
            lambda: ops.kmeans(vectors, 10, seed=0),
            lambda: KMeans(10, n_init=10, random_state=0).fit(vectors.numpy()),
            lambda: (finite(vectors), KMeans(10, n_init=10, random_state=0).fit(vectors.numpy())),
        ),
        (
            "hierarchical_order (vs scipy)",
            lambda: ops.hierarchical_order(sim_a),
            lambda: lib_order(sim_a),
            lambda: (finite(sim_a), lib_order(sim_a)),
        ),
        (
            "bootstrap_ci [171, 1000]",
            lambda: ops.bootstrap_ci(torch.mean, score, seed=0),
            lambda: torch_bootstrap(torch.mean, score, 1000),
            lambda: lib_bootstrap(torch.mean, score, 1000),
        ),
    ]

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s);"
        " medians of interleaved runs, in CPU ms"
    )
    header = (
        f"{'op':36s} {'ours':>9s} {'bare':>9s} {'contract':>9s} {'vs bare':>8s}"
        f" {'vs contract':>11s}"
    )
    print(header)
    print("-" * len(header))
    worst_bare = worst_contract = 0.0
    for name, ours, bare, contract in cases:
        t_ours, t_bare, t_contract = compare(ours, bare, contract)
        r_bare, r_contract = t_ours / t_bare, t_ours / t_contract
        worst_bare, worst_contract = max(worst_bare, r_bare), max(worst_contract, r_contract)
        print(
            f"{name:36s} {t_ours * 1e3:9.3f} {t_bare * 1e3:9.3f} {t_contract * 1e3:9.3f}"
            f" {r_bare:8.2f} {r_contract:11.2f}",
            flush=True,
        )

    print()
    memory_problem = report_memory()
    print()
    print(f"worst_op_ratio_vs_bare_maths: {worst_bare:.2f}")
    print(f"worst_op_ratio_vs_reference: {worst_contract:.2f}", flush=True)
    if memory_problem:
        sys.exit(f"FAILED: {memory_problem}")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(field)


def feed(total: int) -> None:
    """In a fresh process: peak RSS above the starting RSS while feeding `total` rows."""
    batch = torch.randn(1000, 576)
    acc = ops.RunningCovariance(576)
    acc.update(batch[:10])  # the state exists before the baseline
    start = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current RSS
    for _ in range(total // batch.shape[0]):
        acc.update(batch)
    state = sum(t.nbytes for t in acc.state_dict().values()) / 2**20
    print(f"{(_status_kib('VmHWM') - start) / 1024:.1f} {state:.1f}")


def report_memory() -> str | None:
    """Peak extra memory of the streaming covariance, each size in its own fresh process.

    Returns what went wrong if the 100k-row peak exceeds the 1k-row one by more than
    `MEMORY_MARGIN_MIB`, else None."""
    if not os.path.exists("/proc/self/clear_refs"):
        print("streaming memory: needs Linux /proc to reset the peak RSS; skipped")
        return None
    peaks = []
    for total in (1_000, 100_000):
        # glibc's malloc keeps freed blocks and moves its mmap threshold as it goes, so RSS
        # would wander with allocation history; a fixed, low threshold makes every tensor its
        # own mapping, returned on free, so the peak RSS is the peak of live allocations.
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        out = subprocess.run(
            [sys.executable, __file__, "--feed", str(total)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        print(
            f"streaming covariance, {total:>7,d} rows fed in batches of 1000 (d_model 576):"
            f" peak extra memory {float(out[0]):5.1f} MiB; state {out[1]} MiB",
            flush=True,
        )
        peaks.append(float(out[0]))
    growth = peaks[1] - peaks[0]
    if growth > MEMORY_MARGIN_MIB:
        return (
            f"streaming covariance memory grows with the rows fed: 100k rows peaked {growth:.1f}"
            f" MiB above 1k rows (allowed: {MEMORY_MARGIN_MIB} MiB). Something keeps per-batch"
            " buffers alive (a list of batches, a cached copy): find it and free it."
        )
    return None


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--feed":
        feed(int(sys.argv[2]))
    else:
        main()
