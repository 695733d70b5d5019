"""Supervised AAMI beat classifier (N, S, V, F) on the features of
:mod:`cardioclarity.ecg.records.features`.

The model is a gradient-boosted tree ensemble trained with scikit-learn's
``HistGradientBoostingClassifier`` on labelled patients (``training/train_beat_classifier.py``,
choices made by cross-validation grouped by record). Its trees are stored as plain tensors in a
weights-only checkpoint and evaluated here with NumPy, so loading a model never runs code from
the file and inference needs no scikit-learn.

``predict_proba`` returns class probabilities; ``predict`` the AAMI class under the decision
rule chosen in training (:class:`DecisionRule`, stored in the checkpoint): the arg-max of the
probabilities, except that an S or V call needs its class probability above a threshold, and
no beat inside an irregular stretch without P waves (atrial fibrillation-like) is called S,
where every beat comes "early" and the rhythm, not single premature beats, is the finding. The
thresholds are chosen on out-of-fold probabilities (cross-validation grouped by record) to hold
the fraction of normal beats flagged S/V/F at or under a target (1 %) with the highest S and V
sensitivity (:func:`choose_decision`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardioclarity.ecg.records.features import FEATURE_NAMES
from cardioclarity.errors import CheckpointError, InvalidInputError, NotFittedError

__all__ = ["AAMI_LABELS", "DEFAULT_BEAT_CLASSIFIER", "DEFAULT_FIT", "KIND_BEAT_CLASSIFIER",
           "MAX_N_FLAGGED", "BeatClassifier", "DecisionRule", "choose_decision",
           "cross_val_proba", "decision_weights", "fit_beat_classifier", "record_folds"]

DEFAULT_BEAT_CLASSIFIER = "aami-beats"
KIND_BEAT_CLASSIFIER = "ecg-beat-classifier"
#: Classes the classifier outputs, in column order of ``predict_proba``.
AAMI_LABELS = ("N", "S", "V", "F")


@dataclass
class _Trees:
    """One class's trees padded into arrays of shape (n_trees, max_nodes)."""

    feature: np.ndarray  # int, -1 at leaves
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray  # bool
    value: np.ndarray  # leaf value (raw score contribution)
    depth: int

    def __post_init__(self) -> None:
        # Flat node arrays; leaves loop onto themselves, so every row walks ``depth`` steps
        # without a per-step leaf test, and both children sit in one array (``2 * node + go
        # right``), so a step is four gathers.
        t, m = self.feature.shape
        leaf = self.feature < 0
        own = np.arange(m)[None, :].repeat(t, axis=0)
        off = (np.arange(t) * m)[:, None]
        self._feat = np.where(leaf, 0, self.feature).ravel().astype(np.intp)
        self._thr = np.where(leaf, np.inf, self.threshold).ravel()
        self._miss = np.where(leaf, True, self.missing_left).ravel()
        left = (np.where(leaf, own, self.left) + off).ravel()
        right = (np.where(leaf, own, self.right) + off).ravel()
        self._child = np.column_stack([left, right]).ravel().astype(np.intp)
        self._root = (np.arange(t) * m).astype(np.intp)
        self._value = self.value.ravel()

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Sum of the trees' leaf values for each row of ``X``."""
        n, t = X.shape[0], self.feature.shape[0]
        node = np.broadcast_to(self._root, (n, t)).copy()
        rows = (np.arange(n) * X.shape[1]).astype(np.intp)[:, None]
        Xf = X.ravel()
        has_nan = bool(np.isnan(X).any())
        for _ in range(self.depth):
            xv = Xf[rows + self._feat[node]]
            right = ~(xv <= self._thr[node])
            if has_nan:
                nan = np.isnan(xv)
                right[nan] = ~self._miss[node[nan]]
            node = self._child[2 * node + right]
        return self._value[node].sum(axis=1)


#: Fraction of normal beats flagged S/V/F that :func:`choose_decision` holds to (out of fold).
MAX_N_FLAGGED = 0.01

