"""GroupedEstimator: one scikit-learn model per group of rows, fitted and served on Spark."""

from __future__ import annotations

import json
from functools import partial
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier

from .._base import (
    SPARK_CONSTRAINT,
    ScoreByTypeMixin,
    SparkEstimatorMixin,
    check_fitted,
    delegated_tags,
    estimator_has,
    prediction_method,
)
from .._compat import HasMethods, Interval, StrOptions, fit_context
from .._frames import (
    coalesce_for_shuffle,
    default_partitions,
    larger_arrow_batches,
    map_in_pandas,
    spark_frame_with_row_id,
)
from .._inputs import (
    as_column_list,
    check_feature_types,
    check_not_empty,
    check_y_none,
    column,
    is_spark_dataframe,
    pandas_column_kinds,
    resolve_columns,
    spark_column_kinds,
    to_pandas,
)
from .._isolation import retry_isolated
from .._jobs import cluster_cores, task_progress
from .._persistence import SavedModelMixin
from .._progress import progress_enabled
from .._reserved import ALL_ROWS, LABEL, PLACE, ROW_ID, SPARSE_FEATURES
from .._serialization import dump_model, load_model, refuse_pickles
from .._session import get_spark
from .._threads import running_in_spark_task
from ..exceptions import ColumnError, GroupFitError, UnseenGroupError
from ._features import all_sparse, sparse_vectors
from ._fit import fallback_blob, fit_partition
from ._keys import check_key_types, check_key_values, group_key, key_dict, pandas_key_type
from ._placement import place_by_size, place_planned, plan_frame
from ._policy import Routing
from ._predict import predict_local, predict_spark
from ._schema import check_group_names, table_schema
from ._table import ModelTable, collect_fit_output

__all__ = ["GroupedEstimator"]

METADATA_FILE = "metadata.json"
_ROWS = "pyspark.sql.DataFrame or pandas.DataFrame\n    Rows with the group and feature columns."


