"""Sample-quality metrics as pure functions on feature tensors.

Every function takes features as float tensors (or arrays) of shape (N, D), checks them (finite values,
matching feature dimensions, enough samples) and raises ``ValueError`` with one clear message otherwise.
Statistics are computed in float64. Nearest-neighbour searches go through :func:`nn_distances`, which
works in row chunks so that no distance matrix larger than ``MAX_CHUNK_BYTES`` (about 100 MB) is built,
searches in float32 and recomputes the distances it reports in float64.
"""
from __future__ import annotations

import math

import numpy as np
import torch

MAX_CHUNK_BYTES = 100 * 2**20


# ----------------------------------------------------------------------------- input checks


def _feats(x, name: str, min_rows: int = 1) -> torch.Tensor:
    """``x`` as a float64 (N, D) tensor, or ValueError naming what is wrong with it."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a tensor or array, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (N, D), got {tuple(x.shape)}")
    if not (x.is_floating_point() or x.dtype in (torch.uint8, torch.int32, torch.int64)):
        raise ValueError(f"{name} must hold real numbers, got {x.dtype}")
    x = x.detach().to("cpu", torch.float64)
    if len(x) < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {len(x)}")
    bad = (~torch.isfinite(x)).any(1)
    if bad.any():
        raise ValueError(f"{name} contains NaN or infinite values (in {int(bad.sum())} of {len(x)} rows)")
    return x


def _same_dim(a: torch.Tensor, b: torch.Tensor, na: str, nb: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{na} and {nb} must have the same feature dimension, got {a.shape[1]} and {b.shape[1]}")


# ----------------------------------------------------------------------------- nearest neighbours


def _centred32(q: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both sets shifted by ``r``'s mean (less cancellation) in float32, plus ``r``'s squared norms."""
    c = r.mean(0)
    q32, r32 = (q - c).float(), (r - c).float()
    return q32, r32, (r32 * r32).sum(1)


def _sq_dists(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (len(a), len(b)) via one matrix product, clamped at zero."""
    d = (a * a).sum(1, keepdim=True) + b_sq[None, :] - 2.0 * (a @ b.T)
    return d.clamp_min_(0.0)


def _chunk_rows(n_cols: int, row_bytes: int = 0) -> int:
    """Rows per chunk so that a (rows, n_cols) float32 matrix (plus ``row_bytes`` more per row) stays
    under MAX_CHUNK_BYTES."""
    return max(1, MAX_CHUNK_BYTES // (4 * n_cols + row_bytes))


def _exact_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact float64 squared distances between paired rows (broadcasting), one formula everywhere so that
    equal pairs give bit-identical results."""
    return (a - b).square().sum(-1)


def _knn_sq(q: torch.Tensor, r: torch.Tensor, k: int, exclude_self: bool) -> torch.Tensor:
    """Exact squared distances to the k nearest rows of ``r``, sorted, for checked float64 inputs.

    The search runs in float32 for k + ``extra`` candidates, which are rescored in float64. A row whose
    (k + extra)-th float32 candidate lies within the float32 error bound of its exact k-th distance could
    have missed a neighbour: such rows (rare; ties) are searched again fully in float64. So the result is
    the exact float64 answer, and equal pairs give bit-identical radii (density 1 on identical sets)."""
    avail = len(r) - (1 if exclude_self else 0)
    if not 1 <= k <= avail:
        raise ValueError(f"k must be between 1 and {avail} (the number of reference rows), got {k}")
    if exclude_self and len(q) != len(r):
        raise ValueError("exclude_self=True needs query and ref to be the same rows")
    q32, r32, r_sq = _centred32(q, r)
    kk = min(avail, k + max(4, k))
    band = 4 * (r.shape[1] + 3) * 2**-24 * float(2 * r_sq.max() + (q32 * q32).sum(1).max())
    step = _chunk_rows(len(r), 8 * kk * r.shape[1])
    out = torch.empty(len(q), k, dtype=torch.float64)
    for s in range(0, len(q), step):
        d = _sq_dists(q32[s : s + step], r32, r_sq)
        rows = torch.arange(len(d))
        if exclude_self:
            d[rows, rows + s] = math.inf
        top = d.topk(kk, dim=1, largest=False)
        exact = _exact_sq(q[s : s + step, None, :], r[top.indices])
        if exclude_self:  # a duplicate row found as a candidate is fine; the row itself never is
            exact[top.indices == (rows + s)[:, None]] = math.inf
        exact = exact.sort(dim=1).values
        out[s : s + step] = exact[:, :k]
        if kk < avail:
            unsure = (top.values[:, -1].double() - band <= exact[:, k - 1]).nonzero().flatten()
            for i in unsure.tolist():  # full float64 search of this row
                full = _exact_sq(q[s + i][None, :], r)
                if exclude_self:
                    full[s + i] = math.inf
                out[s + i] = full.topk(k, largest=False).values.sort().values
    return out


def nn_distances(query, ref, k: int = 1, exclude_self: bool = False) -> torch.Tensor:
    """Euclidean distances from each query row to its ``k`` nearest rows of ``ref``, sorted: (Nq, k).

    ``exclude_self=True`` means ``query`` *is* ``ref`` and a row is not its own neighbour (a duplicate
    row still is, at distance 0). The search runs in float32 on mean-centred data, in chunks of query
    rows; the k distances it finds are then recomputed exactly in float64 (so duplicates give exactly 0).
    """
    q = _feats(query, "query")
    r = _feats(ref, "ref")
    _same_dim(q, r, "query", "ref")
    return _knn_sq(q, r, k, exclude_self).sqrt_()


def _below(d2: torch.Tensor, thr: torch.Tensor, band: float, a: torch.Tensor, b: torch.Tensor, s: int):
    """``||a_{s+i} - b_j||² < thr[i, j]`` for a float32 chunk ``d2`` (rows s.., all of b), with ``thr``
    broadcastable float64. Entries within ``band`` (the float32 error bound) of ``thr`` are decided
    exactly in float64, so ties (e.g. identical sets) go the way exact arithmetic says."""
    t32 = thr.float().expand_as(d2)
    out = d2 < t32
    i, j = ((d2 - t32).abs_() <= band).nonzero(as_tuple=True)
    if len(i):
        out[i, j] = _exact_sq(a[s + i], b[j]) < thr.expand_as(d2)[i, j]
    return out


# ----------------------------------------------------------------------------- FID / KID / IS


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Fréchet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2).

    d² = ||mu1 - mu2||² + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^{1/2})   (Dowson & Landau 1982; used as
    FID by Heusel et al. 2017, "GANs trained by a two time-scale update rule...").

    The trace term is computed in a symmetric form that has no imaginary parts to discard:
    tr((cov1 cov2)^{1/2}) = Σ sqrt(eig(S cov2 S)) with S = cov1^{1/2} (both from ``eigh``, float64, tiny
    negative eigenvalues from round-off clipped to 0). Returns the squared distance, like FID.
    """
    m1 = torch.as_tensor(np.asarray(mu1), dtype=torch.float64).reshape(-1)
    m2 = torch.as_tensor(np.asarray(mu2), dtype=torch.float64).reshape(-1)
    c1 = torch.as_tensor(np.asarray(cov1), dtype=torch.float64)
    c2 = torch.as_tensor(np.asarray(cov2), dtype=torch.float64)
    d = len(m1)
    for name, v, shape in (("mu2", m2, (d,)), ("cov1", c1, (d, d)), ("cov2", c2, (d, d))):
        if tuple(v.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} to match mu1, got {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if not torch.isfinite(m1).all():
        raise ValueError("mu1 contains NaN or infinite values")
    for name, c in (("cov1", c1), ("cov2", c2)):
        if not torch.allclose(c, c.T, rtol=1e-6, atol=1e-9 * float(c.abs().max().clamp_min(1e-300))):
            raise ValueError(f"{name} must be symmetric")
    w1, v1 = torch.linalg.eigh(c1)
    s1 = (v1 * w1.clamp_min(0).sqrt()) @ v1.T
    m = s1 @ c2 @ s1
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    dist = (m1 - m2).square().sum() + c1.trace() + c2.trace() - 2.0 * tr_sqrt
    return max(float(dist), 0.0)


def mean_cov(feats) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance (divided by N - 1) of (N, D) features, float64."""
    x = _feats(feats, "feats", min_rows=2)
    mu = x.mean(0)
    xc = x - mu
    return mu, (xc.T @ xc) / (len(x) - 1)


