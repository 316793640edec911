"""Independent plain-numpy (float64) reference implementations of the ltcli objectives.

These functions are written from the papers' formulas (and, for facts only, the authors' public
code); they deliberately share no code with ``ltcli.objectives``.  They are used by
``tests/test_objectives_reference.py`` to check the torch implementations value by value.

Common conventions (all functions):

* ``logits`` is a float array ``[N, K]`` (binary AUC losses also accept ``[N]`` / ``[N, 1]``),
  ``targets`` an int array ``[N]`` with values in ``0..K-1``; everything is computed in float64.
* Every function returns the *batch* value as a Python float: a mean over the samples (or over the
  positive x negative pairs for the AUC losses, or over the classes where stated).
* No numerical epsilons are added unless a docstring says so: the references compute the exact
  formula.  Where the authors' code adds an epsilon (``1e-9``, ``1e-7`` ...) the docstring says so;
  such epsilons change values by far less than the tests' ``rtol=1e-6`` unless noted.
* ``class_counts`` are the training-set class counts ``n_c`` (all > 0); the prior is
  ``pi_c = n_c / sum(n)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "log_softmax",
    "softmax",
    "logsumexp",
    "erm",
    "cce",
    "cot_primary",
    "cot_complement",
    "focal",
    "binary_scores",
    "square_auc",
    "tpauc_weights",
    "tpauc",
    "bsce",
    "la",
    "ldam_margins",
    "ldam",
    "lade",
    "gml",
    "feabal_class_term",
    "feabal_curriculum",
    "feabal",
    "las_smoothing",
    "las",
    "ride",
    "paco",
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _as2d(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"expected [N, K] logits, got shape {z.shape}")
    return z


def _targets(targets, n: int | None = None) -> np.ndarray:
    y = np.asarray(targets).astype(np.int64).reshape(-1)
    if n is not None and y.shape[0] != n:
        raise ValueError("targets and logits disagree on N")
    return y


def logsumexp(a: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return z - logsumexp(z, axis=axis, keepdims=True)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.exp(log_softmax(z, axis=axis))


def _prior(class_counts) -> np.ndarray:
    n = np.asarray(class_counts, dtype=np.float64)
    if np.any(n <= 0):
        raise ValueError("class counts must be positive")
    return n / n.sum()


def _ce_rows(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample -log softmax(z)[y]."""
    return -log_softmax(z)[np.arange(z.shape[0]), y]


# --------------------------------------------------------------------------------------------
# ERM
# --------------------------------------------------------------------------------------------
def erm(logits, targets, label_smoothing: float = 0.0) -> float:
    """Empirical risk minimisation: softmax cross entropy, batch mean.

    loss = mean_i  - sum_k t_ik log softmax(z_i)_k,   t_i = (1 - eps) onehot(y_i) + eps / K

    Label smoothing (Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016, Sec. 7)
    with exactly torch's ``F.cross_entropy(..., label_smoothing=eps)`` convention: the smoothing
    mass ``eps`` is spread uniformly over *all* K classes (the true class included), i.e.
    loss_i = (1 - eps) * CE_i + eps * mean_k(-log p_ik).  Default eps = 0.0.
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    logp = log_softmax(z)
    nll = -logp[np.arange(z.shape[0]), y]
    smooth = -logp.mean(axis=1)
    eps = float(label_smoothing)
    return float(np.mean((1.0 - eps) * nll + eps * smooth))


# --------------------------------------------------------------------------------------------
# complement-entropy family (CCE, COT)
# --------------------------------------------------------------------------------------------
def _neg_complement_entropy_rows(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample sum_{j != y} q_j log q_j with q_j = p_j / (1 - p_y)  (= -H(q_i) <= 0).

    Computed stably: log q_j = z_j - logsumexp_{k != y} z_k, so q is the softmax of the logits
    restricted to the wrong classes.
    """
    n, k = z.shape
    mask = np.ones((n, k), dtype=bool)
    mask[np.arange(n), y] = False
    logq = log_softmax(z[mask].reshape(n, k - 1), axis=1)
    return np.sum(np.exp(logq) * logq, axis=1)


