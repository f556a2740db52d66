"""The smallest real run of spark_sklearn_bridge: an embedded Spark session, end to end."""

from spark_sklearn_bridge import get_spark


def main() -> None:
    spark = get_spark()
    print(f"Spark {spark.version}: counted {spark.range(1000).count()} rows")


if __name__ == "__main__":
    main()
