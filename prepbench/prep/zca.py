"""ZCA whitening's statistics: the eigenpairs of the training covariance in float64 (or of the Gram
matrix when there are fewer images than dimensions), the regularizers, the retained components,
and the warning for a fit on too few images."""

from __future__ import annotations

import numpy as np


class RankDeficientWarning(UserWarning):
    """ZCA fitted on no more images than dimensions (n <= D = H*W*C): the whitened training images
    are mutually orthogonal, so what a network learns from them does not carry over to new images."""


def zca_rank_deficient(n: int, shape) -> bool:
    """True when n images of `shape` (H, W, C) cannot span their D = H*W*C dimensions."""
    return n <= int(np.prod(shape))


def fit_zca(
    centred: np.ndarray, epsilon: float, *, shrinkage: float | None = None, retain: int | float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """ZCA factors (U, f) with W = U diag(f) U^T, f = 1 / (sqrt(lambda + s * mean(lambda)) + eps / sqrt(n)).

    `epsilon` is IDG's (added to the singular values of the n x D data, so to sqrt(lambda) as
    eps / sqrt(n)); `shrinkage` s is a fraction of the mean eigenvalue, trace(C) / D, added to every
    eigenvalue (Coates et al. 2011's and pylearn2's regularizer, in units of the data's own spectrum).
    The two meet where (eps / sqrt(n))^2 = s * mean(lambda). `retain` keeps the leading components
    only: an int, that many; a float in (0, 1], the fewest whose eigenvalues hold that fraction of the
    variance (U is then D x k and W projects onto them).

    From the D x D covariance when n >= D, else from the n x n Gram matrix (U = X^T V / s), so a
    single 128x128 image (D = 49,152) never builds a D x D matrix. float64 throughout: the smallest
    eigenvalues of natural images sit ~1e-8 below the largest, under float32's resolution.
    """
    n = len(centred)
    flat = centred.reshape(n, -1)
    eigvals, u = covariance_eigh(flat)
    mean_eigval = eigvals.sum() / flat.shape[1]  # = trace(C) / D, zeros of a rank-deficient C included
    if retain is not None:
        keep = retained_components(eigvals, retain)
        eigvals, u = eigvals[keep], u[:, keep]
    damping = (shrinkage or 0.0) * mean_eigval
    scales = 1.0 / (np.sqrt(eigvals + damping) + epsilon / np.sqrt(n))
    return u, scales


def covariance_eigh(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The eigenpairs (lambda ascending, U) of C = X^T X / n for centred n x D data, in float64;
    with n < D only the nonzero ones, from the n x n Gram matrix."""
    import scipy.linalg

    n, d = flat.shape
    if n >= d:
        cov = np.zeros((d, d))
        for chunk in np.array_split(flat, max(1, n // 4096)):
            c = chunk.astype(np.float64)
            cov += c.T @ c
        # LAPACK's MRRR driver (syevr): all eigenpairs to the same accuracy as numpy's syevd,
        # about twice as fast on this 3072 x 3072 problem with 2 cores.
        eigvals, u = scipy.linalg.eigh(cov / n, driver="evr", check_finite=False, overwrite_a=True)
    else:
        x64 = flat.astype(np.float64)
        s2, v = np.linalg.eigh(x64 @ x64.T)  # = s^2, the squared singular values of X
        keep = s2 > s2.max() * 1e-12 if s2.max() > 0 else s2 > 0
        s2, v = s2[keep], v[:, keep]
        u = (x64.T @ v) / np.sqrt(s2)
        eigvals = s2 / n
    return np.clip(eigvals, 0, None), u


def retained_components(eigvals: np.ndarray, retain: int | float) -> np.ndarray:
    """Indices of the leading components: `retain` of them (int), or the fewest whose eigenvalues
    sum to at least the fraction `retain` (float) of the total."""
    order = np.argsort(eigvals)[::-1]
    if isinstance(retain, (int, np.integer)) and not isinstance(retain, bool):
        count = min(int(retain), len(order))
    else:
        cumulative = np.cumsum(eigvals[order]) / max(eigvals.sum(), np.finfo(float).tiny)
        count = int(np.searchsorted(cumulative, float(retain) * (1 - 1e-12)) + 1)
    return np.sort(order[: min(count, len(order))])