def cce(logits, targets, gamma: float = 1.0) -> float:
    """Complement cross entropy.

    Kim, Lee & Jeon, "Imbalanced image classification with complement cross entropy",
    Pattern Recognition Letters 151 (2021): CCE = CE + gamma/(K-1) * (complement term).

    Implemented (the issue's sign convention):

        loss = mean_i [ -log p_{i,y_i} ]  +  gamma / (K - 1) * mean_i sum_{j != y_i} q_ij log q_ij
        q_ij = p_ij / (1 - p_{i,y_i})

    so gamma > 0 *maximises* the complement entropy H(q) (the regime the paper recommends).
    Default gamma = 1.0.  Conventions: normaliser K-1 (number of complement classes), no epsilon.
    NOTE (facts from the official code, unique-chan/Complement-Cross-Entropy ``cce.py``/README):
    the code returns ``CE - balancing_factor * sum(q log q) / (N * K)`` -- i.e. it divides by the
    number of classes K (not K-1), adds 1e-7 to (1 - p_y) and 1e-10 inside the log, and its
    ``balancing_factor`` has the opposite sign (the training script's ``--gamma`` defaults to -1).
    The issue's gamma = +1 corresponds to the authors' gamma = -1 up to the K vs K-1 factor.
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    k = z.shape[1]
    ce = np.mean(_ce_rows(z, y))
    comp = np.mean(_neg_complement_entropy_rows(z, y))
    return float(ce + gamma / (k - 1) * comp)


def cot_primary(logits, targets) -> float:
    """COT first step (Chen et al., "Complement Objective Training", ICLR 2019): plain softmax
    cross entropy, batch mean (identical to ``erm`` with no label smoothing)."""
    return erm(logits, targets, 0.0)


def cot_complement(logits, targets) -> float:
    """COT second step: the quantity *minimised* by the complement optimiser.

        complement_loss = -(1 / (K - 1)) * mean_i H(q_i),   H(q) = -sum_{j != y} q_j log q_j,
        q_ij = p_ij / (1 - p_{i,y_i})

    (Chen et al., ICLR 2019, complement entropy; minimising its negative flattens the
    wrong-class distribution.)  Convention: normaliser K-1 as specified in the issue.
    NOTE: the official code (henry8527/COT ``code/COT.py``) returns
    ``sum(q log q) / (N * K)`` with K = number of classes (10 for CIFAR-10), i.e. it normalises
    by K, not K-1, and adds 1e-7 / 1e-10 epsilons.
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    k = z.shape[1]
    return float(np.mean(_neg_complement_entropy_rows(z, y)) / (k - 1))


# --------------------------------------------------------------------------------------------
# focal loss
# --------------------------------------------------------------------------------------------
def focal(logits, targets, gamma: float = 2.0, alpha=None) -> float:
    """Softmax focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017,
    Eq. (5) FL(p_t) = -alpha_t (1 - p_t)^gamma log p_t, applied to the softmax probability of
    the target class):

        loss = mean_i alpha_{y_i} (1 - p_{i,y_i})^gamma * (-log p_{i,y_i})

    Conventions: alpha=None -> 1; a float multiplies every term; a length-K sequence gives a
    per-class weight indexed by the target class.  Plain mean over the batch (NOT divided by the
    sum of the alphas).  The modulating factor is part of the function (its gradient is kept,
    as in the paper).  Defaults gamma = 2.0, alpha = None.  (1 - p)^0 == 1 even when p == 1.
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    logpt = log_softmax(z)[np.arange(z.shape[0]), y]
    pt = np.exp(logpt)
    mod = np.power(1.0 - pt, gamma) if gamma != 0 else np.ones_like(pt)
    if alpha is None:
        a = np.ones_like(pt)
    elif np.isscalar(alpha):
        a = np.full_like(pt, float(alpha))
    else:
        a = np.asarray(alpha, dtype=np.float64)[y]
    return float(np.mean(a * mod * (-logpt)))


# --------------------------------------------------------------------------------------------
# AUC family (SquareAUC, TPAUC)
# --------------------------------------------------------------------------------------------
def binary_scores(logits) -> np.ndarray:
    """Scores in [0, 1] for the binary mode of the AUC losses.

    [N] or [N, 1] -> sigmoid(logit);  [N, 2] -> softmax(logits)[:, 1].
    (Same convention as the official TPAUC code's ``preprocess_inputs``,
    statusrank/A-Generic-Framework-for-Optimizing-Two-way-Partial-AUC ``losses.py``.)
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 1 or (z.ndim == 2 and z.shape[1] == 1):
        z = z.reshape(-1)
        return 1.0 / (1.0 + np.exp(-z))
    if z.ndim == 2 and z.shape[1] == 2:
        return softmax(z)[:, 1]
    raise ValueError(f"not a binary logit shape: {z.shape}")


