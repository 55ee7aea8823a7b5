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
    """Exact squared distances to the k nearest rows of ``r``, sorted, for checked float64 inputs."""
    avail = len(r) - (1 if exclude_self else 0)
    if not 1 <= k <= avail:
        raise ValueError(f"k must be between 1 and {avail} (the number of reference rows), got {k}")
    if exclude_self and len(q) != len(r):
        raise ValueError("exclude_self=True needs query and ref to be the same rows")
    q32, r32, r_sq = _centred32(q, r)
    step = _chunk_rows(len(r), 8 * k * r.shape[1])
    out = torch.empty(len(q), k, dtype=torch.float64)
    for s in range(0, len(q), step):
        d = _sq_dists(q32[s : s + step], r32, r_sq)
        if exclude_self:
            rows = torch.arange(len(d))
            d[rows, rows + s] = math.inf
        idx = d.topk(k, dim=1, largest=False).indices
        out[s : s + step] = _exact_sq(q[s : s + step, None, :], r[idx]).sort(dim=1).values
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


def inception_score(logits, splits: int = 10):
    """Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), as (mean, std) over splits.

    ``logits`` (N, K) are the classifier's unnormalised outputs; p(y) is the mean of p(y|x) within each of
    ``splits`` consecutive, equal-as-possible splits (the original protocol). Ranges from 1 to K.
    """
    z = _feats(logits, "logits", min_rows=splits)
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    scores = []
    for part in torch.tensor_split(z, splits):
        logp = torch.log_softmax(part, dim=1)
        log_py = torch.logsumexp(logp, dim=0) - math.log(len(part))
        kl = (logp.exp() * (logp - log_py)).sum(1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))


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
    step = _chunk_rows(len(x))
    for s in range(0, len(y), step):
        d2 = _sq_dists(y32[s : s + step], x32, x_sq)  # (chunk of fake, real), float32
        in_real = _below(d2, r2[None, :], band, y, x, s)
        inside[s : s + step] = in_real.any(1)
        count[s : s + step] = in_real.sum(1)
        covered |= in_real.any(0)
        recalled |= _below(d2, f2[s : s + step, None], band, y, x, s).any(0)
    return {
        "precision": float(inside.double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(count.sum() / (k * len(y))),
        "coverage": float(covered.double().mean()),
        "k": k,
    }


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


def birthday_support(feats, threshold: float, batch_size: int | None = None, trials: int = 50, seed: int = 0) -> dict:
    """Support size by the birthday paradox (Arora, Risteski & Zhang 2018, "Do GANs learn the distribution?").

    Draw ``trials`` batches of s samples (without replacement within a batch) and count the batches that
    contain a near-duplicate pair (distance < ``threshold``, see :func:`calibrate_birthday_threshold`).
    If a batch of s has a duplicate about half the time, the support is about s². Here the estimate
    inverts the exact birthday formula for a uniform distribution on N items,
    P(repeat) = 1 - Π_{i<s} (1 - i/N), at the observed duplicate rate (≈ 0.72 s² at a rate of 1/2; inf if
    no batch had a duplicate: then the support is only known to be well above s²).

    With ``batch_size=None`` s is searched: 2, 4, 8, ... up to len(feats), stopping at the first s whose
    duplicate rate reaches 1/2.
    """
    x = _feats(feats, "feats", min_rows=2)
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if batch_size is not None and not 2 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be between 2 and {len(x)} (the number of samples), got {batch_size}")
    g = torch.Generator().manual_seed(seed)
    pairs = _close_pairs(x, threshold)

    def has_duplicate(idx: torch.Tensor) -> bool:
        if pairs is None:  # too many close pairs to list: search the batch itself
            b = x[idx]
            return bool(_knn_sq(b, b, 1, exclude_self=True).min() < threshold**2)
        inside = torch.zeros(len(x), dtype=torch.bool)
        inside[idx] = True
        return bool((inside[pairs[0]] & inside[pairs[1]]).any())

    def rate(s: int) -> float:
        return sum(has_duplicate(torch.randperm(len(x), generator=g)[:s]) for _ in range(trials)) / trials

    if batch_size is not None:
        s, p = batch_size, rate(batch_size)
    else:
        s = 2
        while True:
            p = rate(s)
            if p >= 0.5 or s == len(x):
                break
            s = min(2 * s, len(x))
    return {"support": _support_from_rate(s, p), "batch_size": s, "duplicate_rate": p, "trials": trials,
            "threshold": threshold}


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
