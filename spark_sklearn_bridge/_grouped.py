"""GroupedEstimator: one scikit-learn model per group of rows, fitted and served on Spark.

How the work is packed: rows are hash-partitioned on the group keys into a few partitions per
core, then ONE ``mapInPandas`` call per partition groups its rows with pandas and fits each
group. Spark's per-task overhead is paid per partition, not per group (``applyInPandas`` pays
it per group, which dominates small models).
"""

from __future__ import annotations

import io
import json
import os
import time
import traceback
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils.metaestimators import available_if

from ._inputs import (
    ROW_ID,
    as_column_list,
    is_spark_dataframe,
    pandas_column_kinds,
    resolve_columns,
    spark_column_kinds,
)
from ._meta import check_fitted, delegated_tags, python_scalar
from ._progress import progress_enabled
from ._schemas import is_clusterer, output_type
from ._serialization import dump_model, load_model
from ._session import get_spark, is_spark_connect
from ._spark_jobs import (
    default_partitions,
    key_runs,
    same_key,
    spark_frame_with_row_id,
    task_progress,
)
from ._threads import limit_task_threads
from .exceptions import (
    ColumnError,
    GroupFitError,
    ModelIntegrityError,
    UnseenGroupError,
)

__all__ = ["GroupedEstimator"]

LABEL = "__ssb_label__"
MODEL = "__ssb_model__"
STATUS_OK, STATUS_FAILED, STATUS_TOO_FEW = "ok", "failed", "too_few_rows"
_TABLE_FIELDS = ["model", "n_rows", "fit_seconds", "status", "error", "classes"]
_SAVE_FORMAT = 1
# Model tables up to this size travel with the prediction tasks (no shuffle, no sort); larger
# ones stay distributed and are joined to the rows by a repartition on the group keys.
SHIP_MODELS_BELOW_BYTES = 64 * 2**20
PREDICT_CHUNK_ROWS = 50_000  # rows gathered before each group's model is called on its share


def _has_method(name):
    def check(self):
        return hasattr(self.estimator, name)

    return check