def _is_binary(logits) -> bool:
    z = np.asarray(logits)
    return z.ndim == 1 or (z.ndim == 2 and z.shape[1] in (1, 2))


def _pair_square(sp: np.ndarray, sn: np.ndarray, wp=None, wn=None) -> float:
    """mean over all (i+, j-) pairs of w+_i w-_j (1 - (s+_i - s-_j))^2."""
    delta = (1.0 - (sp[:, None] - sn[None, :])) ** 2
    if wp is not None:
        delta = delta * wp[:, None] * wn[None, :]
    return float(np.mean(delta))


def _one_vs_all(logits, targets, per_class) -> float:
    """Binary mode (see ``binary_scores``; target 1 = positive, everything else negative) or
    one-vs-all over K >= 3 columns with s_c = softmax(logits)[:, c], averaged over the classes
    having at least one positive and one negative in the batch."""
    y = _targets(targets)
    if _is_binary(logits):
        s = binary_scores(logits)
        pos = y == 1
        if not pos.any() or pos.all():
            raise ValueError("binary AUC loss needs both classes in the batch")
        return per_class(s[pos], s[~pos])
    z = _as2d(logits)
    p = softmax(z)
    vals = []
    for c in range(z.shape[1]):
        pos = y == c
        if pos.any() and not pos.all():
            vals.append(per_class(p[pos, c], p[~pos, c]))
    if not vals:
        raise ValueError("no class has both a positive and a negative in the batch")
    return float(np.mean(vals))


def square_auc(logits, targets) -> float:
    """Square-loss AUC surrogate (Yang, Xu, Bao, Cao & Huang, "Learning with Multiclass AUC:
    Theory and Algorithms", TPAMI 2021; square surrogate l(t) = (1 - t)^2 of the pairwise score
    difference t = s+ - s-):

        binary:  loss = 1/(n+ n-) sum_{i in P} sum_{j in N} (1 - (s_i - s_j))^2

    Conventions (from the issue): margin 1, NO factor 1/2; scores as in ``binary_scores``;
    multi-class (K >= 3 columns) = one-vs-all with s_c = softmax(z)[:, c], positives = samples of
    class c, averaged over the classes with >= 1 positive and >= 1 negative in the batch.
    NOTE (facts): the official ``SquareAUCLoss`` in statusrank/XCurve ``AUROC/losses/AUROCLoss.py``
    (and one stored version of the TPAUC repo's ``losses.py``) computes 0.5 * A - B, which equals
    **one half** of the pair mean above; another stored version of the TPAUC repo's ``losses.py``
    uses the pair mean without 1/2.  XCurve's multi-class 'ova' mode *sums* the per-class
    losses (factor 1) and its default transform is 'ovo'; it assumes every class is in the batch.
    """
    return _one_vs_all(logits, targets, lambda sp, sn: _pair_square(sp, sn))


def tpauc_weights(sp: np.ndarray, sn: np.ndarray, gamma: float, re_scheme: str):
    """TPAUC re-weighting functions (Yang et al., ICML 2021, "When All We Need is a Piece of the
    Pie: A Generic Framework for Optimizing Two-way Partial AUC"; the 'Poly' and 'Exp' weight
    families of the paper, as in the official ``TPAUCLoss.re_weight``):

        Poly: w+ = (1 - s+)^gamma,              w- = (s-)^gamma
        Exp:  w+ = 1 - exp(-gamma (1 - s+)),    w- = 1 - exp(-gamma s-)

    No epsilon (one stored version of the official code uses (1 - s + 1e-6)^gamma and
    (s + 1e-6)^gamma in 'Poly'; another uses none).  No normalisation of the weights.
    """
    if re_scheme == "Poly":
        return np.power(1.0 - sp, gamma), np.power(sn, gamma)
    if re_scheme == "Exp":
        return 1.0 - np.exp(-gamma * (1.0 - sp)), 1.0 - np.exp(-gamma * sn)
    raise ValueError(f"unknown re_scheme {re_scheme!r}")


