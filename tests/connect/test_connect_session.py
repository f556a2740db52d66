"""Run with SSB_ENGINE=connect (``make test`` does: a Connect server started by the harness) or
SPARK_REMOTE set by hand: the session is Spark Connect."""

import pytest

from spark_sklearn_bridge import get_spark, is_spark_connect
from spark_sklearn_bridge._session import require_spark_context
from spark_sklearn_bridge.exceptions import SparkConnectUnsupportedError


def test_session_is_spark_connect(spark):
    assert is_spark_connect(spark)
    assert get_spark() is spark
    assert get_spark().range(3).count() == 3


def test_features_needing_a_spark_context_say_so(spark):
    with pytest.raises(SparkConnectUnsupportedError, match="needs a classic SparkContext"):
        require_spark_context(spark, "backend='spark_trials'", "Use the default backend.")


def test_connect_measures_the_cores_instead_of_using_shuffle_partitions(spark):
    from spark_sklearn_bridge._frames import default_partitions
    from spark_sklearn_bridge._jobs import cluster_cores

    # The harness's server runs local[2] with Spark's default of 200 shuffle partitions.
    assert int(spark.conf.get("spark.sql.shuffle.partitions")) == 200
    assert cluster_cores(spark) == 2
    assert default_partitions(spark) == 4