_IRR = FEATURE_NAMES.index("rr_irregularity")
_IRR2 = FEATURE_NAMES.index("rr_irregularity_lag2")
_PCTX = FEATURE_NAMES.index("p_corr_context")


@dataclass(frozen=True)
class DecisionRule:
    """How class probabilities become an AAMI class (see the module docstring).

    Attributes
    ----------
    s_threshold, v_threshold : float
        Least probability of S (V) for an S (V) call; below it the next most probable class.
    irregular_rr : float or None
        A beat whose RR irregularity over +-10 beats (both successive and two-apart
        differences, features ``rr_irregularity`` and ``rr_irregularity_lag2``) exceeds this...
    irregular_p : float
        ...and whose surrounding beats' P-wave correlation (``p_corr_context``) is under this
        is in an irregular stretch without P waves and is never called S. None: no such gate.
    """

    s_threshold: float = 0.0
    v_threshold: float = 0.0
    irregular_rr: float | None = None
    irregular_p: float = 0.3

    def to_dict(self) -> dict:
        return {"s_threshold": self.s_threshold, "v_threshold": self.v_threshold,
                "irregular_rr": self.irregular_rr, "irregular_p": self.irregular_p}

    @classmethod
    def from_dict(cls, d: dict | None) -> DecisionRule:
        d = d or {}
        return cls(s_threshold=float(d.get("s_threshold", 0.0)),
                   v_threshold=float(d.get("v_threshold", 0.0)),
                   irregular_rr=None if d.get("irregular_rr") is None
                   else float(d["irregular_rr"]),
                   irregular_p=float(d.get("irregular_p", 0.3)))

    def _gated(self, F: np.ndarray) -> np.ndarray | None:
        """``F`` as a 2-D float array, or None without a gate or without beats."""
        F = np.atleast_2d(np.asarray(F, dtype=np.float64))
        return None if self.irregular_rr is None or not F.shape[0] else F

    def irregular(self, F: np.ndarray) -> np.ndarray:
        """Per beat: inside an irregular stretch without P waves by this rule's gate (never
        called S). All False without a gate."""
        G = self._gated(F)
        if G is None:
            return np.zeros(np.atleast_2d(F).shape[0], dtype=bool)
        with np.errstate(invalid="ignore"):
            return ((G[:, _IRR] > self.irregular_rr) & (G[:, _IRR2] > self.irregular_rr)
                    & (G[:, _PCTX] < self.irregular_p))

    def sinus_context(self, F: np.ndarray) -> np.ndarray:
        """Per beat: the beats around it carry P waves alike the sinus template
        (``p_corr_context`` at or above this rule's ``irregular_p``), the mark of sinus rhythm
        that AF lacks. RR regularity is no such mark (sinus arrhythmia and frequent ectopy are
        irregular). Atrial flutter's regular F waves can pass for P waves. All False without
        a gate (no evidence either way)."""
        G = self._gated(F)
        if G is None:
            return np.zeros(np.atleast_2d(F).shape[0], dtype=bool)
        with np.errstate(invalid="ignore"):
            return G[:, _PCTX] >= self.irregular_p

    def apply(self, proba: np.ndarray, F: np.ndarray, classes=AAMI_LABELS,
              weights: np.ndarray | None = None) -> np.ndarray:
        """Index (into ``classes``) of the class of every beat."""
        score = proba * (weights[None, :] if weights is not None else 1.0)
        blocked = np.zeros(proba.shape, dtype=bool)
        for c, thr in (("S", self.s_threshold), ("V", self.v_threshold)):
            if c in classes and thr > 0:
                j = classes.index(c)
                blocked[:, j] |= proba[:, j] < thr
        if "S" in classes:
            blocked[:, classes.index("S")] |= self.irregular(F)
        if "N" in classes:  # N is never blocked: every beat keeps a class
            blocked[:, classes.index("N")] = False
        return np.argmax(np.where(blocked, -np.inf, score), axis=1)