def tpauc(
    logits,
    targets,
    gamma: float = 0.01,
    epoch: int = 0,
    epoch_to_paced: int = 10,
    re_scheme: str = "Poly",
    weight_logits=None,
) -> float:
    """Two-way partial AUC surrogate (Yang et al., ICML 2021):

        loss = 1/(n+ n-) sum_{i in P} sum_{j in N} w+_i w-_j (1 - (s+_i - s-_j))^2

    * epoch < epoch_to_paced: all weights 1 (== ``square_auc``);
      epoch >= epoch_to_paced: weights from ``tpauc_weights`` (``epoch`` counted from 0).
    * The weights are constants for the gradient (detached).  ``weight_logits`` lets a test
      compute the weights from *other* logits (the point where they were frozen); by default
      they come from ``logits`` themselves.  The value is unaffected by detaching.
    * Plain mean over ALL n+ x n- pairs: the weights are NOT normalised (no division by their
      sum).  Fact: the official ``TPAUCLoss`` (statusrank/A-Generic-Framework-for-Optimizing-
      Two-way-Partial-AUC ``losses.py``) returns ``(Delta * weight).mean()``; its ``norm`` flag is
      stored but never used.  Its margin is fixed at 1 (gamma only enters the weights).
    * Binary mode / multi-class one-vs-all exactly as ``square_auc``.
    * Defaults chosen here (gamma=0.01, epoch_to_paced=10, re_scheme='Poly') follow the
      authors' public defaults: the TPAUC repo's ``params/TPAUCLoss_cifar.json`` uses
      Poly, gamma 0.01, epoch_to_paced 8; the same authors' XCurve-style ``TPAUCLoss`` defaults
      are gamma=0.01, E_k=10, 'Poly'.  (Other official configs: Poly gamma 0.1 / 8 epochs;
      Exp gamma 30 / 20 epochs.)
    """
    paced = epoch >= epoch_to_paced
    wl = logits if weight_logits is None else weight_logits

    if not paced:
        return square_auc(logits, targets)

    y = _targets(targets)
    if _is_binary(logits):
        s = binary_scores(logits)
        sw = binary_scores(wl)
        pos = y == 1
        if not pos.any() or pos.all():
            raise ValueError("binary AUC loss needs both classes in the batch")
        wp, wn = tpauc_weights(sw[pos], sw[~pos], gamma, re_scheme)
        return _pair_square(s[pos], s[~pos], wp, wn)
    z = _as2d(logits)
    p = softmax(z)
    pw = softmax(_as2d(wl))
    vals = []
    for c in range(z.shape[1]):
        pos = y == c
        if pos.any() and not pos.all():
            wp, wn = tpauc_weights(pw[pos, c], pw[~pos, c], gamma, re_scheme)
            vals.append(_pair_square(p[pos, c], p[~pos, c], wp, wn))
    if not vals:
        raise ValueError("no class has both a positive and a negative in the batch")
    return float(np.mean(vals))


