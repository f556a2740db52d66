"""Every reserved column name: the package's helper columns, never a user's.

All of them start with :data:`RESERVED_PREFIX`; user columns with that prefix are refused
(:func:`~._inputs.check_column_names`), so a helper column can never overwrite one of yours.
"""

__all__ = [
    "ALL_ROWS",
    "FEATURES",
    "GROUP_HASH",
    "HELPER_COLUMN",
    "INPUT_PREFIX",
    "INTERCEPT",
    "KNOWN",
    "LABEL",
    "MODEL",
    "MODEL_BYTES",
    "PLACE",
    "RESERVED_PREFIX",
    "ROWS",
    "ROW_ID",
    "SPARSE_FEATURES",
    "WEIGHT",
]

RESERVED_PREFIX = "__ssb_"
#: Each input row's position: rows come back in input order, groups keep their row order.
ROW_ID = "__ssb_row_id__"
#: The label column a pandas ``y`` becomes (GroupedEstimator), or pyspark.ml's label.
LABEL = "__ssb_label__"
#: GroupedEstimator: a model table row's bytes, travelling with the rows of its group.
MODEL = "__ssb_model__"
#: GroupedEstimator: each model's size, in the driver's part of a distributed table.
MODEL_BYTES = "__ssb_model_bytes__"
#: GroupedEstimator: pandas sparse feature columns, travelling to Spark as one vector column.
SPARSE_FEATURES = "__ssb_sparse_features__"
#: GroupedEstimator(placement="size"): a group's 64-bit key hash; the value its planned
#: partition is hashed on.
GROUP_HASH = "__ssb_group_hash__"
PLACE = "__ssb_place__"
#: GroupedEstimator: the one "group" of all rows the fallback model is fitted on.
ALL_ROWS = "__ssb_all_rows__"
#: GroupedEstimator's linear path: the row's group was fitted; its intercept; weight i.
KNOWN = "__ssb_known__"
INTERCEPT = "__ssb_intercept__"
WEIGHT = "__ssb_w{}__"
#: ``map_in_pandas``: column i under a name pyspark's mapInPandas can resolve.
HELPER_COLUMN = "__ssb_col_{}"
#: SparkMLEstimator: the assembled feature vector, a column's input copy, the row count.
FEATURES = "__ssb_features__"
INPUT_PREFIX = "__ssb_input_"
ROWS = "__ssb_rows__"