class GroupedEstimator(
    SparkEstimatorMixin, SavedModelMixin, ScoreByTypeMixin, MetaEstimatorMixin, BaseEstimator
):
    """Fit one clone of ``estimator`` per group of rows, on Spark.

    Parameters
    ----------
    estimator : estimator or Pipeline
        The model every group gets a clone of (regressor, classifier, transformer, clusterer).
    group_cols : str or list of str
        Column(s) whose distinct values define the groups. Null keys form a group of their own.
    feature_cols : str or list of str, optional
        Feature columns. Default: every numeric column that is not a group or label column.
        Each group's model is fitted on a pandas DataFrame of these columns, so it records
        ``feature_names_in_`` and expects the same columns at predict time. Named explicitly,
        non-numeric columns (strings, dates) are accepted too, for a base Pipeline that encodes
        them. A single name (a string) gives each model that column 1-D, as
        ``ColumnTransformer`` does (the texts of a ``TfidfVectorizer`` pipeline); a
        ``pyspark.ml`` Vector column arrives as a matrix, a CSR matrix when its vectors are
        sparse, and pandas sparse columns as a CSR matrix too (never densified).
    label_col : str, optional
        Label column of a Spark DataFrame. For pandas input pass ``y`` to ``fit`` instead.
    prediction_col : str, default="prediction"
        Output column added by ``predict`` (and the other prediction methods) on Spark input.
    on_error : {"raise", "skip"}, default="raise"
        What a failing group does. ``"raise"``: ``fit`` raises :class:`GroupFitError` naming
        the group, with the executor's traceback (each task stops at its first failed group,
        so little work is wasted). ``"skip"``: the group is recorded with
        ``status="failed"`` and its traceback in :attr:`model_table_`; the others are kept.
    min_rows : int, default=1
        Groups with fewer rows are not fitted; they are recorded with
        ``status="too_few_rows"``.
    unseen_groups : {"raise", "null", "fallback"}, default="raise"
        Rows whose group has no fitted model at predict time (never seen; with no
        ``fallback``, also failed or too small). ``"raise"``: :class:`UnseenGroupError` naming
        the groups. ``"null"``: their prediction is null (NaN for numpy output) and a
        :class:`UserWarning` counts them. ``"fallback"`` (needs ``fallback``): the fallback
        model predicts them. Checked before the prediction job on pandas and batch Spark
        input; on a streaming DataFrame row by row inside the job.
    fallback : "global" or estimator, optional
        A model for rows whose group has none: ``"global"`` fits a clone of ``estimator`` on
        all rows, an estimator is fitted (cloned) on all rows. It predicts the rows of groups
        that failed or had fewer than ``min_rows`` rows, and of unseen groups with
        ``unseen_groups="fallback"``. Spark output then has a ``model_source`` column
        (``"group"`` or ``"fallback"``), and a :class:`UserWarning` counts the rows the
        fallback predicted, by reason. On Spark input it is fitted in one task holding all
        rows (executor memory permitting).
    group_timeout : float, optional
        Seconds one group's fit may take. When set, every group is fitted in its own child
        process (a fork: tens of milliseconds each, so for slow fits); one that runs longer
        is killed and recorded as failed (``on_error`` decides what follows). Without it, a
        Python worker that dies makes ``fit`` run again with every group isolated, so the
        group responsible is named and recorded instead of the whole fit failing.
    n_partitions : int, optional
        Partitions the groups are packed into. Default: 2 per core of the cluster
        (``defaultParallelism``; on Spark Connect measured once per session). ``predict``
        on Spark with at most 64 groups (and a model table that travels with the tasks)
        keeps the input's partitions instead.
    placement : {"hash", "size"}, default="hash"
        How groups are placed in those partitions. ``"hash"``: by a hash of the key, no
        extra pass; right when the groups are of similar size. ``"size"``: each group's
        rows are counted first (one more pass over Spark input, and one row per group to
        the driver; a pandas ``X`` is counted on the driver) and the partitions planned
        from the counts, the largest group first, each slot given about equal rows: for
        skewed groups, e.g. one 100x the others, whose partition would otherwise also hold
        its share of small groups and could start last.
        The fitted models are the same either way.
    progress : bool, optional
        Show a progress bar of fitted groups while ``fit`` runs (classic Spark). Default: on
        a terminal and not in CI.
    spark : SparkSession, optional
        Default: :func:`get_spark`. Shared (never copied) by ``clone``; left out of pickles.

    Attributes
    ----------
    model_table_ : pyspark.sql.DataFrame
        One row per group: the group columns, ``model`` (serialized, integrity-checked bytes;
        null unless ``status == "ok"``), ``n_rows``, ``fit_seconds``, ``status`` (``"ok"``,
        ``"failed"`` or ``"too_few_rows"``), ``error`` (traceback or reason), ``classes``
        (the group model's ``classes_`` as JSON, for classifiers), ``best_params`` (JSON) and
        ``best_score`` (when the base estimator is a search), ``fitted_at`` (UTC), and for
        linear regressors ``intercept`` and ``coef`` (in ``feature_names_in_`` order, from
        which Spark predictions are computed in Spark SQL).
    n_groups_ : int
        Number of groups found in the training data (every status).
    n_failed_groups_ : int
        Groups whose status is not ``"ok"``.
    group_cols_ : list of str
        The resolved group columns.
    feature_names_in_ : ndarray of str
        The resolved feature columns.
    n_features_in_ : int
        Number of feature columns.
    classes_ : ndarray
        For classifiers: the sorted union of every group's classes. ``predict_proba`` columns
        follow this order (0 for a class a group never saw).

    See Also
    --------
    SparkMLEstimator : one model trained data-parallel on all rows.
    SparkBatchPredictor : score Spark data with one model fitted by scikit-learn.

    Notes
    -----
    Input checks happen before any Spark job: an empty pandas input, unknown columns, and
    non-numeric feature columns given to a plain scikit-learn estimator that takes numbers
    only (encode them in a Pipeline) raise errors that name the problem. Spark input with no
    rows raises :class:`EmptyInputError` after the (cheap) fit job finds no group. A fit that
    raises leaves the estimator unfitted.

    ``predict_proba``, ``decision_function``, ``transform`` ... exist exactly when the base
    estimator has them; ``score`` (accuracy or R^2 over all rows) exists for classifiers and
    regressors only: a clusterer's or transformer's per-group ``score`` has no row-wise sum.

    Per-row fit parameters (e.g. ``sample_weight`` arrays) cannot be split by group and are
    rejected; scalar fit parameters are passed to every group's ``fit``.

    How fit and predict map onto Spark (packing groups into partitions, the checks made
    once per partition, shipped and distributed model tables, linear models predicted in
    Spark SQL) is described in the user guide, :doc:`/guide/grouped`.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LinearRegression
    >>> from spark_sklearn_bridge import GroupedEstimator
    >>> X = pd.DataFrame({"store": [1, 1, 1, 2, 2, 2], "x": [0.0, 1, 2, 0, 1, 2]})
    >>> y = [0.0, 1, 2, 0, 2, 4]  # slope 1 in store 1, slope 2 in store 2
    >>> model = GroupedEstimator(LinearRegression(), group_cols="store").fit(X, y)
    >>> model.predict(pd.DataFrame({"store": [2, 1], "x": [10.0, 10.0]})).round(6)
    array([20., 10.])
    >>> model.get_group_model(2).coef_.round(6)
    array([2.])
    """

    _save_kind = "GroupedEstimator"
    _artifact_path = "grouped_estimator"
    _parameter_constraints = {
        "estimator": [HasMethods(["fit"])],
        "group_cols": [str, Integral, list, tuple],
        "feature_cols": [None, str, list, tuple],
        "label_col": [None, str],
        "prediction_col": [str],
        "on_error": [StrOptions({"raise", "skip"})],
        "min_rows": [Interval(Integral, 1, None, closed="left")],
        "unseen_groups": [StrOptions({"raise", "null", "fallback"})],
        "fallback": [None, StrOptions({"global"}), HasMethods(["fit"])],
        "group_timeout": [None, Interval(Real, 0, None, closed="neither")],
        "n_partitions": [None, Interval(Integral, 1, None, closed="left")],
        "placement": [StrOptions({"hash", "size"})],
        "progress": [None, "boolean"],
        "spark": SPARK_CONSTRAINT,
    }

    def __init__(
        self,
        estimator,
        group_cols,
        *,
        feature_cols=None,
        label_col=None,
        prediction_col="prediction",
        on_error="raise",
        min_rows=1,
        unseen_groups="raise",
        fallback=None,
        group_timeout=None,
        n_partitions=None,
        placement="hash",
        progress=None,
        spark=None,
    ):
        self.estimator = estimator
        self.group_cols = group_cols
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.prediction_col = prediction_col
        self.on_error = on_error
        self.min_rows = min_rows
        self.unseen_groups = unseen_groups
        self.fallback = fallback
        self.group_timeout = group_timeout
        self.n_partitions = n_partitions
        self.placement = placement
        self.progress = progress
        self.spark = spark

    # ------------------------------------------------------------------ fit
    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Fit one clone of ``estimator`` per group.

        Parameters
        ----------
        X : pyspark.sql.DataFrame or pandas.DataFrame
            Spark: features and label come from ``feature_cols`` / ``label_col``. pandas: the
            group columns are columns of ``X``; the label is ``y``.
        y : array-like, optional
            Labels for pandas ``X`` (omit for unsupervised estimators).
        **fit_params
            Scalar parameters passed to every group's ``fit``.

        Returns
        -------
        self : GroupedEstimator
            The fitted estimator.

        Raises
        ------
        GroupFitError
            A group failed and ``on_error="raise"``; the estimator is left unfitted.
        EmptyInputError
            The data has no rows.
        """
        self._reset()
        for name, value in fit_params.items():
            if np.ndim(value) > 0:
                raise ValueError(
                    f"fit parameter {name!r} is array-like; per-row fit parameters cannot be "
                    "split by group. Add it as a column and use a Pipeline step instead."
                )
        group_cols = as_column_list(self.group_cols, "group_cols", allow_none=False)
        check_group_names(group_cols)
        Routing.check(self.unseen_groups, self.fallback)
        if not is_spark_dataframe(X) and running_in_spark_task():
            # Inside another job's task (e.g. a search's fit): no session here; fit locally.
            return self._fit_here(X, y, group_cols, fit_params)
        spark = get_spark(self.spark)
        # The progress bar's total and the driver's partition plan: known before the job
        # for pandas input only.
        n_groups = planned = None
        if is_spark_dataframe(X):
            check_y_none(X, y)
            data, label = X, self.label_col
            kinds = spark_column_kinds(X.schema)
            features = resolve_columns(
                kinds,
                feature_cols=self.feature_cols,
                label_col=label,
                group_cols=group_cols,
                exclude=[self.prediction_col],
                allow_vector=True,
                allow_other=True,
            )
            one_column = isinstance(self.feature_cols, str)
            check_feature_types(self.estimator, X, kinds, features, one_column)
            from pyspark.sql import functions as F

            data = data.withColumn(ROW_ID, F.monotonically_increasing_id())
        else:
            frame, features = self._local_input(X, group_cols)
            frame, label = _with_label(frame[group_cols + features], y)
            if all_sparse(frame, features):  # to Spark as one vector column, still sparse
                vectors = sparse_vectors(frame, features)
                frame = frame.drop(columns=features).assign(**{SPARSE_FEATURES: vectors})
            vector_cols = [SPARSE_FEATURES] if SPARSE_FEATURES in frame.columns else []
            if self.placement == "size":  # counted here: no counting job
                plan = plan_frame(frame, group_cols, self._partitions(spark), cluster_cores(spark))
                if plan is not None:
                    places, planned, n_groups = plan
                    frame = frame.assign(**{PLACE: places})
            if n_groups is None and progress_enabled(self.progress):  # the bar's total
                n_groups = frame.groupby(group_cols, dropna=False, sort=False).ngroups
            data = spark_frame_with_row_id(spark, frame, vector_cols=vector_cols)
        key_types = {c: data.schema[c].dataType.simpleString() for c in group_cols}
        packed = SPARSE_FEATURES in data.columns  # features the models know by their names
        job_features = [SPARSE_FEATURES] if packed else features
        feature_types = {
            c: "double" if packed else data.schema[c].dataType.simpleString() for c in features
        }
        fitter = partial(self._partition_fitter, model_feature_names=features if packed else None)
        frame, distributed = self._fit_table(
            spark, data, group_cols, job_features, label, fit_params, n_groups, fitter, planned
        )
        table = ModelTable(frame, group_cols, key_types, distributed=distributed)
        if self.fallback is not None:
            try:
                table.fallback = self._fit_fallback(data, job_features, label, fit_params, fitter)
            except BaseException:
                table.release()
                raise
        return self._finish_fit(table, features, feature_types)

    def _local_input(self, X, group_cols):
        """``(frame, feature columns)`` of pandas input, checked before any job."""
        frame = _check_pandas(X, group_cols)
        check_not_empty(len(frame), "The training data")
        kinds = pandas_column_kinds(frame)
        features = resolve_columns(
            kinds,
            feature_cols=self.feature_cols,
            group_cols=group_cols,
            allow_vector=True,
            allow_other=True,
        )
        one_column = isinstance(self.feature_cols, str)
        check_feature_types(self.estimator, frame, kinds, features, one_column)
        check_key_values(frame, group_cols)
        return frame, features

    def _fit_here(self, X, y, group_cols, fit_params):
        """Fit every group in this process: the same per-group code as a Spark task runs."""
        frame, features = self._local_input(X, group_cols)
        frame, label = _with_label(frame[group_cols + features], y)
        frame = frame.assign(**{ROW_ID: np.arange(len(frame), dtype="int64")})
        fit = self._partition_fitter(group_cols, features, label, fit_params)
        pieces = fit([frame], progress=None, isolate=self.group_timeout is not None)
        table = pd.concat(list(pieces), ignore_index=True)
        key_types = {c: pandas_key_type(frame[c]) for c in group_cols}
        fallback = None
        if self.fallback is not None:
            fit = self._partition_fitter([ALL_ROWS], features, label, fit_params, fallback=True)
            whole = frame.assign(**{ALL_ROWS: 0})
            fallback = fallback_blob(pd.concat(list(fit([whole], progress=None))))
        check_not_empty(len(table), "The training data")
        feature_types = {c: pandas_key_type(frame[c]) for c in features}
        table = ModelTable(table, group_cols, key_types, fallback)
        return self._finish_fit(table, features, feature_types)

    def _finish_fit(self, table: ModelTable, features, feature_types):
        if not table.n_groups:
            table.release()
            check_not_empty(0, "The training data")
        if self.on_error == "raise" and (failure := table.first_failure()) is not None:
            table.release()
            key, error = failure
            raise GroupFitError(
                f"Fitting the model of group {key} failed (on_error='raise': each task "
                "stopped at its first failed group; on_error='skip' records failures and "
                f"fits every other group). Executor traceback:\n{error}",
                group=key,
                remote_traceback=error,
            )
        self._set_fitted(table, features[0] if isinstance(self.feature_cols, str) else features)
        self._feature_types = feature_types
        return self

    def _feature_setting(self):
        """The fitted features as a ``feature_cols`` setting (a string for one 1-D column)."""
        names = list(self.feature_names_in_)
        return names[0] if self._one_column else names

    def _reset(self):
        """Forget an earlier fit, so a fit that raises leaves the estimator unfitted."""
        if "_table" in self.__dict__:
            self._table.release()  # the executors' copy of the old models
        for name in (
            "_table",
            "group_cols_",
            "feature_names_in_",
            "n_features_in_",
            "n_groups_",
            "n_failed_groups_",
            "classes_",
        ):
            self.__dict__.pop(name, None)

    #: The fitted features were one column named by a string: each group model got it 1-D.
    _one_column = False
    #: Spark type name of each feature column at fit (for the MLflow model's signature).
    _feature_types: dict = {}

    def _set_fitted(self, table: ModelTable, features):
        """``features``: the resolved feature columns, or one name (a string) for one 1-D
        column, as ``feature_cols`` gave it."""
        self._one_column = isinstance(features, str)
        features = [features] if self._one_column else list(features)
        self._table = table
        self.group_cols_ = table.group_cols
        self.feature_names_in_ = np.asarray(features, dtype=object)
        self.n_features_in_ = len(features)
        self.n_groups_ = table.n_groups
        self.n_failed_groups_ = table.n_failed
        classes = table.classes()
        if classes is not None:
            self.classes_ = classes

    def refit_groups(self, X, y=None, **fit_params):
        """Refit the groups present in ``X``; keep every other group's model and record.

        Each group found in ``X`` is fitted again on ``X``'s rows only (its earlier rows are
        not kept), with the fitted feature columns and this estimator's settings, and
        replaces that group's row of :attr:`model_table_` (``fitted_at`` records when). A
        group that is new to the table is added. The other groups' rows, models included,
        stay byte for byte as they were; the fallback model is kept as it is.

        Parameters
        ----------
        X : pyspark.sql.DataFrame or pandas.DataFrame
            Rows of the groups to refit, with the group and feature columns (and the label
            column for Spark input).
        y : array-like, optional
            Labels for pandas ``X``.
        **fit_params
            Scalar parameters passed to every group's ``fit``.

        Returns
        -------
        self : GroupedEstimator
            The estimator with the refitted groups.

        Raises
        ------
        GroupFitError
            A refitted group failed and ``on_error="raise"``; nothing changes.
        """
        self._check_fitted()
        update = clone(self).set_params(
            group_cols=list(self.group_cols_),
            feature_cols=self._feature_setting(),
            fallback=None,
            unseen_groups="raise",
        )
        update.fit(X, y, **fit_params)
        old, new = self._table, update._table
        try:
            check_key_types(old.key_types, new.key_types, where="in the refit data")
            table = old.replace_groups(new, get_spark(self.spark))
        finally:
            new.release()
        old.release()
        self._set_fitted(table, self._feature_setting())
        return self

    def _partition_fitter(
        self, group_cols, features, label, fit_params, fallback=False, model_feature_names=None
    ):
        """:func:`fit_partition` with this estimator's settings (``progress`` and ``isolate``
        are left to the caller); with ``fallback``, for the fallback model."""
        estimator = self.estimator
        if fallback and self.fallback != "global":
            estimator = self.fallback
        return partial(
            fit_partition,
            estimator_blob=dump_model(estimator),
            group_cols=group_cols,
            feature_cols=features,
            label_col=label,
            min_rows=int(self.min_rows),
            fit_params=fit_params,
            stop_on_failure=self.on_error == "raise",
            timeout=self.group_timeout,
            one_column=isinstance(self.feature_cols, str),
            model_feature_names=model_feature_names,
        )

    def _fit_fallback(self, data, features, label, fit_params, fitter=None):
        """Fit the fallback model on every row, in one task (one "group" of all rows)."""
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        names = [*features, *([label] if label else []), ROW_ID, ALL_ROWS]
        whole = data.withColumn(ALL_ROWS, F.lit(0))
        whole = coalesce_for_shuffle(whole, spark=data.sparkSession, columns=names).repartition(1)
        fitter = fitter or self._partition_fitter
        fit = fitter([ALL_ROWS], features, label, fit_params, fallback=True)
        schema = table_schema([T.StructField(ALL_ROWS, T.IntegerType())])
        job = partial(fit, progress=None, isolate=self.group_timeout is not None)
        with larger_arrow_batches(data.sparkSession):
            return fallback_blob(to_pandas(map_in_pandas(whole, job, schema)))

    def _partitions(self, spark) -> int:
        """Partitions the groups are packed into, by fit and predict alike."""
        return self.n_partitions or default_partitions(spark)

    def _fit_table(
        self,
        spark,
        data,
        group_cols,
        features,
        label,
        fit_params,
        n_groups,
        fitter=None,
        planned=None,
    ):
        """Fit every group of Spark ``data``; with ``planned``, the number of partitions its
        :data:`PLACE` column was planned for (:func:`plan_frame`)."""
        n_partitions = self._partitions(spark)
        names = group_cols + features + ([label] if label else []) + [ROW_ID]
        rows = coalesce_for_shuffle(data, spark, names + ([PLACE] if planned is not None else []))
        if planned is not None:  # pandas input, planned on the driver
            packed = place_planned(rows, planned)
        elif self.placement == "size":
            packed, counted = place_by_size(rows, group_cols, n_partitions, cluster_cores(spark))
            n_groups = n_groups or counted  # the progress bar's total, now known
        else:
            packed = rows.repartition(n_partitions, *[column(c) for c in group_cols])
        schema = table_schema(data.schema[c] for c in group_cols)
        fit_partition_ = (fitter or self._partition_fitter)(
            group_cols, features, label, fit_params
        )

        def run_job(isolate):
            with (
                task_progress(spark, n_groups, "fitting", "group", self.progress) as bar,
                larger_arrow_batches(spark),  # each task concatenates its partition
            ):
                job = partial(fit_partition_, progress=bar.reporter, isolate=isolate)
                fitted = map_in_pandas(packed, job, schema).persist()
                try:
                    table = collect_fit_output(fitted, schema, n_partitions)
                except BaseException:
                    fitted.unpersist()
                    raise
                bar.wait_for(len(table[0]))
            return table

        return retry_isolated(run_job, isolate=self.group_timeout is not None, unit="group")

    # ----------------------------------------------------------- accessors
    @property
    def model_table_(self):
        """The per-group model table as a Spark DataFrame (see the class docstring)."""
        self._check_fitted()
        return self._table.spark_frame(get_spark(self.spark))

    def get_group_model(self, key):
        """Return the fitted scikit-learn estimator of one group.

        Parameters
        ----------
        key : scalar, tuple or dict
            The group's key: a value for one group column, a tuple in ``group_cols`` order, or
            a dict column -> value.

        Returns
        -------
        estimator
            The group's fitted clone of ``estimator``.

        Raises
        ------
        UnseenGroupError
            No such group in the training data.
        GroupFitError
            The group exists but has no model (failed or too few rows).
        """
        self._check_fitted()
        if isinstance(key, dict):
            key = tuple(key[c] for c in self.group_cols_)
        elif not isinstance(key, tuple):
            key = (key,)
        position = self._table.index.get(group_key(key))
        if position is None:
            raise UnseenGroupError(f"No group {key_dict(self.group_cols_, key)} was fitted.")
        return self._table.model_at(position)

    def _check_fitted(self):
        check_fitted(self, "_table")

    def __sklearn_is_fitted__(self):
        return "_table" in self.__dict__

    # ------------------------------------------------------------ predict
    predict = prediction_method(
        "predict",
        "Predict with each row's group model.",
        data=_ROWS,
        returns="ndarray or pyspark.sql.DataFrame\n    pandas input: a numpy array in input row "
        "order. Spark input: ``X`` plus\n    ``prediction_col`` (lazy).",
    )
    predict_proba = prediction_method(
        "predict_proba",
        "Class probabilities, columns in :attr:`classes_` order.",
        data=_ROWS,
        returns="ndarray or pyspark.sql.DataFrame\n    An (n_samples, n_classes) array (0 for a "
        "class a group never saw), or\n    ``X`` plus an array<double> ``prediction_col``.",
        check=estimator_has("predict_proba"),
    )
    predict_log_proba = prediction_method(
        "predict_log_proba",
        "Log class probabilities, columns in :attr:`classes_` order (-inf: unseen classes).",
        data=_ROWS,
        returns="ndarray or pyspark.sql.DataFrame\n    As :meth:`predict_proba`, in log space.",
        check=estimator_has("predict_log_proba"),
    )
    decision_function = prediction_method(
        "decision_function",
        "Decision function of each row's group model.",
        data=_ROWS,
        returns="ndarray or pyspark.sql.DataFrame\n    numpy for pandas input; ``X`` plus "
        "``prediction_col`` (array<double> if 2-D).",
        check=estimator_has("decision_function"),
    )
    transform = prediction_method(
        "transform",
        "Transform each row with its group model.",
        data=_ROWS,
        returns="ndarray or pyspark.sql.DataFrame\n    numpy for pandas input; ``X`` plus an "
        "array<double> ``prediction_col``.",
        check=estimator_has("transform"),
    )

    def _apply(self, method, X):
        self._check_fitted()
        if is_spark_dataframe(X):
            return predict_spark(self, method, X)
        return predict_local(self, method, _check_pandas(X, self.group_cols_))

    # --------------------------------------------------------- persistence
    def log_to_mlflow(
        self, artifact_path=None, *, input_example=None, serializer="pickle", trusted=None
    ):
        """Log the grouped model to the active MLflow run as ONE deployable pyfunc model.

        The model routes each row to its group's model (and to the fallback model, as
        :meth:`predict` does) and carries a signature: the group and feature columns in,
        the prediction out. It loads with ``mlflow.pyfunc.load_model(uri).predict(df)``,
        ``mlflow.pyfunc.spark_udf(spark, uri)`` and
        :meth:`SparkBatchPredictor.from_mlflow(uri) <SparkBatchPredictor.from_mlflow>`, and
        serves with ``mlflow models serve -m URI --env-manager local``. Its artifact is a
        :meth:`save` directory in ``serializer``'s format:
        ``mlflow.pyfunc.load_model(uri).unwrap_python_model().model`` is the
        GroupedEstimator itself, as is :meth:`load` of the model's
        ``artifacts/saved_model`` directory. MLflow's own wrapper (``python_model.pkl``) is
        a pickle in any case, as for every MLflow pyfunc model.

        Parameters
        ----------
        artifact_path : str, optional
            Name of the model in the run. Default: ``"grouped_estimator"``.
        input_example : pandas.DataFrame, optional
            A few rows of input; the signature is inferred from them. Default: the group
            columns with their fitted types and every feature column as double.
        serializer : {"pickle", "skops"}, default="pickle"
            As for :meth:`save`: with ``"skops"`` the served model loads no pickle of ours.
        trusted : list of str, optional
            For ``serializer="skops"``: the types the served model trusts beyond skops'
            defaults (e.g. ``["sklearn.tree._tree.Tree"]``).

        Returns
        -------
        str
            The model URI (``models:/...``), for ``mlflow.pyfunc.load_model``.
        """
        from .._mlflow import log_pyfunc, signature_of

        self._check_fitted()
        if input_example is not None:
            signature = signature_of(input_example, self.predict(input_example))
        else:
            columns = {c: self._table.key_types[c] for c in self.group_cols_}
            types = self._feature_types
            columns.update({c: types.get(c, "double") for c in self.feature_names_in_})
            signature = signature_of(columns, self._output_example())
        return log_pyfunc(
            self,
            artifact_path or self._artifact_path,
            signature,
            input_example=input_example,
            serializer=serializer,
            trusted=trusted,
        )

    def _output_example(self):
        """A one-row prediction of the kind ``predict`` returns (for the signature)."""
        classes = getattr(self, "classes_", None)
        if classes is not None and is_classifier(self.estimator):
            return np.asarray(classes[:1])
        return np.zeros(1)

    def _save(self, directory, path, serializer):
        """The table writes its files; ``metadata.json`` holds what else a load needs: the
        table's own metadata, the feature columns and this estimator's parameters."""
        metadata = self._table.write(directory, serializer)
        params = {**self.get_params(deep=False), "spark": None}
        metadata.update(
            feature_cols=self._feature_setting(),  # a string: one 1-D column
            feature_types=self._feature_types,
            params=dump_model(params, serializer).hex(),
        )
        directory.write_json(METADATA_FILE, metadata)

    @classmethod
    def _load(cls, files, path, spark, trusted, allow_pickle):
        metadata = json.loads(files[METADATA_FILE])
        params = bytes.fromhex(metadata["params"])
        if not allow_pickle:  # every object of the save checked before any is loaded
            blobs = {f"parameters ({METADATA_FILE})": params}
            refuse_pickles({**blobs, **ModelTable.saved_blobs(files, metadata)})
        params = load_model(params, what="saved parameters", trusted=trusted)
        model = cls(**{**params, "spark": spark})
        model._set_fitted(ModelTable.read(files, metadata, trusted), metadata["feature_cols"])
        model._feature_types = metadata.get("feature_types", {})  # saves before 0.3: none
        return model

    def __sklearn_tags__(self):
        return delegated_tags(super().__sklearn_tags__(), self.estimator, input_tags=False)


def _check_pandas(X, group_cols):
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            "GroupedEstimator needs the group columns by name: pass a pandas DataFrame "
            f"(or a Spark DataFrame) that contains {group_cols}; got {type(X).__name__}."
        )
    missing = [c for c in group_cols if c not in X.columns]
    if missing:
        raise ColumnError(
            f"group_cols {missing} are not columns of X. Columns: {list(X.columns)}."
        )
    return X


def _with_label(frame, y):
    """``(frame with the label column, its name)``; ``(frame, None)`` without labels."""
    if y is None:
        return frame, None
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(frame):
        raise ValueError(
            f"y must be 1-D with one label per row of X ({len(frame)}); got shape {y.shape}."
        )
    return frame.assign(**{LABEL: y}), LABEL