# --------------------------------------------------------------------------------------------
# logit-adjustment family (BSCE, LA, LDAM)
# --------------------------------------------------------------------------------------------
def bsce(logits, targets, class_counts) -> float:
    """Balanced softmax cross entropy (Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual
    Recognition", NeurIPS 2020, Balanced Softmax: phi_y = n_y e^{z_y} / sum_j n_j e^{z_j}):

        loss = mean_i -log softmax(z_i + log n)_{y_i}

    Uses log of the raw counts (official ``balanced_softmax_loss`` adds log(sample_per_class));
    identical to using log prior, since a constant shift cancels in the softmax.
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    logn = np.log(np.asarray(class_counts, dtype=np.float64))
    return float(np.mean(_ce_rows(z + logn[None, :], y)))


def la(logits, targets, class_counts, tau: float = 1.0) -> float:
    """Logit-adjusted softmax cross entropy (Menon et al., "Long-Tail Learning via Logit
    Adjustment", ICLR 2021, Eq. (10)):

        loss = mean_i -log softmax(z_i + tau * log pi)_{y_i},   pi = n / sum(n)

    Default tau = 1.0 (then LA == BSCE).  No epsilon (the official TF code adds 1e-12 to pi^tau).
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    logpi = np.log(_prior(class_counts))
    return float(np.mean(_ce_rows(z + tau * logpi[None, :], y)))


def ldam_margins(class_counts, max_margin: float = 0.5) -> np.ndarray:
    """LDAM margins m_c = C / n_c^{1/4} with C chosen so that max_c m_c = max_margin
    (Cao et al., NeurIPS 2019, Eq. (12); official kaidic/LDAM-DRW ``losses.py``:
    m = 1/sqrt(sqrt(n)); m *= max_m / max(m))."""
    n = np.asarray(class_counts, dtype=np.float64)
    m = 1.0 / np.sqrt(np.sqrt(n))
    return m * (max_margin / np.max(m))


def ldam(logits, targets, class_counts, max_margin: float = 0.5, scale: float = 30.0) -> float:
    """Label-distribution-aware margin loss (Cao et al., "Learning Imbalanced Datasets with
    Label-Distribution-Aware Margin Loss", NeurIPS 2019, Eq. (13), with the normalised-head
    scale s of the official code):

        loss = mean_i -log softmax( scale * (z_i - m_{y_i} onehot(y_i)) )_{y_i}

    z are cosine similarities (a normalised classifier head).  Defaults max_margin = 0.5,
    scale = 30.  Plain LDAM (no DRW re-weighting).
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    m = ldam_margins(class_counts, max_margin)
    zz = z.copy()
    zz[np.arange(z.shape[0]), y] -= m[y]
    return float(np.mean(_ce_rows(scale * zz, y)))


# --------------------------------------------------------------------------------------------
# LADE
# --------------------------------------------------------------------------------------------
def lade(logits, targets, class_counts, alpha: float = 0.1, lam: float = 0.1) -> float:
    """LADE (Hong et al., "Disentangling Label Distribution for Long-tailed Visual Recognition",
    CVPR 2021): L_LADE = L_LADE-CE + alpha * L_LADER, both on the same raw logits z.

    LADE-CE (official ``loss/PriorCELoss.py``): mean_i -log softmax(z_i + log pi)_{y_i}.

    LADER with the regularised ReMINE bound (official ``loss/LADELoss.py``), for EVERY class
    c = 0..K-1 (N = batch size, n_c^B = number of batch samples of class c):

        first_c  = (1 / n_c^B) sum_{i: y_i = c} z_ic          (:= 0 when n_c^B = 0)
        second_c = log( (1/N) sum_{i=1..N} exp(z_ic - log pi_c + log(1/K)) )
        est_c    = first_c - second_c - lam * second_c^2
        L_LADER  = - sum_c pi_c * est_c

    Facts taken from the official code (hyperconnect/LADE):
    * classes absent from the batch are NOT masked out: their first term is 0/(0+1e-8) = 0 and
      they still contribute pi_c * (second_c + lam * second_c^2);
    * the per-class terms are weighted by the dataset prior pi_c (``cls_weight``) and summed;
    * the second term's logits are z - log pi + log(1/K), over all N samples of the batch;
    * the CE term gets z + log pi; config weights: PerformanceLoss (LADE-CE) 1.0,
      RouteWeightLoss (LADER) 0.1 with remine_lambda 0.1 for CIFAR-100-LT, ImageNet-LT and
      Places-LT (iNaturalist18: 0.05 and 0.5).  Defaults here: alpha = 0.1, lam = 0.1.
    * the official code adds 1e-9 inside log(pi), log(1/K) and 1e-8 to n_c^B; omitted here.
    * which tensor the official trainer feeds to LADER (``route_logits`` from
      ``models/DotProductClassifier.py``) could not be read in the stored copy; this reference
      assumes the same raw logits as the CE term, as in the paper's L_LADE.
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    n, k = z.shape
    pi = _prior(class_counts)
    logpi = np.log(pi)
    ce = np.mean(_ce_rows(z + logpi[None, :], y))

    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0
    nb = onehot.sum(axis=0)
    first = np.where(nb > 0, (onehot * z).sum(axis=0) / np.maximum(nb, 1.0), 0.0)
    second = logsumexp(z - logpi[None, :] + np.log(1.0 / k), axis=0) - np.log(n)
    est = first - second - lam * second**2
    lader = -np.sum(pi * est)
    return float(ce + alpha * lader)


# --------------------------------------------------------------------------------------------
# GML
# --------------------------------------------------------------------------------------------
def gml(logits, targets, class_counts) -> float:
    """Geometric mean loss (Du et al., "No One Left Behind: Improving the Worst Categories in
    Long-Tailed Learning", CVPR 2023):

        p_i    = softmax(z_i + log n)                      (balanced softmax)
        pbar_c = (1 / n_c^B) sum_{i: y_i = c} p_{i,c}      for the classes c present in the batch
        loss   = -log( (prod_{c in C_B} pbar_c)^{1/|C_B|} ) = -(1/|C_B|) sum_{c in C_B} log pbar_c

    Conventions: only classes present in the batch (C_B) enter; log n (raw counts) vs log prior
    is immaterial (softmax shift invariance).  No epsilon.
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    logn = np.log(np.asarray(class_counts, dtype=np.float64))
    logp = log_softmax(z + logn[None, :])
    vals = []
    for c in np.unique(y):
        idx = y == c
        vals.append(logsumexp(logp[idx, c]) - np.log(idx.sum()))
    return float(-np.mean(vals))


# --------------------------------------------------------------------------------------------
# FeaBal
# --------------------------------------------------------------------------------------------
def feabal_class_term(class_counts) -> np.ndarray:
    """Class-dependent stimulus of the feature-balanced loss:

        beta_c = (log n_max - log n_c) / max_j (log n_max - log n_j)   in [0, 1]

    (0 for the most frequent class, 1 for the rarest).  Fact: official juyongjiang/FBL
    ``loss.py`` ``FeaBalLoss``: lam_list = log(n); lam_list = max - lam_list;
    lam_list /= lam_list.max().  Undefined (0/0) when all counts are equal.
    """
    logn = np.log(np.asarray(class_counts, dtype=np.float64))
    d = logn.max() - logn
    return d / d.max()


def feabal_curriculum(epoch: int, epochs: int) -> float:
    """Curriculum factor chosen here: (epoch / epochs)^2 ("parabolic increase", epoch from 0).

    Fact: the official training script (juyongjiang/FBL ``train.py``) uses
    ``curr = (epoch / (args.epochs - 10)) ** 2`` (it reaches 1 ten epochs before the end and
    exceeds 1 afterwards); evaluation calls the loss with curr = 0 (plain CE).  This reference
    uses epochs itself as the horizon, as the issue describes the curriculum as a function of
    epoch/epochs.
    """
    return (float(epoch) / float(epochs)) ** 2


def feabal(
    logits,
    targets,
    features,
    class_counts,
    epoch: int,
    epochs: int,
    lam: float = 60.0,
    curriculum=feabal_curriculum,
) -> float:
    """Feature-balanced loss (Li, Cheung & Jiang, "Feature-Balanced Loss for Long-Tailed Visual
    Recognition", ICME 2022):

        zhat_ic = z_ic - curr(epoch, epochs) * lam * beta_c / ||f_i||_2
        loss    = mean_i -log softmax(zhat_i)_{y_i}

    * the term is subtracted from EVERY class column c (not only the target), with the
      per-sample L2 norm of the penultimate feature f_i; beta from ``feabal_class_term``;
    * curr from ``feabal_curriculum`` (see there for the official-code difference);
    * default lam = 60 (official README/run.sh ``--lambda_ 60`` for CIFAR; 150 for ImageNet,
      iNaturalist, Places); the official code adds 1e-12 to the norm (omitted here) and does not
      detach the feature norm.
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    f = np.asarray(features, dtype=np.float64)
    norm = np.sqrt(np.sum(f * f, axis=1))
    beta = feabal_class_term(class_counts)
    curr = curriculum(epoch, epochs)
    zhat = z - curr * lam * beta[None, :] / norm[:, None]
    return float(np.mean(_ce_rows(zhat, y)))


# --------------------------------------------------------------------------------------------
# LAS (MiSLAS label-aware smoothing)
# --------------------------------------------------------------------------------------------
def las_smoothing(class_counts, smooth_head: float = 0.3, smooth_tail: float = 0.0, shape: str = "concave",
                  power: float | None = None) -> np.ndarray:
    """Per-class smoothing eps_c of label-aware smoothing (Zhong et al., "Improving Calibration for
    Long-Tailed Recognition", CVPR 2021, Eq. 6), with n_1 = max(n) (head), n_K = min(n) (tail) and
    u_c = (n_c - n_K) * pi / (2 (n_1 - n_K)).

    Facts, copied in form from the official dvlab-research/MiSLAS ``methods.py``
    ``LabelAwareSmoothing`` (default shape 'concave'):

    * concave: smooth_tail + (smooth_head - smooth_tail) * sin(u_c)
    * linear:  smooth_tail + (smooth_head - smooth_tail) * (n_c - n_K) / (n_1 - n_K)
    * convex:  smooth_head + (smooth_head - smooth_tail) * sin(1.5 pi + u_c)
    * exp:     smooth_tail + (smooth_head - smooth_tail) * ((n_c - n_K) / (n_1 - n_K)) ** power

    Defaults 0.3 / 0.0: the official CIFAR-10-LT imbalance-100 stage-two config
    (``cifar10_imb001_stage2_mislas.yaml``).  Undefined (0/0) when all counts are equal.
    """
    n = np.asarray(class_counts, dtype=np.float64)
    n1, nk = n.max(), n.min()
    u = (n - nk) * np.pi / (2 * (n1 - nk))
    if shape == "concave":
        return smooth_tail + (smooth_head - smooth_tail) * np.sin(u)
    if shape == "linear":
        return smooth_tail + (smooth_head - smooth_tail) * (n - nk) / (n1 - nk)
    if shape == "convex":
        return smooth_head + (smooth_head - smooth_tail) * np.sin(1.5 * np.pi + u)
    if shape == "exp":
        return smooth_tail + (smooth_head - smooth_tail) * np.power((n - nk) / (n1 - nk), power)
    raise ValueError(f"unknown shape {shape!r}")


def las(logits, targets, class_counts, smooth_head: float = 0.3, smooth_tail: float = 0.0,
        shape: str = "concave", power: float | None = None) -> float:
    """Label-aware smoothing loss (MiSLAS, CVPR 2021, Eq. 5), batch mean:

        loss_i = (1 - eps_{y_i}) * (-log p_{i,y_i}) + eps_{y_i} * mean_k(-log p_ik)

    with eps from ``las_smoothing``.  Fact: this is the official ``LabelAwareSmoothing.forward``
    (``confidence * nll_loss + smoothing * smooth_loss``, smooth_loss = -logprobs.mean(dim=-1)), which
    spreads eps_y / K over all K classes, the true one included.  No epsilon.
    """
    z = _as2d(logits)
    y = _targets(targets, z.shape[0])
    eps = las_smoothing(class_counts, smooth_head, smooth_tail, shape, power)[y]
    logp = log_softmax(z)
    nll = -logp[np.arange(z.shape[0]), y]
    return float(np.mean((1.0 - eps) * nll + eps * (-logp.mean(axis=1))))


# --------------------------------------------------------------------------------------------
# RIDE
# --------------------------------------------------------------------------------------------
def ride(expert_logits, targets, class_counts, epoch: int, reweight_epoch: int, max_margin: float = 0.5,
         scale: float = 30.0, diversity_factor: float = -0.45, diversity_temperature: float = 1.0,
         reweight_factor: float = 0.05, beta: float = 0.9999) -> float:
    """RIDE (Wang et al., "Long-tailed Recognition by Routing Diverse Distribution-Aware Experts",
    ICLR 2021, Eq. 2-4; settings of the official RIDELoss, facts only). ``expert_logits`` is
    ``[E, N, K]``: each expert's logits, already scaled by s (s times cosines). The prediction is
    zbar = mean over experts. Written with explicit loops over experts, samples and classes:

        loss = sum_e [ CE_w(z_e - s m_y onehot(y), y) + lambda * Tbar^2 * KL(p || q_e) ]

    * m_c: LDAM margins (``ldam_margins``), scaled by s because the logits are.
    * CE_w: before ``reweight_epoch`` the plain mean; from it on (epoch >= reweight_epoch, the
      official 1-based ``epoch > 160``) the weighted mean sum_i w_{y_i} l_i / sum_i w_{y_i} with
      w_c = (1 - beta) / (1 - beta^n_c) normalised to sum K.
    * Temperatures: T_c = diversity_temperature before reweight_epoch; from it on
      diversity_temperature * t_c / max(t), t_c = K pi_c r + 1 - r (r = reweight_factor).
      Tbar = mean_c T_c.
    * p = softmax(zbar / T) (a constant for gradients), q_e = softmax(z_e / T), KL per sample
      sum_c p_c (log p_c - log q_c), averaged over the N samples ("batchmean").
    """
    z = np.asarray(expert_logits, dtype=np.float64)
    e_count, n, k = z.shape
    y = _targets(targets, n)
    counts = np.asarray(class_counts, dtype=np.float64)
    margins = ldam_margins(counts, max_margin)
    late = epoch >= reweight_epoch
    if late:
        raw = (1 - beta) / (1 - beta ** counts)
        weights = raw / raw.sum() * k
        t = k * (counts / counts.sum()) * reweight_factor + 1 - reweight_factor
        temperature = diversity_temperature * t / t.max()
    else:
        weights = np.ones(k)
        temperature = np.full(k, diversity_temperature)
    zbar = z.mean(axis=0)
    total = 0.0
    for e in range(e_count):
        numerator = denominator = 0.0
        for i in range(n):
            row = z[e, i].copy()
            row[y[i]] -= scale * margins[y[i]]
            ce = -(row[y[i]] - np.log(np.sum(np.exp(row))))
            numerator += weights[y[i]] * ce
            denominator += weights[y[i]]
        kl = 0.0
        for i in range(n):
            p = np.exp(zbar[i] / temperature) / np.sum(np.exp(zbar[i] / temperature))
            log_q = z[e, i] / temperature - np.log(np.sum(np.exp(z[e, i] / temperature)))
            kl += sum(p[c] * (np.log(p[c]) - log_q[c]) for c in range(k))
        total += numerator / denominator + diversity_factor * np.mean(temperature) ** 2 * kl / n
    return float(total)


# --------------------------------------------------------------------------------------------
# PaCo
# --------------------------------------------------------------------------------------------
def paco(logits, targets, class_counts, queries, keys, queue, queue_labels, alpha: float = 0.01,
         beta: float = 1.0, gamma: float = 1.0, temperature: float = 0.05, supt: float = 1.0) -> float:
    """PaCo (Cui et al., "Parametric Contrastive Learning", ICCV 2021, Eq. 8-9; facts of the official
    PaCoLoss with base_temperature = temperature). For anchor i (a query of the batch) the
    candidates are

    * the K class centres, score a_c = (z_ic + log pi_c) / supt, weight 1 in the denominator,
      positive weight beta for c = y_i;
    * every contrast sample f_j of [queries, keys, queue] except the anchor itself (j = i), score
      a_j = q_i . f_j / temperature, weight gamma in the denominator, positive weight alpha when
      its label equals y_i (the labels of the keys are the batch's, of the queue ``queue_labels``).

    loss_i = -sum_j pos_j (a_j - log sum_j' w_j' exp(a_j')) / sum_j pos_j; the batch value is the
    mean over the anchors. Written with explicit loops; no epsilons (the official code adds 1e-9 to
    the prior and 1e-12 inside the log, both negligible here).
    """
    z = _as2d(logits)
    n, k = z.shape
    y = _targets(targets, n)
    pi = _prior(class_counts)
    q = np.asarray(queries, dtype=np.float64)
    contrast = np.concatenate([q, np.asarray(keys, dtype=np.float64), np.asarray(queue, dtype=np.float64)])
    labels = np.concatenate([y, y, np.asarray(queue_labels)])
    losses = []
    for i in range(n):
        scores, denominator_weights, positive = [], [], []
        for c in range(k):
            scores.append((z[i, c] + np.log(pi[c])) / supt)
            denominator_weights.append(1.0)
            positive.append(beta if c == y[i] else 0.0)
        for j in range(len(contrast)):
            if j == i:
                continue
            scores.append(float(q[i] @ contrast[j]) / temperature)
            denominator_weights.append(gamma)
            positive.append(alpha if labels[j] == y[i] else 0.0)
        scores, denominator_weights, positive = map(np.asarray, (scores, denominator_weights, positive))
        log_denominator = np.log(np.sum(denominator_weights * np.exp(scores)))
        losses.append(-np.sum(positive * (scores - log_denominator)) / np.sum(positive))
    return float(np.mean(losses))