class GroupedEstimator(MetaEstimatorMixin, BaseEstimator):
    """Fit one clone of ``estimator`` per group of rows, on Spark.

    Parameters
    ----------
    estimator : estimator or Pipeline
        The model every group gets a clone of (regressor, classifier, transformer, clusterer).
    group_cols : str or list of str
        Column(s) whose distinct values define the groups. Null keys form a group of their own.
    feature_cols : list of str, optional
        Feature columns. Default: every numeric column that is not a group or label column.
        Each group's model is fitted on a pandas DataFrame of these columns, so it records
        ``feature_names_in_`` and expects the same columns at predict time. Named explicitly,
        non-numeric columns (strings, dates) are accepted too, for a base Pipeline that encodes
        them.
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
    unseen_groups : {"raise", "null"}, default="raise"
        Rows whose group has no fitted model (never seen, failed, or too small) at predict
        time. ``"raise"``: :class:`UnseenGroupError` naming the groups. ``"null"``: their
        prediction is null (NaN for numpy output) and a :class:`UserWarning` counts them.
        Both are checked before the prediction job on pandas and batch Spark input; on a
        streaming DataFrame the check happens row by row inside the job.
    n_partitions : int, optional
        Partitions the groups are packed into. Default: 2 per core (classic Spark) or
        ``spark.sql.shuffle.partitions`` (Spark Connect).
    progress : bool, optional
        Show a progress bar of fitted groups while ``fit`` runs (its total is known for pandas
        input). Default: on a terminal and not in CI. Tasks report their count to the driver
        over UDP as they go; on Spark Connect there is no bar.
    spark : SparkSession, optional
        Default: :func:`get_spark`.

    Attributes
    ----------
    model_table_ : pyspark.sql.DataFrame
        One row per group: the group columns, ``model`` (serialized, integrity-checked bytes;
        null unless ``status == "ok"``), ``n_rows``, ``fit_seconds``, ``status`` (``"ok"``,
        ``"failed"`` or ``"too_few_rows"``), ``error`` (traceback or reason) and ``classes``
        (the group model's ``classes_`` as JSON, for classifiers).
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

    Notes
    -----
    Per-row fit parameters (e.g. ``sample_weight`` arrays) cannot be split by group and are
    rejected; scalar fit parameters are passed to every group's ``fit``.

    Predicting on Spark: a model table of up to 64 MiB travels with the tasks (a broadcast on
    classic Spark); the rows are hash-partitioned and sorted by group so each model is called
    once per group and task. A larger table stays distributed and meets its groups' rows in the
    same shuffle. Streaming input always takes the first path, without the sort.

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
        n_partitions=None,
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
        self.n_partitions = n_partitions
        self.progress = progress
        self.spark = spark

    # ------------------------------------------------------------------ fit
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
        self
        """
        self._validate_params_()
        for name, value in fit_params.items():
            if np.ndim(value) > 0:
                raise ValueError(
                    f"fit parameter {name!r} is array-like; per-row fit parameters cannot be "
                    "split by group. Add it as a column and use a Pipeline step instead."
                )
        spark = get_spark(self.spark)
        group_cols = as_column_list(self.group_cols, "group_cols", allow_none=False)
        if is_spark_dataframe(X):
            if y is not None:
                raise ValueError("y must be None for Spark DataFrame input; use label_col.")
            data, label = X, self.label_col
            kinds = spark_column_kinds(X.schema)
            features = resolve_columns(
                kinds,
                feature_cols=self.feature_cols,
                label_col=label,
                group_cols=group_cols,
                exclude=[self.prediction_col],
                allow_other=True,
            )
            from pyspark.sql import functions as F

            data = data.withColumn(ROW_ID, F.monotonically_increasing_id())
            n_groups = None  # unknown until the job has run
        else:
            frame = self._check_pandas(X, group_cols)
            features = resolve_columns(
                pandas_column_kinds(frame),
                feature_cols=self.feature_cols,
                group_cols=group_cols,
                allow_other=True,
            )
            columns = group_cols + features
            if y is not None:
                y = np.asarray(y)
                if y.ndim != 1 or len(y) != len(frame):
                    raise ValueError(
                        f"y must be 1-D with one label per row of X ({len(frame)}); got shape "
                        f"{y.shape}."
                    )
                frame = frame[columns].assign(**{LABEL: y})
                label = LABEL
            else:
                frame, label = frame[columns], None
            data = spark_frame_with_row_id(spark, frame)
            n_groups = (  # the progress bar's total
                frame.groupby(group_cols, dropna=False, sort=False).ngroups
                if progress_enabled(self.progress)
                else None
            )

        self.group_cols_ = group_cols
        self._key_types = {c: data.schema[c].dataType.simpleString() for c in group_cols}
        self.feature_names_in_ = np.asarray(features, dtype=object)
        self.n_features_in_ = len(features)
        table = self._fit_table(spark, data, group_cols, features, label, fit_params, n_groups)
        self._set_table(table)
        if self.on_error == "raise":
            failed = table[table["status"] == STATUS_FAILED]
            if len(failed):
                first = failed.iloc[0]
                key = {c: python_scalar(first[c]) for c in group_cols}
                raise GroupFitError(
                    f"Fitting the model of group {key} failed (on_error='raise': each task "
                    "stopped at its first failed group; on_error='skip' records failures and "
                    f"fits every other group). Executor traceback:\n{first['error']}",
                    group=key,
                    remote_traceback=first["error"],
                )
        return self

    def _validate_params_(self):
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip'; got {self.on_error!r}.")
        if self.unseen_groups not in ("raise", "null"):
            raise ValueError(
                f"unseen_groups must be 'raise' or 'null'; got {self.unseen_groups!r}."
            )
        if not isinstance(self.min_rows, (int, np.integer)) or self.min_rows < 1:
            raise ValueError(f"min_rows must be an int >= 1; got {self.min_rows!r}.")
        if self.n_partitions is not None and (
            not isinstance(self.n_partitions, (int, np.integer)) or self.n_partitions < 1
        ):
            raise ValueError(
                f"n_partitions must be None or an int >= 1; got {self.n_partitions!r}."
            )

    @staticmethod
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

    def _fit_table(self, spark, data, group_cols, features, label, fit_params, n_groups):
        from pyspark.sql import types as T

        schema = T.StructType(
            [data.schema[c] for c in group_cols]
            + [
                T.StructField("model", T.BinaryType()),
                T.StructField("n_rows", T.LongType()),
                T.StructField("fit_seconds", T.DoubleType()),
                T.StructField("status", T.StringType()),
                T.StructField("error", T.StringType()),
                T.StructField("classes", T.StringType()),
            ]
        )
        n_partitions = self.n_partitions or default_partitions(spark)
        columns = group_cols + features + ([label] if label else []) + [ROW_ID]
        packed = data.select(*columns).repartition(n_partitions, *group_cols)
        with task_progress(spark, n_groups, "fitting", "group", self.progress) as bar:
            fit_partition = partial(
                _fit_partition,
                estimator_blob=dump_model(self.estimator),
                group_cols=group_cols,
                feature_cols=features,
                label_col=label,
                min_rows=int(self.min_rows),
                fit_params=fit_params,
                stop_on_failure=self.on_error == "raise",
                progress=bar.reporter,
            )
            table = packed.mapInPandas(fit_partition, schema).toPandas()
            bar.wait_for(len(table))
        return table

    def _set_table(self, table: pd.DataFrame):
        table = table.reset_index(drop=True)
        self._table = table
        self._models = {}
        self._spark_table = self._shipped = None
        self.n_groups_ = len(table)
        self.n_failed_groups_ = int((table["status"] != STATUS_OK).sum())
        classes = [json.loads(c) for c in table["classes"].dropna()]
        if classes:
            self.classes_ = np.unique(np.concatenate([np.asarray(c) for c in classes]))
        elif hasattr(self, "classes_"):
            del self.classes_
        self._index = {
            _key(row): i for i, row in enumerate(table[self.group_cols_].itertuples(index=False))
        }

    # ----------------------------------------------------------- accessors
    @property
    def model_table_(self):
        """The per-group model table as a Spark DataFrame (see the class docstring)."""
        self._check_fitted()
        if self._spark_table is None:
            self._spark_table = get_spark(self.spark).createDataFrame(self._table)
        return self._spark_table

    def get_group_model(self, key):
        """Return the fitted scikit-learn estimator of one group.

        Parameters
        ----------
        key : scalar, tuple or dict
            The group's key: a value for one group column, a tuple in ``group_cols`` order, or
            a dict column -> value.

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
        position = self._index.get(_key(key))
        if position is None:
            raise UnseenGroupError(f"No group {dict(zip(self.group_cols_, key))} was fitted.")
        return self._model_at(position)

    def _model_at(self, position):
        if position not in self._models:
            row = self._table.iloc[position]
            key = {c: python_scalar(row[c]) for c in self.group_cols_}
            if row["status"] != STATUS_OK:
                raise GroupFitError(
                    f"Group {key} has no model (status {row['status']!r}): {row['error']}",
                    group=key,
                    remote_traceback=row["error"] or "",
                )
            self._models[position] = load_model(row["model"], what=f"model of group {key}")
        return self._models[position]

    def _check_fitted(self):
        check_fitted(self, "_table")

    # ------------------------------------------------------------ predict
    def predict(self, X):
        """Predict with each row's group model.

        Returns
        -------
        ndarray or pyspark.sql.DataFrame
            pandas input: a numpy array in input row order. Spark input: ``X`` plus
            ``prediction_col`` (lazy).
        """
        return self._apply("predict", X)

    @available_if(_has_method("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities, columns in :attr:`classes_` order (array<double> on Spark)."""
        return self._apply("predict_proba", X)

    @available_if(_has_method("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities, columns in :attr:`classes_` order (-inf for unseen classes)."""
        return self._apply("predict_log_proba", X)

    @available_if(_has_method("decision_function"))
    def decision_function(self, X):
        """Decision function of each row's group model (array<double> on Spark if 2-D)."""
        return self._apply("decision_function", X)

    @available_if(_has_method("transform"))
    def transform(self, X):
        """Transform each row with its group model (array<double> column on Spark)."""
        return self._apply("transform", X)

    @available_if(_has_method("score"))
    def score(self, X, y, sample_weight=None):
        """Score as the base estimator would (R^2 for regressors, accuracy for classifiers)."""
        from sklearn.base import is_classifier
        from sklearn.metrics import accuracy_score, r2_score

        if is_spark_dataframe(X):
            raise TypeError("score takes pandas/numpy input; score Spark output with pyspark.")
        predictions = self.predict(X)
        metric = accuracy_score if is_classifier(self.estimator) else r2_score
        return metric(y, predictions, sample_weight=sample_weight)

    def _apply(self, method, X):
        self._check_fitted()
        if is_spark_dataframe(X):
            return self._apply_spark(method, X)
        frame = self._check_pandas(X, self.group_cols_)
        self._check_features(pandas_column_kinds(frame))
        frame = frame.reset_index(drop=True)
        groups = frame.groupby(self.group_cols_, dropna=False, sort=False).indices
        usable, unseen, n_unseen = [], set(), 0
        for key, rows in groups.items():
            key = _key(key if isinstance(key, tuple) else (key,))
            position = self._position(key)
            if position < 0:
                unseen.add(key)
                n_unseen += len(rows)
            else:
                usable.append((position, rows))
        self._handle_unseen(unseen, n_unseen)
        classes, features = self._classes_or_none(), self._features()
        as_numpy = _fits_numpy_like_pandas(self.estimator, features) and _all_numeric(
            frame, features
        )
        pieces = [
            _group_output(self._model_at(p), frame.iloc[rows], method, features, classes, as_numpy)
            for p, rows in usable
        ]
        return _assemble(pieces, [rows for _, rows in usable], len(frame))

    def _position(self, key):
        """Row of the model table for ``key`` if that group has a usable model, else -1."""
        position = self._index.get(key)
        if position is None or self._table["status"].iat[position] != STATUS_OK:
            return -1
        return position

    def _features(self):
        return list(self.feature_names_in_)

    def _classes_or_none(self):
        return getattr(self, "classes_", None)

    def _check_features(self, kinds):
        missing = [c for c in self._features() if c not in kinds]
        if missing:
            raise ColumnError(
                f"The data lacks feature columns the group models were fitted on: {missing}."
            )

    def _handle_unseen(self, unseen_keys, n_rows):
        if not unseen_keys:
            return
        examples = [
            dict(zip(self.group_cols_, map(python_scalar, k))) for k in list(unseen_keys)[:5]
        ]
        message = (
            f"{n_rows} rows in {len(unseen_keys)} groups have no fitted model (unseen, "
            f"failed or below min_rows), e.g. {examples}."
        )
        if self.unseen_groups == "raise":
            raise UnseenGroupError(message + " Set unseen_groups='null' to predict null.")
        warnings.warn(message + " Their predictions are null.", UserWarning, stacklevel=3)

    def _output_is_array(self, method):
        from pyspark.sql.types import ArrayType

        return isinstance(output_type(method, classes=self._classes_or_none()), ArrayType)

    def _apply_spark(self, method, X):
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        self._check_features(spark_column_kinds(X.schema))
        group_cols = self.group_cols_
        missing = [c for c in group_cols if c not in X.columns]
        if missing:
            raise ColumnError(f"group_cols {missing} are not columns of the DataFrame.")
        if self.prediction_col in X.columns:
            raise ColumnError(
                f"The DataFrame already has a column {self.prediction_col!r}; choose another "
                "prediction_col."
            )
        self._check_key_types(X)
        spark = get_spark(self.spark)
        usable = self._table[self._table["status"] == STATUS_OK]
        if not X.isStreaming:
            self._check_unseen_spark(spark, X, usable)
        out_type = output_type(
            method, classes=self._classes_or_none(), clusterer=is_clusterer(self.estimator)
        )
        schema = T.StructType([*X.schema.fields, T.StructField(self.prediction_col, out_type)])
        spec = _PredictSpec(
            method=method,
            group_cols=group_cols,
            feature_cols=self._features(),
            classes=self._classes_or_none(),
            output_col=self.prediction_col,
            output_is_array=self._output_is_array(method),
            columns=list(X.columns),
            raise_unseen=self.unseen_groups == "raise",
            numpy_ok=_fits_numpy_like_pandas(self.estimator, self._features()),
        )
        n_partitions = self.n_partitions or default_partitions(spark)
        if X.isStreaming or usable["model"].map(len).sum() <= SHIP_MODELS_BELOW_BYTES:
            models = self._shipped_models(spark)
            if not X.isStreaming:
                X = X.repartition(n_partitions, *group_cols).sortWithinPartitions(*group_cols)
            ship = partial(
                _predict_shipped, spec=spec, models=models, chunk_rows=PREDICT_CHUNK_ROWS
            )
            return X.mapInPandas(ship, schema)
        # A large model table stays distributed: each model row meets its group's rows, first.
        models = spark.createDataFrame(usable[group_cols + ["model"]])
        models = models.withColumnRenamed("model", MODEL)  # numeric keys widen in the union
        combined = X.withColumn(MODEL, F.lit(None).cast("binary")).unionByName(
            models, allowMissingColumns=True
        )
        packed = combined.repartition(n_partitions, *group_cols).sortWithinPartitions(
            *group_cols, F.col(MODEL).isNull()
        )
        return packed.mapInPandas(partial(_predict_partition, spec=spec), schema)

    def _check_key_types(self, X):
        """Group keys match by value, so their types must be comparable with those seen at fit
        (any numeric type with any other; else the same type): a string "1" is not group 1."""
        trained = getattr(self, "_key_types", None) or {}
        for column, was in trained.items():
            now = X.schema[column].dataType.simpleString()
            if now != was and not (_is_numeric_type(now) and _is_numeric_type(was)):
                raise ColumnError(
                    f"Group column {column!r} is {now} here but was {was} when the models were "
                    f"fitted; cast it (e.g. F.col({column!r}).cast({was!r})) so keys can match."
                )

    def _check_unseen_spark(self, spark, X, usable):
        """One small job before predicting: which groups of ``X`` have no usable model."""
        from pyspark.sql import functions as F

        group_cols = self.group_cols_
        counts = X.select(*group_cols).groupBy(*group_cols).count()
        if len(usable):
            keys = spark.createDataFrame(usable[group_cols])
            counts = counts.alias("data").join(
                F.broadcast(keys.alias("models")),
                on=_null_safe_condition(group_cols, "data", "models"),
                how="left_anti",
            )
        unseen = counts.collect()
        self._handle_unseen(
            {tuple(r[c] for c in group_cols) for r in unseen}, sum(r["count"] for r in unseen)
        )

    def _shipped_models(self, spark):
        """``{group key: model bytes}`` of the usable models, made once per fitted estimator:
        a broadcast on classic Spark, a plain dict (inside the UDF) on Spark Connect."""
        if self._shipped is None:
            status, blobs = self._table["status"], self._table["model"]
            models = {
                k: blobs.iat[i] for k, i in self._index.items() if status.iat[i] == STATUS_OK
            }
            self._shipped = (
                models if is_spark_connect(spark) else spark.sparkContext.broadcast(models)
            )
        return self._shipped

    # --------------------------------------------------------- persistence
    def save(self, path):
        """Save the fitted estimator to directory ``path`` (created; must not exist).

        Writes ``models.parquet`` (the model table) and ``metadata.json`` (parameters,
        resolved columns and the sha256 of the Parquet file, checked by :meth:`load`).

        Parameters
        ----------
        path : str or path-like
            A local path, or a URI of any filesystem pyarrow supports (``file://``,
            ``s3://``, ``gs://``, ``hdfs://``, ``abfs://``; credentials as pyarrow reads them).
        """
        import hashlib

        self._check_fitted()
        filesystem, root = _filesystem(path)
        if filesystem.get_file_info(root).type.name != "NotFound":
            raise FileExistsError(f"{path} exists; GroupedEstimator.save never overwrites.")
        filesystem.create_dir(root, recursive=True)
        buffer = io.BytesIO()
        self._table.to_parquet(buffer, index=False)
        params = self.get_params(deep=False)
        params["spark"] = None
        metadata = {
            "format": _SAVE_FORMAT,
            "models_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
            "group_cols": self.group_cols_,
            "key_types": self._key_types,
            "feature_cols": self._features(),
            "params": dump_model(params).hex(),
        }
        for name, content in [
            ("models.parquet", buffer.getvalue()),
            ("metadata.json", json.dumps(metadata, indent=1).encode()),
        ]:
            with filesystem.open_output_stream(f"{root}/{name}") as stream:
                stream.write(content)
        return path

    @classmethod
    def load(cls, path, *, spark=None):
        """Load an estimator written by :meth:`save`, checking the files' integrity.

        Parameters
        ----------
        path : str or path-like
            What was given to :meth:`save`.
        spark : SparkSession, optional
            Session for the loaded estimator.

        Raises
        ------
        ModelIntegrityError
            The model table does not match the digest recorded at save time.
        """
        import hashlib

        filesystem, root = _filesystem(path)

        def read(name):
            with filesystem.open_input_stream(f"{root}/{name}") as stream:
                return stream.readall()

        metadata = json.loads(read("metadata.json"))
        if metadata.get("format") != _SAVE_FORMAT:
            raise ModelIntegrityError(f"{path} is not a GroupedEstimator save (format 1).")
        raw = read("models.parquet")
        if hashlib.sha256(raw).hexdigest() != metadata["models_sha256"]:
            raise ModelIntegrityError(
                f"{root}/models.parquet does not match the sha256 recorded in "
                "metadata.json: it was modified or truncated after saving."
            )
        params = load_model(bytes.fromhex(metadata["params"]), what="saved parameters")
        params["spark"] = spark
        model = cls(**params)
        model.group_cols_ = metadata["group_cols"]
        model._key_types = metadata.get("key_types", {})
        model.feature_names_in_ = np.asarray(metadata["feature_cols"], dtype=object)
        model.n_features_in_ = len(metadata["feature_cols"])
        model._set_table(pd.read_parquet(io.BytesIO(raw)))
        return model

    def log_to_mlflow(self, artifact_path="grouped_estimator"):
        """Log the saved estimator (model table + metadata) as artifacts of the active MLflow run.

        Returns
        -------
        str
            The artifact URI, loadable with ``GroupedEstimator.load(mlflow.artifacts.
            download_artifacts(uri))``.
        """
        from ._mlflow import log_directory

        return log_directory(self.save, artifact_path)

    # ------------------------------------------------------- pickling / misc
    def __getstate__(self):
        state = self.__dict__.copy()
        # Spark DataFrames and broadcasts do not pickle; both are rebuilt lazily.
        state.pop("_spark_table", None)
        state.pop("_shipped", None)
        state["_models"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "_table" in state:
            self._spark_table = self._shipped = None

    def __sklearn_tags__(self):
        return delegated_tags(super().__sklearn_tags__(), self.estimator, input_tags=False)


# ---------------------------------------------------------------- executors
def _fit_partition(
    batches,
    *,
    estimator_blob,
    group_cols,
    feature_cols,
    label_col,
    min_rows,
    fit_params,
    stop_on_failure,
    progress,
):
    """mapInPandas body: fit every group of one hash partition.

    The partition is grouped here rather than sorted by Spark: a pandas sort of one partition
    is much cheaper than Spark's external sort, and sorting by the row id first keeps each
    group's rows in input order, so every fit sees exactly the rows a by-hand fit would.
    With ``stop_on_failure`` (``on_error="raise"``) the partition stops at its first failed
    group: the fit is going to raise, so the remaining groups would be wasted work.
    """
    frames = [b for b in batches if len(b)]
    if not frames:
        return
    partition = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    partition = partition.sort_values(ROW_ID, kind="stable", ignore_index=True)
    estimator = load_model(estimator_blob, what="base estimator")
    numpy_ok = _fits_numpy_like_pandas(estimator, feature_cols)
    features = _FeatureSource(partition, feature_cols, numpy_ok)
    labels = partition[label_col].to_numpy() if label_col is not None else None
    rows = []
    with limit_task_threads():
        groups = partition.groupby(group_cols, sort=False, dropna=False).indices
        for key, positions in groups.items():
            key = tuple(
                None if _isnull(k) else k for k in (key if isinstance(key, tuple) else (key,))
            )
            y = labels[positions] if labels is not None else None
            record = _fit_one(estimator, key, features, positions, y, min_rows, fit_params)
            rows.append(record)
            if progress is not None:
                progress.add(1)
            if stop_on_failure and record["status"] == STATUS_FAILED:
                break
            if len(rows) >= 256:
                yield _table_frame(rows, group_cols)
                rows = []
    if progress is not None:
        progress.flush()
    if rows:
        yield _table_frame(rows, group_cols)


def _fits_numpy_like_pandas(estimator, feature_cols) -> bool:
    """True when fitting on a numpy matrix and then recording the column names gives the
    model a DataFrame fit would: a scikit-learn estimator that is not a composite (Pipelines
    and ColumnTransformers may select columns by name, so they get DataFrames) and has no
    parameter naming a feature column (e.g. ``categorical_features=["store_type"]``)."""
    module = type(estimator).__module__
    composite = hasattr(estimator, "steps") or hasattr(estimator, "transformers")
    if not module.startswith("sklearn.") or composite:
        return False
    names = set(feature_cols)
    for value in estimator.get_params(deep=True).values():
        values = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
        if any(isinstance(v, str) and v in names for v in values):
            return False
    return True


class _FeatureSource:
    """Feature rows of one partition, as numpy (fast path) or as a pandas DataFrame."""

    def __init__(self, partition, feature_cols, use_numpy):
        self.feature_cols = feature_cols
        self.names = np.asarray(feature_cols, dtype=object)
        # Only all-numeric columns convert to one matrix without changing what the model sees.
        self.use_numpy = use_numpy and _all_numeric(partition, feature_cols)
        features = partition[feature_cols]
        self.data = features.to_numpy() if self.use_numpy else features

    def rows(self, positions):
        return self.data[positions] if self.use_numpy else self.data.take(positions)


def _fit_one(estimator, key, features, positions, y, min_rows, fit_params):
    n_rows = len(positions)
    record = {
        "key": key,
        "model": None,
        "n_rows": n_rows,
        "fit_seconds": 0.0,
        "status": STATUS_OK,
        "error": None,
        "classes": None,
    }
    if n_rows < min_rows:
        record.update(status=STATUS_TOO_FEW, error=f"{n_rows} rows < min_rows={min_rows}")
        return record
    start = time.perf_counter()
    try:
        model = clone(estimator)
        X = features.rows(positions)
        if y is None:
            model.fit(X, **fit_params)
        else:
            model.fit(X, y, **fit_params)
        if features.use_numpy:
            # As if fitted on the DataFrame: predict then checks the columns by name.
            model.feature_names_in_ = features.names
        record["model"] = dump_model(model)
        classes = getattr(model, "classes_", None)
        if classes is not None:
            record["classes"] = json.dumps(np.asarray(classes).tolist())
    except Exception:  # recorded with its traceback, never lost
        record.update(status=STATUS_FAILED, error=traceback.format_exc())
    record["fit_seconds"] = time.perf_counter() - start
    return record


def _table_frame(rows, group_cols):
    keys = pd.DataFrame([r["key"] for r in rows], columns=group_cols)
    body = pd.DataFrame({f: [r[f] for r in rows] for f in _TABLE_FIELDS})
    return pd.concat([keys, body], axis=1)


@dataclass(frozen=True)
class _PredictSpec:
    """What a prediction task needs besides its rows and the models."""

    method: str
    group_cols: list
    feature_cols: list
    classes: np.ndarray | None
    output_col: str
    output_is_array: bool
    columns: list  # of the input, kept in the output
    raise_unseen: bool
    numpy_ok: bool

    def group(self, key) -> dict:
        return dict(zip(self.group_cols, map(python_scalar, key)))

    def unseen(self, key) -> None:
        """A group without a model: raise under ``unseen_groups="raise"``."""
        if self.raise_unseen:
            raise UnseenGroupError(
                f"Rows of group {self.group(key)} have no fitted model (unseen_groups='raise')."
            )

    def output(self, model, rows, as_numpy):
        return _group_output(model, rows, self.method, self.feature_cols, self.classes, as_numpy)


def _predict_partition(batches, *, spec):
    """mapInPandas body: rows arrive sorted by group key, each group's model row first.

    One output frame per input batch. A group may span batches: its model is carried over, and
    loaded (once per task) only when the group has rows to predict.
    """
    key, blob, model = None, None, None
    with limit_task_threads():
        for batch in batches:
            batch = batch.reset_index(drop=True)
            is_model = batch[MODEL].notna().to_numpy()
            as_numpy = spec.numpy_ok and _all_numeric(batch, spec.feature_cols)
            pieces = []
            for run_key, start, end in key_runs(batch, spec.group_cols):
                if is_model[start]:
                    key, blob, model = run_key, batch[MODEL].iat[start], None
                    start += 1
                elif key is None or not same_key(key, run_key):
                    key, blob, model = run_key, None, None
                if start == end:
                    continue
                if blob is None:
                    spec.unseen(key)
                    pieces.append([None] * (end - start))
                    continue
                if model is None:
                    model = load_model(blob, what=f"model of group {spec.group(key)}")
                values = spec.output(model, batch.iloc[start:end], as_numpy)
                pieces.append(list(values) if spec.output_is_array else values)
            if pieces:
                output = _join_outputs(pieces)
                yield batch.loc[~is_model, spec.columns].assign(**{spec.output_col: output})


def _predict_shipped(batches, *, spec, models, chunk_rows):
    """mapInPandas body when the model table travels with the task.

    Rows arrive key-sorted (batch input) or in any order (streaming); batches are gathered into
    chunks of at least ``chunk_rows`` rows so each group's model is called on as many rows at
    once as possible. Each group's model is loaded at most once per task.
    """
    table = models.value if hasattr(models, "value") else models  # broadcast or dict
    loaded = {}
    with limit_task_threads():
        for batch in _chunks(batches, chunk_rows):
            as_numpy = spec.numpy_ok and _all_numeric(batch, spec.feature_cols)
            pieces, order = [], []
            groups = batch.groupby(spec.group_cols, dropna=False, sort=False).indices
            for key, rows in groups.items():
                key = _key(key if isinstance(key, tuple) else (key,))
                if key not in loaded:
                    blob = table.get(key)
                    if blob is None:
                        spec.unseen(key)
                    what = f"model of group {spec.group(key)}"
                    loaded[key] = None if blob is None else load_model(blob, what=what)
                if loaded[key] is not None:
                    pieces.append(spec.output(loaded[key], batch.iloc[rows], as_numpy))
                    order.append(rows)
            yield batch[spec.columns].assign(
                **{spec.output_col: _place(pieces, order, spec, len(batch))}
            )


def _place(pieces, order, spec, n_rows):
    """Output column of a chunk: each group's values at its rows, null where no model."""
    if not pieces:  # no row of this chunk has a model: all null, whatever the type
        return [None] * n_rows
    if not spec.output_is_array:
        return _assemble(pieces, order, n_rows)
    column = [None] * n_rows  # one array per row: groups may differ in width
    for rows, values in zip(order, pieces):
        for row, value in zip(rows, values):
            column[row] = value
    return column


def _chunks(batches, min_rows):
    """Concatenate consecutive pandas batches into frames of at least ``min_rows`` rows."""
    pending, n_rows = [], 0
    for batch in batches:
        pending.append(batch)
        n_rows += len(batch)
        if n_rows >= min_rows:
            yield pd.concat(pending, ignore_index=True)
            pending, n_rows = [], 0
    if n_rows:
        yield pd.concat(pending, ignore_index=True)


def _all_numeric(frame, columns) -> bool:
    return all(pd.api.types.is_numeric_dtype(frame[c]) for c in columns)


def _join_outputs(pieces):
    """One output column from per-run pieces (arrays, or lists for array<> and null rows)."""
    if all(isinstance(p, np.ndarray) for p in pieces):
        return np.concatenate(pieces)
    return [value for piece in pieces for value in piece]


def _group_output(model, frame, method, feature_cols, classes, as_numpy=False):
    """``model.method`` on the feature columns of ``frame``, probabilities aligned to ``classes``.

    ``as_numpy`` (plain scikit-learn models, numeric features) skips the per-call DataFrame
    validation: the columns are already selected by name in the order the model was fitted on.
    """
    if as_numpy:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "X does not have valid feature names")
            values = getattr(model, method)(frame[feature_cols].to_numpy())
    else:
        values = getattr(model, method)(frame[feature_cols])
    if method in ("predict_proba", "predict_log_proba") and classes is not None:
        fill = -np.inf if method == "predict_log_proba" else 0.0
        aligned = np.full((len(frame), len(classes)), fill)
        aligned[:, np.searchsorted(classes, model.classes_)] = values
        return aligned
    return np.asarray(values)


def _assemble(pieces, order, n_rows):
    """Put per-group outputs back in input row order; rows without a model get NaN / None."""
    if not pieces:
        return np.full(n_rows, np.nan)
    widths = {p.shape[1:] for p in pieces}
    if len(widths) > 1:
        raise ValueError(
            f"The group models' outputs have different widths {sorted(widths)} (e.g. a "
            "transformer that learned different categories per group), so they cannot be "
            "stacked into one array. Predict on a Spark DataFrame (one array per row) instead."
        )
    dtype = np.result_type(*pieces)
    shape = (n_rows, *pieces[0].shape[1:])
    if sum(len(p) for p in pieces) == n_rows:
        out = np.empty(shape, dtype)
    else:  # some rows had no model: NaN for numbers, None otherwise
        dtype = np.dtype(np.float64 if np.issubdtype(dtype, np.number) else object)
        out = np.full(shape, None if dtype.kind == "O" else np.nan, dtype)
    for rows, values in zip(order, pieces):
        out[rows] = values
    return out


def _filesystem(path):
    """``(pyarrow FileSystem, path inside it)`` for a local path or a filesystem URI."""
    from pyarrow import fs

    text = os.fspath(path)
    if "://" in text:
        return fs.FileSystem.from_uri(text)
    return fs.LocalFileSystem(), Path(text).absolute().as_posix()


def _is_numeric_type(simple_string: str) -> bool:
    return simple_string.split("(")[0] in {
        "tinyint",
        "smallint",
        "int",
        "bigint",
        "float",
        "double",
        "decimal",
    }


def _null_safe_condition(cols, left, right):
    """Join condition on ``cols`` where null keys match null keys (null groups are groups)."""
    from functools import reduce

    from pyspark.sql import functions as F

    conditions = [F.col(f"{left}.`{c}`").eqNullSafe(F.col(f"{right}.`{c}`")) for c in cols]
    return reduce(lambda a, b: a & b, conditions)


def _key(values) -> tuple:
    """Hashable key with NaN/None normalised, so null groups can be looked up."""
    return tuple(None if _isnull(v) else python_scalar(v) for v in values)


def _isnull(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