@dataclass
class BeatClassifier:
    """AAMI beat classifier (see module docstring).

    Attributes
    ----------
    feature_names : tuple of str
    classes_ : tuple of str
    baseline_ : ndarray
        Raw score offset of each class (the ensemble's initial prediction).
    trees_ : list of _Trees
        One padded tree set per class.
    class_weights_ : ndarray
        Decision weights per class (probabilities are multiplied by them before the arg-max).
    decision_ : DecisionRule
        Thresholds and the irregular-rhythm gate (see :meth:`predict`).
    checkpoint_card : dict
        The loaded checkpoint's card (see :attr:`card`).
    """

    feature_names: tuple[str, ...] = FEATURE_NAMES
    classes_: tuple[str, ...] = AAMI_LABELS
    baseline_: np.ndarray | None = None
    trees_: list[_Trees] = field(default_factory=list)
    class_weights_: np.ndarray | None = None
    decision_: DecisionRule = field(default_factory=DecisionRule)
    checkpoint_card: dict = field(default_factory=dict, repr=False)

    @property
    def card(self) -> dict:
        """Model card: the checkpoint's when loaded, else what the model knows about itself."""
        if self.checkpoint_card:
            return dict(self.checkpoint_card)
        return {"name": "unsaved", "kind": KIND_BEAT_CLASSIFIER, "model": "gradient-boosted-trees",
                "classes": list(self.classes_)}

    # ------------------------------------------------------------------ inference
    def predict_proba(self, F) -> np.ndarray:
        """Class probabilities, shape (n, len(classes_)), columns in ``classes_`` order."""
        if self.baseline_ is None or not self.trees_:
            raise NotFittedError("BeatClassifier has no trees.",
                                 hint="load one with BeatClassifier.load() or "
                                      "training/train_beat_classifier.py.")
        F = np.atleast_2d(np.asarray(F, dtype=np.float64))
        if F.shape[1] != len(self.feature_names):
            raise InvalidInputError(f"Expected {len(self.feature_names)} beat features "
                                    f"({', '.join(self.feature_names[:3])}, ...), got {F.shape[1]}.")
        if F.shape[0] == 0:
            return np.zeros((0, len(self.classes_)))
        raw = np.column_stack([self.baseline_[k] + t.raw(F) for k, t in enumerate(self.trees_)])
        if len(self.trees_) == 1:  # binary: log-odds of the second class
            raw = np.column_stack([np.zeros(raw.shape[0]), raw[:, 0]])
        raw -= raw.max(axis=1, keepdims=True)
        e = np.exp(raw)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, F) -> tuple[np.ndarray, np.ndarray]:
        """AAMI class of each beat under :attr:`decision_`, and the probability of that class.

        Returns
        -------
        labels : ndarray of str
        probability : ndarray
            The (unweighted) probability of the chosen class.
        """
        proba = self.predict_proba(F)
        F = np.atleast_2d(np.asarray(F, dtype=np.float64))
        k = self.decision_.apply(proba, F, tuple(self.classes_), self.class_weights_)
        return np.asarray(self.classes_)[k], proba[np.arange(k.size), k]

    # ------------------------------------------------------------------ persistence
    @classmethod
    def from_sklearn(cls, est, class_weights=None, feature_names=FEATURE_NAMES) -> BeatClassifier:
        """Convert a fitted ``HistGradientBoostingClassifier`` (multi-class, numeric features)."""
        classes = tuple(str(c) for c in est.classes_)
        n_cls = len(classes)
        # a binary ensemble has one tree per round (the log-odds of the second class)
        n_sets = 1 if n_cls == 2 else n_cls
        per_class: list[list] = [[] for _ in range(n_sets)]
        for it in est._predictors:
            for k in range(n_sets):
                per_class[k].append(it[k].nodes)
        trees = []
        for nodes_list in per_class:
            m = max(len(n) for n in nodes_list)
            t = len(nodes_list)
            arr = {"feature": np.full((t, m), -1, np.int64), "threshold": np.zeros((t, m)),
                   "left": np.zeros((t, m), np.int64), "right": np.zeros((t, m), np.int64),
                   "missing_left": np.zeros((t, m), bool), "value": np.zeros((t, m))}
            depth = 1
            for i, nodes in enumerate(nodes_list):
                k = len(nodes)
                leaf = nodes["is_leaf"].astype(bool)
                arr["feature"][i, :k] = np.where(leaf, -1, nodes["feature_idx"])
                arr["threshold"][i, :k] = nodes["num_threshold"]
                arr["left"][i, :k] = nodes["left"]
                arr["right"][i, :k] = nodes["right"]
                arr["missing_left"][i, :k] = nodes["missing_go_to_left"].astype(bool)
                arr["value"][i, :k] = nodes["value"]
                depth = max(depth, int(nodes["depth"].max()) + 1)
            trees.append(_Trees(depth=depth, **arr))
        base = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)
        cw = np.ones(n_cls) if class_weights is None else np.asarray(class_weights, float)
        return cls(feature_names=tuple(feature_names), classes_=classes, baseline_=base,
                   trees_=trees, class_weights_=cw)

    def to_checkpoint(self) -> dict:
        """Tensors and plain values for :func:`~cardioclarity.checkpoints.save_checkpoint`."""
        import torch

        sd = {"baseline": torch.tensor(self.baseline_),
              "class_weights": torch.tensor(self.class_weights_)}
        for k, t in enumerate(self.trees_):
            for name in ("feature", "threshold", "left", "right", "missing_left", "value"):
                a = getattr(t, name)
                # int32/float32 keep the bundled file small; thresholds stay float64 (exact splits)
                a = a.astype(np.int32) if a.dtype == np.int64 else a
                a = a.astype(np.float32) if name == "value" else a
                sd[f"c{k}_{name}"] = torch.from_numpy(np.ascontiguousarray(a))
        return {"state_dict": sd, "config": {"feature_names": list(self.feature_names),
                                             "classes": list(self.classes_),
                                             "depths": [int(t.depth) for t in self.trees_],
                                             "decision": self.decision_.to_dict()}}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> BeatClassifier:
        """Rebuild from a loaded checkpoint (see :meth:`to_checkpoint`)."""
        from cardioclarity.checkpoints import card_from_checkpoint

        sd, cfg = ckpt["state_dict"], ckpt["config"]
        try:
            trees = []
            for k, depth in enumerate(cfg["depths"]):
                g = {n: sd[f"c{k}_{n}"].numpy() for n in ("feature", "threshold", "left", "right",
                                                          "missing_left", "value")}
                trees.append(_Trees(feature=g["feature"].astype(np.int64),
                                    threshold=g["threshold"].astype(np.float64),
                                    left=g["left"].astype(np.int64),
                                    right=g["right"].astype(np.int64),
                                    missing_left=g["missing_left"].astype(bool),
                                    value=g["value"].astype(np.float64), depth=int(depth)))
            return cls(feature_names=tuple(cfg["feature_names"]), classes_=tuple(cfg["classes"]),
                       baseline_=sd["baseline"].numpy().astype(np.float64), trees_=trees,
                       class_weights_=sd["class_weights"].numpy().astype(np.float64),
                       decision_=DecisionRule.from_dict(cfg.get("decision")),
                       checkpoint_card=card_from_checkpoint(ckpt))
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"Beat-classifier checkpoint is missing field {exc}.") from exc

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> BeatClassifier:
        """Load a beat classifier: a bundled name (default ``aami-beats``) or a checkpoint path."""
        from cardioclarity.checkpoints import load_checkpoint

        ckpt = load_checkpoint(name_or_path or DEFAULT_BEAT_CLASSIFIER,
                               expected_kind=KIND_BEAT_CLASSIFIER)
        if tuple(ckpt["config"].get("feature_names", ())) != FEATURE_NAMES:
            raise CheckpointError(
                f"'{name_or_path or DEFAULT_BEAT_CLASSIFIER}' was trained on other beat features "
                "than this version computes.", hint="retrain it with "
                "training/train_beat_classifier.py.")
        return cls.from_checkpoint(ckpt)


