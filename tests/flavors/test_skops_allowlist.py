"""The skops allowlist, checked empirically: every estimator and pipeline below is fitted,
dumped with skops and loaded back by the sklearn flavor with no type named by the registrant.

The cases cover what the suite registers (tests/flavors, tests/compile) and the families
whose fitted state holds internal types: trees and forests, histogram gradient boosting,
neighbours (KD/ball trees, distance metrics), SVMs, MLPs, decompositions, text vectorizers,
feature selection (score functions), meta-estimators (stacking, voting, calibration,
search), target transforms and every preprocessing transformer.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import DBSCAN, KMeans, MiniBatchKMeans
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_transformer
from sklearn.cross_decomposition import CCA, PLSRegression
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.decomposition import NMF, PCA, FastICA, IncrementalPCA, KernelPCA, LatentDirichletAllocation, TruncatedSVD
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.feature_selection import (
    RFE,
    SelectFromModel,
    SelectKBest,
    SelectPercentile,
    VarianceThreshold,
    chi2,
    f_regression,
    mutual_info_classif,
)
from sklearn.frozen import FrozenEstimator
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.impute import KNNImputer, MissingIndicator, SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    MultiTaskLasso,
    PoissonRegressor,
    QuantileRegressor,
    Ridge,
    SGDClassifier,
    TweedieRegressor,
)
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GridSearchCV,
    RandomizedSearchCV,
    TunedThresholdClassifierCV,
)
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier, OutputCodeClassifier
from sklearn.multioutput import ClassifierChain, MultiOutputClassifier, MultiOutputRegressor, RegressorChain
from sklearn.naive_bayes import CategoricalNB, GaussianNB, MultinomialNB
from sklearn.neighbors import (
    KernelDensity,
    KNeighborsClassifier,
    KNeighborsRegressor,
    LocalOutlierFactor,
    NearestCentroid,
    RadiusNeighborsClassifier,
)
from sklearn.neural_network import BernoulliRBM, MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    LabelBinarizer,
    LabelEncoder,
    MaxAbsScaler,
    MinMaxScaler,
    MultiLabelBinarizer,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
    TargetEncoder,
)
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection
from sklearn.semi_supervised import SelfTrainingClassifier
from sklearn.svm import SVC, SVR, LinearSVC, OneClassSVM
from sklearn.tree import DecisionTreeClassifier

from shipyard.flavors import skops_trust
from shipyard.flavors.sklearn import SklearnFlavor


def _cases() -> dict[str, tuple[Any, tuple[Any, ...]]]:
    cases: dict[str, tuple[Any, tuple[Any, ...]]] = {}

    def c(name: str, est: Any, *data: Any) -> None:
        cases[name] = (est, data)

    X, y = make_classification(n_samples=200, n_features=20, n_informative=6, n_classes=3, random_state=0)
    Xr, yr = make_regression(n_samples=200, n_features=20, random_state=0)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, 200).astype(float),
            "income": rng.normal(5e4, 1e4, 200),
            "plan": rng.choice(["a", "b", "c"], 200).astype(object),
            "flag": rng.choice([True, False], 200),
        }
    )
    frame.loc[::7, "income"] = np.nan
    fy = (frame["age"] > 50).astype(int).to_numpy()
    texts = ["the cat sat", "a dog ran", "cats and dogs", "the end"] * 50
    ty = np.array([0, 1, 1, 0] * 50)
    Ym, _ = make_multilabel_classification(n_samples=200, n_features=20, n_classes=3, random_state=0)

    c(
        "ct_pipe",
        make_pipeline(
            ColumnTransformer(
                [
                    ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
                    ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                    ("ord", OrdinalEncoder(), ["flag"]),
                ]
            ),
            LogisticRegression(max_iter=500),
        ),
        frame,
        fy,
    )
    c(
        "ct_hgb",
        make_pipeline(
            make_column_transformer((OrdinalEncoder(), ["plan"]), remainder="passthrough"),
            HistGradientBoostingClassifier(max_iter=10),
        ),
        frame,
        fy,
    )
    c(
        "hgb_cat",
        HistGradientBoostingClassifier(max_iter=10, categorical_features=[0]),
        np.c_[rng.integers(0, 4, 200), X],
        y,
    )
    c("hgb_reg_early", HistGradientBoostingRegressor(max_iter=5, early_stopping=True), Xr, yr)
    c("hgb_poisson", HistGradientBoostingRegressor(max_iter=5, loss="poisson"), Xr, np.abs(yr))
    c("hgb_quantile", HistGradientBoostingRegressor(max_iter=5, loss="quantile", quantile=0.8), Xr, yr)
    c("gb_clf", GradientBoostingClassifier(n_estimators=5), X, y)
    c("gb_bin", GradientBoostingClassifier(n_estimators=5, loss="exponential"), X, (y > 0).astype(int))
    c("gb_huber", GradientBoostingRegressor(n_estimators=5, loss="huber"), Xr, yr)
    c("gb_q", GradientBoostingRegressor(n_estimators=5, loss="quantile"), Xr, yr)
    c("gb_abs", GradientBoostingRegressor(n_estimators=5, loss="absolute_error", init="zero"), Xr, yr)
    c("rf", RandomForestClassifier(n_estimators=5), X, y)
    c("rf_reg", RandomForestRegressor(n_estimators=5), Xr, yr)
    c("et", ExtraTreesClassifier(n_estimators=5), X, y)
    c("iso", IsolationForest(n_estimators=5), X)
    c("ada", AdaBoostClassifier(n_estimators=5), X, y)
    c("bag", BaggingClassifier(KNeighborsClassifier(), n_estimators=3), X, y)
    c("stack", StackingClassifier([("lr", LogisticRegression()), ("rf", RandomForestClassifier(n_estimators=3))]), X, y)
    c("stackr", StackingRegressor([("r", Ridge()), ("k", KNeighborsRegressor())]), Xr, yr)
    c("vote", VotingClassifier([("lr", LogisticRegression()), ("nb", GaussianNB())], voting="soft"), X, y)
    c("voter", VotingRegressor([("lr", LinearRegression()), ("r", Ridge())]), Xr, yr)
    c("knn", KNeighborsClassifier(), X, y)
    c("knn_ball", KNeighborsClassifier(algorithm="ball_tree", metric="manhattan"), X, y)
    c("knn_brute", KNeighborsRegressor(algorithm="brute", metric="cosine"), Xr, yr)
    c("knn_mink", KNeighborsClassifier(algorithm="kd_tree", p=3), X, y)
    c("knn_cheb", KNeighborsClassifier(algorithm="ball_tree", metric="chebyshev"), X, y)
    c("knn_hav", KNeighborsClassifier(algorithm="ball_tree", metric="haversine"), X[:, :2], y)
    c("radius", RadiusNeighborsClassifier(radius=10.0), X, y)
    c("lof", LocalOutlierFactor(novelty=True), X)
    c("kde", KernelDensity(), X)
    c("nc", NearestCentroid(), X, y)
    c("knnimp", make_pipeline(KNNImputer(), LogisticRegression()), np.where(X > 2, np.nan, X), y)
    c("svc", SVC(probability=True), X, y)
    c("svc_poly", SVC(kernel="poly"), X, y)
    c("svr", SVR(), Xr, yr)
    c("lsvc", LinearSVC(), X, y)
    c("ocsvm", OneClassSVM(), X)
    c("mlp", MLPClassifier(max_iter=20), X, y)
    c("mlp_sgd", MLPRegressor(max_iter=20, solver="sgd"), Xr, yr)
    c("mlp_lbfgs", MLPClassifier(max_iter=20, solver="lbfgs"), X, y)
    c("pca", make_pipeline(PCA(5), LogisticRegression()), X, y)
    c("pca_rand", PCA(5, svd_solver="randomized", whiten=True), X)
    c("tsvd", TruncatedSVD(5), X)
    c("kpca", KernelPCA(5, kernel="rbf", fit_inverse_transform=True), X)
    c("ica", FastICA(5), X)
    c("nmf", NMF(5, max_iter=50), np.abs(X))
    c("lda", LatentDirichletAllocation(3, max_iter=5), np.abs(X))
    c("ipca", IncrementalPCA(5), X)
    c("tfidf", make_pipeline(TfidfVectorizer(), LogisticRegression()), texts, ty)
    c("count", make_pipeline(CountVectorizer(ngram_range=(1, 2)), MultinomialNB()), texts, ty)
    c("hash", make_pipeline(HashingVectorizer(n_features=64), SGDClassifier()), texts, ty)
    c(
        "dictv",
        make_pipeline(DictVectorizer(), LogisticRegression()),
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}] * 50,
        np.array([0, 1] * 50),
    )
    c("kbest", make_pipeline(SelectKBest(k=5), LogisticRegression()), X, y)
    c("kbest_chi", make_pipeline(MinMaxScaler(), SelectKBest(chi2, k=5), LogisticRegression()), X, y)
    c("kbest_mi", SelectPercentile(mutual_info_classif), X, y)
    c("kbest_freg", SelectKBest(f_regression), Xr, yr)
    c("sfm", SelectFromModel(RandomForestClassifier(n_estimators=3)), X, y)
    c("rfe", RFE(LogisticRegression(), n_features_to_select=5), X, y)
    c("var", VarianceThreshold(), X)
    c("ovr", OneVsRestClassifier(LogisticRegression()), X, y)
    c("ovo", OneVsOneClassifier(LinearSVC()), X, y)
    c("occ", OutputCodeClassifier(LogisticRegression(), random_state=0), X, y)
    c("moc", MultiOutputClassifier(LogisticRegression()), X, Ym)
    c("mor", MultiOutputRegressor(Ridge()), Xr, np.c_[yr, yr])
    c("chain", ClassifierChain(LogisticRegression()), X, Ym)
    c("rchain", RegressorChain(Ridge()), Xr, np.c_[yr, yr])
    c("cal", CalibratedClassifierCV(LogisticRegression(), method="isotonic"), X, y)
    c("cal_sig", CalibratedClassifierCV(LinearSVC()), X, (y > 0).astype(int))
    c("grid", GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}), X, y)
    c("rand", RandomizedSearchCV(DecisionTreeClassifier(), {"max_depth": [2, 3, 4]}, n_iter=2), X, y)
    c("fixed", FixedThresholdClassifier(LogisticRegression(), threshold=0.3), X, (y > 0).astype(int))
    c("tuned", TunedThresholdClassifierCV(LogisticRegression()), X, (y > 0).astype(int))
    c("isot", IsotonicRegression(), Xr[:, 0], yr)
    c("grp", GaussianRandomProjection(5), X)
    c("srp", SparseRandomProjection(5), X)
    c("nb", make_pipeline(KBinsDiscretizer(encode="ordinal"), CategoricalNB()), X, y)
    c("kbins_onehot", KBinsDiscretizer(encode="onehot"), X)
    c("kmeans", KMeans(3, n_init=1), X)
    c("mbkmeans", MiniBatchKMeans(3, n_init=1), X)
    c("rbf", make_pipeline(RBFSampler(), SGDClassifier()), X, y)
    c("nys", make_pipeline(Nystroem(n_components=20), LogisticRegression()), X, y)
    c("pls", PLSRegression(2), Xr, yr)
    c("cca", CCA(2), Xr, np.c_[yr, yr + 1])
    c("self", SelfTrainingClassifier(LogisticRegression()), X, np.where(np.arange(200) % 3 == 0, -1, y))
    c("ttr", TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1), Xr, np.abs(yr))
    c("ttr_t", TransformedTargetRegressor(Ridge(), transformer=QuantileTransformer(n_quantiles=50)), Xr, yr)
    c("union", make_pipeline(make_union(PCA(3), SelectKBest(k=3)), LogisticRegression()), X, y)
    c("poly", make_pipeline(PolynomialFeatures(2), StandardScaler(), Ridge()), Xr, yr)
    c("spline", make_pipeline(SplineTransformer(), Ridge()), Xr, yr)
    c("power", make_pipeline(PowerTransformer(), RobustScaler(), MaxAbsScaler(), Normalizer(), Ridge()), Xr, yr)
    c("qt", QuantileTransformer(n_quantiles=50, output_distribution="normal"), X)
    c("ft", FunctionTransformer(np.log1p), np.abs(X))
    c("binz", Binarizer(), X)
    c("lb", LabelBinarizer(), y)
    c("le", LabelEncoder(), np.array(["a", "b", "a"]))
    c("mlb", MultiLabelBinarizer(), [["a", "b"], ["c"]])
    c(
        "target_enc",
        make_pipeline(ColumnTransformer([("t", TargetEncoder(), ["plan"])], remainder="drop"), LogisticRegression()),
        frame,
        fy,
    )
    c("onehot_sparse", make_pipeline(OneHotEncoder(sparse_output=True), LogisticRegression()), frame[["plan"]], fy)
    c("onehot_drop", OneHotEncoder(drop="first", min_frequency=5, max_categories=3), frame[["plan"]])
    c("missing", MissingIndicator(), np.where(X > 2, np.nan, X))
    c("gamma", GammaRegressor(), Xr, np.abs(yr) + 1)
    c("poisson", PoissonRegressor(), Xr, np.abs(yr))
    c("tweedie", TweedieRegressor(power=1.5), Xr, np.abs(yr))
    c("qreg", QuantileRegressor(alpha=0.0, solver="highs"), Xr[:50], yr[:50])
    c("mtl", MultiTaskLasso(), Xr, np.c_[yr, yr])
    c("rbm", make_pipeline(BernoulliRBM(n_components=5, n_iter=2), LogisticRegression()), np.abs(X) / 5, y)
    c("gpc", GaussianProcessClassifier(), X[:60], y[:60])
    c("frozen", FrozenEstimator(LogisticRegression().fit(X, y)), X, y)
    c("dbscan", DBSCAN(), X)
    c("sgd_log", SGDClassifier(loss="log_loss"), X, y)
    c("lr_sparse", LogisticRegression(), scipy.sparse.csr_matrix(X), y)
    c("lr_float32", LogisticRegression(), X.astype(np.float32), y)
    c("dt_str", DecisionTreeClassifier(), X, np.array(["x", "y", "z"])[y])
    c("rf_frame", RandomForestClassifier(n_estimators=3), pd.DataFrame(X, columns=[f"f{i}" for i in range(20)]), y)
    return cases


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_fitted_sklearn_models_need_no_trusted_type(name: str, tmp_path: Path) -> None:
    import skops.io

    est, data = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(*data)
    path = tmp_path / "model.skops"
    skops.io.dump(est, path)
    flavor = SklearnFlavor()
    assert flavor.required_trust(path) == ()
    loaded = skops.io.load(path, trusted=skops_trust.trusted_for_load(path, ()))
    assert type(loaded) is type(est)
