"""``python -m spark_sklearn_bridge demo [options]``: see :mod:`spark_sklearn_bridge.demo`."""

import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "demo":
        print("usage: python -m spark_sklearn_bridge demo [--help]", file=sys.stderr)
        return 2
    from .demo import main as demo

    return demo(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