#: Default tree-ensemble settings (compared by grouped cross-validation with
#: ``training/train_beat_classifier.py --compare-fits``).
DEFAULT_FIT = {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31, "max_depth": 6,
               "min_samples_leaf": 40, "l2_regularization": 1.0}


def fit_beat_classifier(F: np.ndarray, y: np.ndarray, *, groups: np.ndarray | None = None,
                        class_weights=None, seed: int = 0, **params) -> BeatClassifier:
    """Fit the tree ensemble on labelled beats (classes :data:`AAMI_LABELS` only).

    Each record weighs the same in the fit (a 3,000-beat record does not drown a 1,000-beat
    one), and within that each class is weighted by the inverse square root of its frequency,
    so rare S and F beats are learnt without letting them flood the predictions.

    Parameters
    ----------
    F : ndarray, shape (n, len(FEATURE_NAMES))
    y : ndarray of str
        AAMI class of each beat; beats of other classes (Q, "") are left out.
    groups : ndarray, optional
        Record of each beat (for the per-record weighting).
    class_weights : dict, optional
        ``{class: weight}`` decision weights stored in the model (see :meth:`BeatClassifier.predict`).
    **params
        ``HistGradientBoostingClassifier`` settings overriding :data:`DEFAULT_FIT`.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    keep = np.isin(y, AAMI_LABELS)
    X, t = F[keep], y[keep]
    w = np.ones(t.size)
    if groups is not None:
        g = np.asarray(groups)[keep]
        _, inv, cnt = np.unique(g, return_inverse=True, return_counts=True)
        w = w / cnt[inv] * np.median(cnt)
    for c in AAMI_LABELS:
        m = t == c
        if m.any():
            w[m] *= np.sqrt(t.size / m.sum())
    est = HistGradientBoostingClassifier(random_state=seed, early_stopping=False,
                                         **{**DEFAULT_FIT, **params})
    est.fit(X, t, sample_weight=w)
    clf = BeatClassifier.from_sklearn(est, class_weights=None, feature_names=FEATURE_NAMES)
    clf.class_weights_ = decision_weights(clf.classes_, class_weights)
    return clf


def decision_weights(classes, weights: dict[str, float] | None) -> np.ndarray:
    """``{class: weight}`` as an array in ``classes`` order (missing classes: 1.0)."""
    weights = weights or {}
    return np.array([float(weights.get(c, 1.0)) for c in classes])


def record_folds(groups: np.ndarray, n_splits: int = 5, *,
                 fold_seed: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` index pairs of a cross-validation grouped by record.

    ``fold_seed=None``: scikit-learn's ``GroupKFold`` (largest records first onto the fold with
    the fewest beats; the same folds on every run). An integer deals the records in a seeded
    random order onto the fold with the fewest beats: another, equally balanced assignment, for
    measuring how much a figure depends on which patients share a fold.
    """
    groups = np.asarray(groups)
    names, inv, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if names.size < n_splits:
        raise InvalidInputError(f"record_folds needs at least n_splits={n_splits} records, got {names.size}.",
                                hint="use fewer folds or more records.")
    if fold_seed is None:
        from sklearn.model_selection import GroupKFold

        return list(GroupKFold(n_splits=n_splits).split(np.zeros(groups.size), groups=groups))
    fold_of = np.empty(names.size, dtype=np.int64)
    load = np.zeros(n_splits)
    for g in np.random.RandomState(fold_seed).permutation(names.size):
        k = int(np.argmin(load))
        fold_of[g], load[k] = k, load[k] + counts[g]
    folds = fold_of[inv]
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(n_splits)]