def fid(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

    Each set needs more samples than feature dimensions, otherwise its covariance is singular and the
    estimate meaningless. FID is biased upwards for small N (Chong & Forsyth 2020): compare values only
    at equal sample counts.
    """
    a = _feats(feats_a, "feats_a")
    b = _feats(feats_b, "feats_b")
    _same_dim(a, b, "feats_a", "feats_b")
    for name, x in (("feats_a", a), ("feats_b", b)):
        if len(x) <= x.shape[1]:
            raise ValueError(
                f"FID needs more samples than feature dimensions: {name} has {len(x)} rows of dimension "
                f"{x.shape[1]} (its covariance would be singular)"
            )
    return frechet_distance(*mean_cov(a), *mean_cov(b))


def _poly_kernel(x: torch.Tensor, y: torch.Tensor, degree: int) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1.0) ** degree


def kid(feats_a, feats_b, subsets: int = 100, subset_size: int = 1000, degree: int = 3, seed: int = 0):
    """Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"): (mean, std).

    For each of ``subsets`` random subsets of ``m = subset_size`` rows from each set (drawn without
    replacement within a subset), the unbiased estimator of the squared MMD with the polynomial kernel
    k(x, y) = (x·y / d + 1)^degree:

        MMD²_u = Σ_{i≠j} k(a_i, a_j) / (m(m-1)) + Σ_{i≠j} k(b_i, b_j) / (m(m-1)) - 2 Σ_{i,j} k(a_i, b_j) / m²

    Returns the mean and the (population) standard deviation over subsets. Being unbiased, it can be
    slightly negative when both sets come from the same distribution. ``subset_size`` must not exceed
    either set's size. ``seed`` fixes the subsets.
    """
    a = _feats(feats_a, "feats_a", min_rows=2)
    b = _feats(feats_b, "feats_b", min_rows=2)
    _same_dim(a, b, "feats_a", "feats_b")
    m = subset_size
    if not 2 <= m <= min(len(a), len(b)):
        raise ValueError(f"subset_size must be between 2 and min(N_a, N_b) = {min(len(a), len(b))}, got {m}")
    if subsets < 1 or degree < 1:
        raise ValueError(f"subsets and degree must be >= 1, got {subsets} and {degree}")
    g = torch.Generator().manual_seed(seed)
    scores = torch.empty(subsets, dtype=torch.float64)
    for t in range(subsets):
        x = a[torch.randperm(len(a), generator=g)[:m]]
        y = b[torch.randperm(len(b), generator=g)[:m]]
        kxx, kyy = _poly_kernel(x, x, degree), _poly_kernel(y, y, degree)
        kxy = _poly_kernel(x, y, degree)
        scores[t] = (
            (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2.0 * kxy.sum() / (m * m)
        )
    return float(scores.mean()), float(scores.std(unbiased=False))


def inception_score(logits, splits: int = 10, seed: int | None = 0):
    """Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), as (mean, std) over splits.

    ``logits`` (N, K) are the classifier's unnormalised outputs; p(y) is the mean of p(y|x) within each of
    ``splits`` equal-as-possible splits (the original protocol). Ranges from 1 to K. The rows are shuffled
    with ``seed`` first (``seed=None``: consecutive slices as given), so the score does not depend on the
    order of the input: a folder sorted by class would otherwise give splits of one class each.
    """
    z = _feats(logits, "logits", min_rows=splits)
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    if seed is not None:
        z = z[torch.randperm(len(z), generator=torch.Generator().manual_seed(seed))]
    scores = []
    for part in torch.tensor_split(z, splits):
        logp = torch.log_softmax(part, dim=1)
        log_py = torch.logsumexp(logp, dim=0) - math.log(len(part))
        kl = (logp.exp() * (logp - log_py)).sum(1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------------- intervals


def _z(level: float) -> float:
    from scipy.stats import norm

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(norm.ppf(0.5 + level / 2))


def _boot_weights(n: int, n_boot: int, g: torch.Generator) -> torch.Tensor:
    """(n_boot, n) float64 multinomial counts: how often each row is drawn in each bootstrap resample."""
    idx = torch.randint(0, n, (n_boot, n), generator=g)
    return torch.zeros(n_boot, n, dtype=torch.float64).scatter_add_(1, idx, torch.ones(n_boot, n, dtype=torch.float64))


def _half_weights(n: int, n_draws: int, g: torch.Generator) -> torch.Tensor:
    """(n_draws, n) float64 weights of random half-samples drawn without replacement (n / (n // 2) for the
    rows drawn, 0 otherwise). For a mean, the spread of half-sample values equals the standard error of the
    full-sample value (the finite-population correction halves the variance of a half-sample mean), and
    unlike a bootstrap resample a half-sample holds no duplicates, so statistics that count distinct
    samples (coverage, recall, classes covered) are not biased by them."""
    keep = torch.rand(n_draws, n, generator=g).argsort(1) < n // 2
    return keep.double() * (n / max(n // 2, 1))


def _boot_mean_cov(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Means (B, D) and unbiased covariances (B, D, D) of the B weighted resamples of ``x`` (N, D)."""
    n = len(x)
    c = x.mean(0)
    xc = x - c
    mu = w @ xc / n
    second = torch.stack([(xc.T * wb) @ xc for wb in w]) / n
    cov = (second - mu[:, :, None] * mu[:, None, :]) * (n / (n - 1))
    return mu + c, cov


def _frechet_batch(mu1, c1, mu2, c2) -> torch.Tensor:
    """:func:`frechet_distance` for batches: (B, D) means and (B, D, D) covariances -> (B,)."""
    w1, v1 = torch.linalg.eigh(c1)
    s1 = (v1 * w1.clamp_min(0).sqrt()[:, None, :]) @ v1.transpose(1, 2)
    m = s1 @ c2 @ s1
    tr_sqrt = torch.linalg.eigvalsh((m + m.transpose(1, 2)) / 2).clamp_min(0).sqrt().sum(1)
    tr = torch.diagonal(c1, dim1=1, dim2=2).sum(1) + torch.diagonal(c2, dim1=1, dim2=2).sum(1)
    return ((mu1 - mu2).square().sum(1) + tr - 2.0 * tr_sqrt).clamp_min(0)


def fid_interval(feats_a, feats_b, n_boot: int = 100, level: float = 0.95, seed: int = 0) -> dict:
    """FID with a bootstrap confidence interval.

    Both sets are resampled with replacement ``n_boot`` times (vectorised: each resample is a vector of
    row counts, so its mean and covariance are weighted sums of the precomputed rows). FID is biased upwards
    at finite n; the bootstrap sees the same bias, so the interval is the bias-corrected normal interval
    ``value - bias ± z · se`` (``bias`` = mean of the resampled FIDs - FID, ``se`` = their standard
    deviation), clipped at 0: an interval for the FID of the two distributions themselves (infinite n).
    Two FIDs computed at the same n differ significantly when |difference| > z · sqrt(se_a² + se_b²).
    """
    a = _feats(feats_a, "feats_a")
    b = _feats(feats_b, "feats_b")
    value = fid(a, b)
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    z = _z(level)
    g = torch.Generator().manual_seed(seed)
    boot = torch.empty(n_boot, dtype=torch.float64)
    step = 25  # resamples at a time: bounds the (step, D, D) covariance stacks
    for s in range(0, n_boot, step):
        m = min(step, n_boot - s)
        boot[s : s + m] = _frechet_batch(*_boot_mean_cov(a, _boot_weights(len(a), m, g)),
                                         *_boot_mean_cov(b, _boot_weights(len(b), m, g)))
    bias, se = float(boot.mean()) - value, float(boot.std())
    centre = value - bias
    return {"value": value, "ci": [max(centre - z * se, 0.0), max(centre + z * se, 0.0)], "se": se, "bias": bias,
            "level": level, "n_boot": n_boot, "n_a": len(a), "n_b": len(b)}


def kid_interval(feats_a, feats_b, subsets: int = 100, subset_size: int = 1000, degree: int = 3, blocks: int = 10,
                 level: float = 0.95, seed: int = 0) -> dict:
    """KID (:func:`kid`, the mean over random subsets) with a confidence interval for the squared MMD.

    The interval comes from ``blocks`` disjoint blocks of both sets (each of min(N_a, N_b) // blocks rows):
    their unbiased MMD² estimates are independent and unbiased, so mean ± t_{blocks-1} · sd / sqrt(blocks)
    is a confidence interval for the population MMD²; it is centred on the KID reported. It is somewhat
    wider than the uncertainty of the subset mean itself (conservative).
    """
    from scipy.stats import t as student_t

    a = _feats(feats_a, "feats_a", min_rows=2)
    b = _feats(feats_b, "feats_b", min_rows=2)
    mean, std = kid(a, b, subsets=subsets, subset_size=subset_size, degree=degree, seed=seed)
    m = min(len(a), len(b)) // blocks
    if blocks < 2 or m < 2:
        raise ValueError(f"need at least 2 blocks of 2 rows for a KID interval, got {blocks} blocks of {m}")
    g = torch.Generator().manual_seed(seed + 1)
    pa, pb = torch.randperm(len(a), generator=g), torch.randperm(len(b), generator=g)
    est = torch.empty(blocks, dtype=torch.float64)
    for i in range(blocks):
        x, y = a[pa[i * m : (i + 1) * m]], b[pb[i * m : (i + 1) * m]]
        kxx, kyy, kxy = _poly_kernel(x, x, degree), _poly_kernel(y, y, degree), _poly_kernel(x, y, degree)
        est[i] = ((kxx.sum() - kxx.diagonal().sum()) + (kyy.sum() - kyy.diagonal().sum())) / (m * (m - 1)) \
            - 2.0 * kxy.sum() / (m * m)
    half = float(student_t.ppf(0.5 + level / 2, blocks - 1)) * float(est.std()) / math.sqrt(blocks)
    return {"mean": mean, "std": std, "subsets": subsets, "subset_size": min(subset_size, len(a), len(b)),
            "ci": [mean - half, mean + half], "se": half / float(student_t.ppf(0.5 + level / 2, blocks - 1)),
            "level": level, "blocks": blocks, "block_size": m}


# ----------------------------------------------------------------------------- manifold metrics


def prdc(real, fake, k: int = 5) -> dict:
    """Precision, recall, density and coverage (Naeem et al. 2020, "Reliable fidelity and diversity
    metrics for generative models"; precision/recall after Kynkäänniemi et al. 2019).

    With r_i the distance from real row i to its k-th nearest other real row (f_j likewise for fake):

    - precision = share of fake j inside some real ball: ∃i ||x_i - y_j|| < r_i
    - recall    = share of real i inside some fake ball: ∃j ||x_i - y_j|| < f_j
    - density   = (1 / kM) Σ_j #{i : ||x_i - y_j|| < r_i}   (≈ 1 when fake ~ real; can exceed 1)
    - coverage  = share of real i whose ball holds at least one fake: min_j ||x_i - y_j|| < r_i
    """
    core = _prdc_core(real, fake, k, max_pairs=0)
    return _prdc_values(core, k)


def _prdc_values(core: dict, k: int) -> dict:
    return {
        "precision": float(core["inside"].double().mean()),
        "recall": float(core["recalled"].double().mean()),
        "density": float(core["count"].sum() / (k * len(core["count"]))),
        "coverage": float(core["covered"].double().mean()),
        "k": k,
    }


def _prdc_core(real, fake, k: int, max_pairs: int) -> dict:
    """Per-row PRDC indicators; with ``max_pairs`` > 0 also the (fake, real) index pairs behind coverage
    (fake j in real ball i) and recall (real i in fake ball j), or None where there are more than that."""
    x = _feats(real, "real", min_rows=k + 1)
    y = _feats(fake, "fake", min_rows=k + 1)
    _same_dim(x, y, "real", "fake")
    r2 = _knn_sq(x, x, k, exclude_self=True)[:, -1]  # squared radii of the real balls
    f2 = _knn_sq(y, y, k, exclude_self=True)[:, -1]
    y32, x32, x_sq = _centred32(y, x)
    # float32 error bound of |a|² + |b|² - 2a·b (Higham's γ_D for the dot product, with margin)
    band = 4 * (x.shape[1] + 3) * 2**-24 * float(2 * x_sq.max() + (y32 * y32).sum(1).max())
    inside = torch.zeros(len(y), dtype=torch.bool)  # fake j in some real ball
    count = torch.zeros(len(y), dtype=torch.float64)  # number of real balls holding fake j
    covered = torch.zeros(len(x), dtype=torch.bool)  # real i's ball holds some fake
    recalled = torch.zeros(len(x), dtype=torch.bool)  # real i inside some fake ball
    cov_pairs, rec_pairs = ([], 0), ([], 0)
    step = _chunk_rows(len(x))

    def keep(store, mask, s):
        if store is None or max_pairs <= 0:
            return None
        j, i = mask.nonzero(as_tuple=True)
        total = store[1] + len(j)
        return None if total > max_pairs else (store[0] + [torch.stack([j + s, i])], total)

    for s in range(0, len(y), step):
        d2 = _sq_dists(y32[s : s + step], x32, x_sq)  # (chunk of fake, real), float32
        in_real = _below(d2, r2[None, :], band, y, x, s)
        inside[s : s + step] = in_real.any(1)
        count[s : s + step] = in_real.sum(1)
        covered |= in_real.any(0)
        in_fake = _below(d2, f2[s : s + step, None], band, y, x, s)
        recalled |= in_fake.any(0)
        cov_pairs, rec_pairs = keep(cov_pairs, in_real, s), keep(rec_pairs, in_fake, s)
    cat = lambda p: None if p is None or max_pairs <= 0 else (torch.cat(p[0], 1) if p[0] else torch.empty(2, 0, dtype=torch.long))  # noqa: E731
    return {"inside": inside, "count": count, "covered": covered, "recalled": recalled,
            "coverage_pairs": cat(cov_pairs), "recall_pairs": cat(rec_pairs), "n_real": len(x), "n_fake": len(y)}


def _any_present(pairs: torch.Tensor, w: torch.Tensor, n_out: int) -> torch.Tensor:
    """(B, n_out) bool: for every resample (rows of counts ``w`` over fake rows), whether some pair (j, i)
    with fake j drawn at least once exists for each i."""
    out = torch.zeros(len(w), n_out, dtype=torch.float64)
    step = max(1, MAX_CHUNK_BYTES // (9 * len(w)))  # pairs per chunk: bounds the (B, chunk) temporaries
    for s in range(0, pairs.shape[1], step):
        p = pairs[:, s : s + step]
        out.index_add_(1, p[1], (w[:, p[0]] > 0).double())
    return out > 0


def prdc_interval(real, fake, k: int = 5, n_draws: int = 200, level: float = 0.95, seed: int = 0,
                  max_pairs: int = 5_000_000) -> dict:
    """:func:`prdc` with confidence intervals over the generated samples (half-sampling).

    ``n_draws`` random halves of the generated set are scored against the fixed real set with all k-NN
    radii held fixed (precomputed): precision and density are then weighted means of per-sample
    indicators, and coverage / recall are recomputed from the list of (sample, real point) ball
    memberships. The spread of the half-sample values is the standard error of the full-sample value (see
    :func:`_half_weights`); the interval is value ± z · se, clipped to the metric's range. This is the
    uncertainty from drawing the samples, given the reference set — the part that differs between the
    rows of a comparison, which share the reference. Coverage or recall get no interval (``None``) when more
    than ``max_pairs`` memberships would have to be listed.
    """
    if n_draws < 2:
        raise ValueError(f"n_draws must be >= 2, got {n_draws}")
    core = _prdc_core(real, fake, k, max_pairs=max_pairs)
    out = _prdc_values(core, k)
    z = _z(level)
    nf, nr = core["n_fake"], core["n_real"]
    w = _half_weights(nf, n_draws, torch.Generator().manual_seed(seed))
    boots = {"precision": w @ core["inside"].double() / nf, "density": w @ core["count"] / (k * nf)}
    if core["coverage_pairs"] is not None:
        boots["coverage"] = _any_present(core["coverage_pairs"], w, nr).double().mean(1)
    if core["recall_pairs"] is not None:
        boots["recall"] = _any_present(core["recall_pairs"], w, nr).double().mean(1)
    names = ("precision", "recall", "density", "coverage")
    se = {m: (float(boots[m].std()) if m in boots else None) for m in names}
    top = {"density": math.inf}
    out["ci"] = {m: (None if se[m] is None else [max(out[m] - z * se[m], 0.0), min(out[m] + z * se[m], top.get(m, 1.0))])
                 for m in names}
    out["se"] = se
    out.update(level=level, n_draws=n_draws, n_real=nr, n_fake=nf)
    return out


def class_mode_coverage(pred_labels, num_classes: int) -> dict:
    """Mode coverage of predicted class labels (as in the "stacked MNIST" protocol, Srivastava et al. 2017).

    ``covered`` = share of the ``num_classes`` classes predicted at least once;
    ``kl_uniform`` = KL(p || uniform) = Σ_c p_c log(p_c · K) in nats, with p the label histogram
    (0 for a perfectly balanced histogram, log K when all samples fall in one class).
    """
    y = torch.as_tensor(np.asarray(pred_labels) if not isinstance(pred_labels, torch.Tensor) else pred_labels)
    if y.dim() != 1 or len(y) == 0:
        raise ValueError(f"pred_labels must be a non-empty 1-D array of class ids, got shape {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex():
        raise ValueError(f"pred_labels must be integer class ids, got {y.dtype}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise ValueError(f"pred_labels must lie in [0, {num_classes}), got values in [{int(y.min())}, {int(y.max())}]")
    counts = torch.bincount(y.long(), minlength=num_classes).double()
    p = counts / counts.sum()
    nz = p > 0
    kl = float((p[nz] * (p[nz] * num_classes).log()).sum())
    return {"covered": float(nz.double().mean()), "kl_uniform": max(kl, 0.0), "counts": counts.long().tolist()}


def class_mode_interval(pred_labels, num_classes: int, n_draws: int = 200, level: float = 0.95, seed: int = 0) -> dict:
    """:func:`class_mode_coverage` with half-sampling intervals (see :func:`_half_weights`) for the share of
    classes covered and the KL to uniform: value ± z · se, clipped at the metric's range."""
    out = class_mode_coverage(pred_labels, num_classes)
    y = torch.as_tensor(np.asarray(pred_labels) if not isinstance(pred_labels, torch.Tensor) else pred_labels).long()
    w = _half_weights(len(y), n_draws, torch.Generator().manual_seed(seed))
    n_boot = n_draws
    counts = torch.zeros(n_boot, num_classes, dtype=torch.float64).index_add_(1, y, w)
    p = counts / counts.sum(1, keepdim=True)
    covered = (p > 0).double().mean(1)
    kl = torch.where(p > 0, p * (p * num_classes).clamp_min(1e-300).log(), torch.zeros_like(p)).sum(1).clamp_min(0)
    z = _z(level)
    se = {"covered": float(covered.std()), "kl_uniform": float(kl.std())}
    out["ci"] = {"covered": [max(out["covered"] - z * se["covered"], 0.0), min(out["covered"] + z * se["covered"], 1.0)],
                 "kl_uniform": [max(out["kl_uniform"] - z * se["kl_uniform"], 0.0), out["kl_uniform"] + z * se["kl_uniform"]]}
    out.update(se=se, level=level, n_draws=n_boot)
    return out


# ----------------------------------------------------------------------------- memorisation


def memorisation(fake, train, test, q: float = 0.01, quantiles=(0.01, 0.05, 0.5)) -> dict:
    """Do samples sit closer to the training set than unseen data does? (a copy detector)

    For every fake sample and every held-out test example, the distance to its nearest training example.
    The threshold is the ``q``-quantile (default: 1st percentile; with fewer than 1/q test examples that
    is in effect the minimum) of the test→train distances, so by construction a share q of fresh data
    falls below it. ``copy_fraction`` is the share of fake samples below the threshold; ``flagged`` is
    True when it exceeds q by more than 3 binomial standard errors (of both the fake and the test share),
    i.e. when samples are near-copies far more often than held-out data is.

    Returns scalars plus the raw distances (``fake_nn``, ``test_nn`` tensors) for plots.
    """
    f = _feats(fake, "fake")
    tr = _feats(train, "train")
    te = _feats(test, "test")
    _same_dim(f, tr, "fake", "train")
    _same_dim(te, tr, "test", "train")
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    d_fake = nn_distances(f, tr)[:, 0]
    d_test = nn_distances(te, tr)[:, 0]
    thr = float(torch.quantile(d_test, q))
    frac = float((d_fake < thr).double().mean())
    margin = 3.0 * math.sqrt(q * (1 - q) * (1 / len(f) + 1 / len(te)))
    qs = torch.tensor(quantiles, dtype=torch.float64)
    return {
        "copy_fraction": frac,
        "expected_fraction": q,
        "threshold": thr,
        "flagged": bool(frac > q + margin),
        "fake_to_train_quantiles": dict(zip(map(str, quantiles), torch.quantile(d_fake, qs).tolist())),
        "test_to_train_quantiles": dict(zip(map(str, quantiles), torch.quantile(d_test, qs).tolist())),
        "n_fake": len(f),
        "n_train": len(tr),
        "n_test": len(te),
        "fake_nn": d_fake,
        "test_nn": d_test,
    }


def nn_indices(query, ref, k: int = 1) -> torch.Tensor:
    """Indices (Nq, k) of the ``k`` nearest rows of ``ref`` for each query row (float32 search, chunked), for
    candidate retrieval where an exact order of near-ties does not matter."""
    q = _feats(query, "query")
    r = _feats(ref, "ref")
    _same_dim(q, r, "query", "ref")
    if not 1 <= k <= len(r):
        raise ValueError(f"k must be between 1 and {len(r)}, got {k}")
    q32, r32, r_sq = _centred32(q, r)
    step = _chunk_rows(len(r))
    return torch.cat([_sq_dists(q32[s : s + step], r32, r_sq).topk(k, dim=1, largest=False).indices
                      for s in range(0, len(q), step)]) if len(q) else torch.empty(0, k, dtype=torch.long)


def shift_min_distances(query: torch.Tensor, cands: torch.Tensor, max_shift: int = 1) -> torch.Tensor:
    """Pixel L2 distance from each query image to each of its candidate images, minimised over shifts of the
    query by up to ``max_shift`` pixels along each axis (zeros shifted in): (Nq, K), float64.

    ``query`` (Nq, C, H, W) and ``cands`` (Nq, K, C, H, W), float in [0, 1]. A copy moved by a pixel or two
    is then at distance ~0 from its original; one with pixel noise at about the noise's norm."""
    if query.dim() != 4 or cands.dim() != 5 or cands.shape[0] != query.shape[0] or cands.shape[2:] != query.shape[1:]:
        raise ValueError(f"need query (N, C, H, W) and cands (N, K, C, H, W) of the same images, got "
                         f"{tuple(query.shape)} and {tuple(cands.shape)}")
    n, c, h, w = query.shape
    s = max_shift
    qp = torch.nn.functional.pad(query.double(), (s, s, s, s))
    shifted = torch.stack([qp[:, :, s + dy : s + dy + h, s + dx : s + dx + w]
                           for dy in range(-s, s + 1) for dx in range(-s, s + 1)]).flatten(2)  # (S, N, P)
    cf = cands.double().flatten(2)  # (N, K, P)
    d2 = (shifted.square().sum(-1)[:, :, None] + cf.square().sum(-1)[None]
          - 2 * torch.einsum("snp,nkp->snk", shifted, cf))
    return d2.min(0).values.clamp_min(0).sqrt()


def copy_scores(query_x: torch.Tensor, query_f, train_x: torch.Tensor, train_f, candidates: int = 50,
                max_shift: int = 1, chunk: int = 256) -> dict:
    """How much closer is each query image to one training image than to any other? (for the copy test)

    The ``candidates`` nearest training images in feature space (``query_f`` vs ``train_f``) are rescored by
    :func:`shift_min_distances` in pixel space; d1 and d2 are the smallest and second-smallest of those
    distances and ``ratio`` = d1 / d2. A copy of a training image — exact, noisy or shifted by a pixel — has
    d1 far below d2 (ratio near 0); a fresh image, and a blurry average of many images, sits about as close
    to several training images (ratio near 1). ``query_x`` float in [0, 1]; ``train_x`` uint8 or float."""
    if len(train_x) < 2:
        raise ValueError("the copy test needs at least 2 training images")
    k = min(candidates, len(train_x))
    idx = nn_indices(query_f, train_f, max(k, 2))
    d = torch.empty(idx.shape, dtype=torch.float64)
    for s in range(0, len(query_x), chunk):
        t = train_x[idx[s : s + chunk]]
        t = t.double() / 255.0 if t.dtype == torch.uint8 else t.double()
        d[s : s + chunk] = shift_min_distances(query_x[s : s + chunk], t, max_shift)
    two = d.topk(2, dim=1, largest=False)
    d1, d2 = two.values[:, 0], two.values[:, 1]
    ratio = torch.where(d1 == 0, torch.zeros_like(d1), d1 / d2.clamp_min(1e-12))
    return {"ratio": ratio, "d1": d1, "d2": d2, "nearest": idx.gather(1, two.indices[:, :1])[:, 0]}


def _beta_binomial_sum_sf(ns, ks, ms, observed: int) -> float:
    """P(Σ_c X_c >= observed) for independent X_c ~ BetaBinomial(ns[c], ks[c], ms[c] + 1 - ks[c])."""
    from scipy.stats import betabinom

    pmf = np.ones(1)
    for n, k, m in zip(ns, ks, ms):
        pmf = np.convolve(pmf, betabinom.pmf(np.arange(n + 1), n, k, m + 1 - k))
    return float(min(1.0, max(0.0, pmf[observed:].sum())))


def copy_test(fake_scores, calib_scores, fake_groups=None, calib_groups=None, q: float = 0.01, alpha: float = 1e-3,
              min_group: int = 20) -> dict:
    """Memorisation verdict from copy scores (lower = more copy-like, e.g. ``copy_scores(...)["ratio"]``),
    calibrated on held-out real images that were not trained on.

    Per group (the classifier's predicted class, so that samples all of one class meet that class's own
    distances; groups with fewer than ``min_group`` calibration images use all of them), the threshold is
    the k-th smallest calibration score, k = max(1, floor(q (m + 1))) for m calibration scores: a fresh image
    falls below it with probability k / (m + 1) exactly (``expected_fraction``, about q). ``copy_fraction``
    is the share of samples below their group's threshold. If samples were as fresh as the calibration
    images, the number below would be a sum of beta-binomials (the threshold being a random order
    statistic); ``p_value`` is its exact upper tail and ``flagged`` = p_value < ``alpha``: a false alarm
    rate of at most ``alpha`` for samples as fresh as held-out data, at these sample counts.
    ``measured_fpr`` is the share of calibration images below thresholds set on the other half of them
    (two-fold), the per-image false-positive rate seen on real data.
    """
    f = torch.as_tensor(fake_scores, dtype=torch.float64).reshape(-1)
    c = torch.as_tensor(calib_scores, dtype=torch.float64).reshape(-1)
    if len(f) == 0 or len(c) < 2:
        raise ValueError(f"the copy test needs samples and at least 2 calibration scores, got {len(f)} and {len(c)}")
    if not (torch.isfinite(f).all() and torch.isfinite(c).all()):
        raise ValueError("copy scores contain NaN or infinite values")
    if not 0 < q < 1 or not 0 < alpha < 1:
        raise ValueError(f"q and alpha must be in (0, 1), got {q} and {alpha}")
    fg = torch.zeros(len(f), dtype=torch.long) if fake_groups is None else torch.as_tensor(fake_groups).long().reshape(-1)
    cg = torch.zeros(len(c), dtype=torch.long) if calib_groups is None else torch.as_tensor(calib_groups).long().reshape(-1)
    if len(fg) != len(f) or len(cg) != len(c):
        raise ValueError("fake_groups / calib_groups must give one group per score")

    def thresholds(cal: torch.Tensor, cal_g: torch.Tensor, groups) -> dict:
        out = {}
        for gid in groups:
            pool = cal[cal_g == gid]
            if len(pool) < min_group:
                pool = cal
            m = len(pool)
            k = max(1, math.floor(q * (m + 1)))
            out[gid] = (float(pool.sort().values[k - 1]), k, m)
        return out

    groups = sorted(set(fg.tolist()))
    thr = thresholds(c, cg, groups)
    t_of = torch.tensor([thr[int(gid)][0] for gid in fg.tolist()], dtype=torch.float64) if len(groups) > 1 else \
        torch.full_like(f, thr[groups[0]][0])
    below = f < t_of
    count = int(below.sum())
    ns = [int((fg == gid).sum()) for gid in groups]
    ks = [thr[gid][1] for gid in groups]
    ms = [thr[gid][2] for gid in groups]
    expected = sum(n * k / (m + 1) for n, k, m in zip(ns, ks, ms)) / len(f)
    p_value = _beta_binomial_sum_sf(ns, ks, ms, count)
    # two-fold check on the real calibration images themselves
    perm = torch.randperm(len(c), generator=torch.Generator().manual_seed(0))
    halves = perm[: len(c) // 2], perm[len(c) // 2 :]
    fp = 0
    for a, b in (halves, halves[::-1]):
        th = thresholds(c[a], cg[a], sorted(set(cg[b].tolist())))
        fp += int((c[b] < torch.tensor([th[int(gid)][0] for gid in cg[b].tolist()], dtype=torch.float64)).sum())
    return {"copy_fraction": count / len(f), "expected_fraction": expected, "p_value": p_value,
            "flagged": bool(p_value < alpha), "alpha": alpha, "q": q, "measured_fpr": fp / len(c),
            "n_fake": len(f), "n_calibration": len(c), "groups": len(groups), "below": below}


# ----------------------------------------------------------------------------- birthday paradox


def calibrate_birthday_threshold(real, percentile: float = 1.0) -> float:
    """A near-duplicate threshold: the ``percentile``-th percentile of nearest-neighbour distances within
    ``real`` features. Real data then has few "duplicates", so duplicates in samples mean lost support."""
    x = _feats(real, "real", min_rows=2)
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    return float(torch.quantile(nn_distances(x, x, 1, exclude_self=True)[:, 0], percentile / 100))


def _support_from_rate(s: int, p: float) -> float:
    """N such that a batch of s uniform draws from N items has a repeat with probability p."""
    if p <= 0:
        return math.inf
    if p >= 1:
        return float(s - 1)  # the largest N for which a repeat is certain

    def p_dup(n: float) -> float:
        i = np.arange(1, s)
        return 1.0 - float(np.exp(np.sum(np.log1p(-np.minimum(i / n, 1.0)))))

    lo, hi = float(s - 1), float(s * s)
    while p_dup(hi) > p:
        hi *= 2
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if p_dup(mid) > p else (lo, mid)
    return math.sqrt(lo * hi)


def _close_pairs(x: torch.Tensor, threshold: float, limit: int = 2_000_000):
    """All index pairs (i < j) of rows closer than ``threshold`` as a (2, P) tensor, or None if P > limit.

    One chunked pass over all pairs; after it, whether a random batch holds a near-duplicate is a lookup."""
    x32, _, sq = _centred32(x, x)
    band = 4 * (x.shape[1] + 3) * 2**-24 * float(4 * sq.max())
    thr2 = torch.tensor(threshold**2, dtype=torch.float64)
    found, total = [], 0
    step = _chunk_rows(len(x))
    for s in range(0, len(x), step):
        close = _below(_sq_dists(x32[s : s + step], x32, sq), thr2, band, x, x, s)
        i, j = close.nonzero(as_tuple=True)
        keep = i + s < j
        total += int(keep.sum())
        if total > limit:
            return None
        found.append(torch.stack([i[keep] + s, j[keep]]))
    return torch.cat(found, dim=1)


def _count_close_pairs(x: torch.Tensor, threshold: float, part: torch.Tensor, parts: int) -> tuple[int, torch.Tensor]:
    """Number of pairs (i < j) closer than ``threshold`` among all rows, and among rows of each part
    (``part`` gives each row's part id): one chunked pass, counting only (no pair list, bounded memory)."""
    x32, _, sq = _centred32(x, x)
    band = 4 * (x.shape[1] + 3) * 2**-24 * float(4 * sq.max())
    thr2 = torch.tensor(threshold**2, dtype=torch.float64)
    total, per_part = 0, torch.zeros(parts, dtype=torch.float64)
    step = _chunk_rows(len(x))
    for s in range(0, len(x), step):
        close = _below(_sq_dists(x32[s : s + step], x32, sq), thr2, band, x, x, s)
        rows = torch.arange(s, s + len(close))
        close[rows - s, rows] = False  # a row is not its own duplicate
        total += int(close.sum())
        same = close & (part[rows][:, None] == part[None, :])
        per_part.index_add_(0, part[rows], same.sum(1).double())
    return total // 2, per_part / 2


def birthday_support(feats, threshold: float, batch_size: int | None = None, trials: int = 50, seed: int = 0,
                     parts: int = 10, level: float = 0.95) -> dict:
    """Support size by the birthday paradox (Arora, Risteski & Zhang 2018, "Do GANs learn the distribution?"),
    estimated from every pair of samples at once, with a confidence interval.

    For a uniform distribution on N items, a batch of s draws holds a repeat with probability
    P(s) = 1 - Π_{i<s} (1 - i/N), and every pair of draws collides with probability q = 1/N. The original
    test looks for the batch size s at which P(s) ≈ 1/2; here the whole collision curve is fitted at once:
    q is estimated as the share of near-duplicate pairs (distance < ``threshold``, see
    :func:`calibrate_birthday_threshold`) among all n(n-1)/2 pairs of the n samples — every pair is a batch
    of two, and P(s) for any s follows from q — and ``support`` = 1/q̂. For a non-uniform distribution this
    is the collision ("effective") support 1 / Σ p_i², which is what the birthday test measures.

    Interval: the samples are split into ``parts`` disjoint random parts; the share of close pairs within
    each part is an independent estimate of q, so a t-interval for q from them (conservative for the
    full-sample estimate), inverted, bounds N. With no close pair at all, ``support`` is ``inf`` and
    ``ci`` = [n(n-1)/6, inf] (the rule of three: q < 3 / number of pairs at 95%).

    ``batch_size`` (default: the s where the fitted curve reaches 1/2) and ``trials``: ``trials`` random
    batches of that size are drawn and the share holding a near-duplicate is reported as
    ``duplicate_rate`` beside the fitted ``predicted_rate`` — a check that the uniform model fits.
    """
    from scipy.stats import t as student_t

    x = _feats(feats, "feats", min_rows=2)
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if batch_size is not None and not 2 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be between 2 and {len(x)} (the number of samples), got {batch_size}")
    n = len(x)
    parts = max(2, min(parts, n // 2))
    g = torch.Generator().manual_seed(seed)
    part = torch.empty(n, dtype=torch.long)
    part[torch.randperm(n, generator=g)] = torch.arange(n) % parts
    close, per_part = _count_close_pairs(x, threshold, part, parts)
    n_pairs = n * (n - 1) / 2
    sizes = torch.bincount(part, minlength=parts).double()
    q_part = per_part / (sizes * (sizes - 1) / 2)
    q = close / n_pairs
    half = float(student_t.ppf(0.5 + level / 2, parts - 1)) * float(q_part.std()) / math.sqrt(parts)
    if close == 0:
        support, ci = math.inf, [n_pairs / 3.0, math.inf]
    else:
        q_lo, q_hi = max(q - half, 0.0), min(q + half, 1.0)
        support = 1.0 / q
        ci = [1.0 / q_hi, math.inf if q_lo <= 0 else 1.0 / q_lo]
    s50 = batch_size or (n if q <= 0 else 2 if q >= 1 else max(2, min(n, _batch_for_rate(q, 0.5))))
    pairs = _close_pairs(x, threshold)

    def has_duplicate(idx: torch.Tensor) -> bool:
        if pairs is None:  # too many close pairs to list: search the batch itself
            b = x[idx]
            return bool(_knn_sq(b, b, 1, exclude_self=True).min() < threshold**2)
        inside = torch.zeros(n, dtype=torch.bool)
        inside[idx] = True
        return bool((inside[pairs[0]] & inside[pairs[1]]).any())

    observed = sum(has_duplicate(torch.randperm(n, generator=g)[:s50]) for _ in range(trials)) / trials
    with np.errstate(divide="ignore"):
        predicted = 1.0 - float(np.exp(np.sum(np.log1p(-np.minimum(np.arange(1, s50) * q, 1.0))))) if q > 0 else 0.0
    return {"support": support, "ci": ci, "level": level, "close_pairs": close, "pairs": int(n_pairs),
            "collision_rate": q, "parts": parts, "n": n, "batch_size": s50, "duplicate_rate": observed,
            "predicted_rate": predicted, "trials": trials, "threshold": threshold}


def _batch_for_rate(q: float, p: float) -> int:
    """The smallest batch size s whose repeat probability 1 - Π_{i<s} (1 - i q) reaches ``p``."""
    i = np.arange(1, int(min(10 * math.sqrt(1 / q) + 2, 1e8)))
    with np.errstate(divide="ignore"):
        surv = np.exp(np.cumsum(np.log1p(-np.minimum(i * q, 1.0))))
    hit = np.nonzero(1 - surv >= p)[0]
    return int(hit[0] + 2) if len(hit) else int(len(i) + 1)


# ----------------------------------------------------------------------------- likelihood


def nll_report(nats_per_example, dims: int) -> dict:
    """Negative log-likelihood summary: mean nats per example (with its standard error) and bits/dim.

    ``nats_per_example`` are negative log-likelihoods, -log p(x) in nats (positive for densities on
    discrete data; pass ``-model.log_likelihood(batch)``).

    bits/dim = nats / (dims · ln 2). For discrete data (e.g. 8-bit pixels) modelled by a density on
    dequantised inputs, the per-example values must already include the dequantisation/scaling terms
    (log 256 per dimension when pixels are scaled to [0, 1]).
    """
    v = torch.as_tensor(np.asarray(nats_per_example) if not isinstance(nats_per_example, torch.Tensor)
                        else nats_per_example).detach().to("cpu", torch.float64).reshape(-1)
    if len(v) == 0:
        raise ValueError("nats_per_example is empty")
    if not torch.isfinite(v).all():
        raise ValueError(f"nats_per_example contains NaN or infinite values ({int((~torch.isfinite(v)).sum())} of {len(v)})")
    if dims < 1:
        raise ValueError(f"dims must be >= 1, got {dims}")
    nats = float(v.mean())
    sem = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"nats": nats, "nats_sem": sem, "bits_per_dim": nats / (dims * math.log(2)),
            "bits_per_dim_sem": sem / (dims * math.log(2)), "n": len(v), "dims": dims}