def cross_val_proba(F: np.ndarray, y: np.ndarray, groups: np.ndarray, *, n_splits: int = 5,
                    seed: int = 0, fold_seed: int | None = None, **params) -> tuple[np.ndarray, tuple[str, ...]]:
    """Out-of-fold class probabilities, folds grouped by record (no patient in both sides).

    ``fold_seed`` picks the assignment of records to folds (:func:`record_folds`); ``seed``
    seeds the trees.

    Returns
    -------
    proba : ndarray, shape (n, len(AAMI_LABELS))
        NaN rows for beats of other classes (Q, unmatched), which are never scored.
    classes : tuple of str
        Column order (:data:`AAMI_LABELS`).
    """
    proba = np.full((y.size, len(AAMI_LABELS)), np.nan)
    keep = np.isin(y, AAMI_LABELS)
    for tr, te in record_folds(groups, n_splits, fold_seed=fold_seed):
        tr = tr[keep[tr]]
        clf = fit_beat_classifier(F[tr], y[tr], groups=groups[tr], seed=seed, **params)
        p = clf.predict_proba(F[te])
        for j, c in enumerate(clf.classes_):
            proba[te, AAMI_LABELS.index(c)] = p[:, j]
    # a class absent from a training fold has probability 0 there
    proba[keep] = np.nan_to_num(proba[keep], nan=0.0)
    return proba, AAMI_LABELS


def _grid_stats(pred: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Gross (N flagged fraction, S Se, V Se) of integer predictions (AAMI_LABELS indices);
    F reference beats are left out as in :func:`~cardioclarity.ecg.records.ec57.beat_class_stats`."""
    n, s, v = y == 0, y == 1, y == 2
    return (float((pred[n] != 0).mean()) if n.any() else 0.0,
            float((pred[s] == 1).mean()) if s.any() else float("nan"),
            float((pred[v] == 2).mean()) if v.any() else float("nan"))


#: Candidate decision rules searched by :func:`choose_decision`.
S_THRESHOLDS = tuple(np.round(np.arange(0.0, 0.96, 0.05), 2))
V_THRESHOLDS = (0.0, 0.5, 0.7, 0.9)
IRREGULAR_GATES = (None, (0.1, 0.3), (0.15, 0.3), (0.1, 0.5), (0.2, 0.5))


def choose_decision(proba: np.ndarray, F: np.ndarray, y: np.ndarray, *,
                    max_n_flagged: float = MAX_N_FLAGGED) -> tuple[DecisionRule, dict]:
    """Decision rule for out-of-fold probabilities (:func:`cross_val_proba`): among the
    candidates that flag at most ``max_n_flagged`` of the normal beats, the one with the highest
    S + V sensitivity; if none does, the one flagging the fewest.

    Parameters
    ----------
    proba : ndarray, shape (n, 4)
        Out-of-fold probabilities in :data:`AAMI_LABELS` order (NaN rows are left out).
    F : ndarray
        The beats' features (for the irregular-rhythm gate).
    y : ndarray of str
        Reference classes.

    Returns
    -------
    rule : DecisionRule
    summary : dict
        The chosen rule's out-of-fold N flagged fraction, S and V sensitivity, and how many
        candidates met the constraint.
    """
    keep = np.isin(y, AAMI_LABELS) & np.all(np.isfinite(proba), axis=1)
    P, X = proba[keep], F[keep]
    yi = np.array([AAMI_LABELS.index(c) for c in y[keep]], dtype=np.int64)
    best, best_key, n_ok = None, None, 0
    for gate in IRREGULAR_GATES:
        for ts in S_THRESHOLDS:
            for tv in V_THRESHOLDS:
                rule = DecisionRule(s_threshold=float(ts), v_threshold=float(tv),
                                    irregular_rr=None if gate is None else gate[0],
                                    irregular_p=0.3 if gate is None else gate[1])
                nf, se_s, se_v = _grid_stats(rule.apply(P, X), yi)
                ok = nf <= max_n_flagged
                n_ok += ok
                key = (ok, (np.nan_to_num(se_s) + np.nan_to_num(se_v)) if ok else -nf)
                if best_key is None or key > best_key:
                    best, best_key = (rule, nf, se_s, se_v), key
    rule, nf, se_s, se_v = best
    return rule, {"n_flagged": nf, "S_Se": se_s, "V_Se": se_v, "max_n_flagged": max_n_flagged,
                  "candidates_meeting_target": int(n_ok)}
