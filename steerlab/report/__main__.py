"""`python -m steerlab.report <sweep_dir> [--wandb]`: aggregate a multirun folder into steerlab's sweep report."""

import argparse
import sys

from steerlab.errors import SteerlabError
from steerlab.report.sweep import write


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steerlab.report", description=__doc__)
    parser.add_argument("sweep_dir", help="a multirun folder (outputs/multirun/<date>/<time>)")
    parser.add_argument("--wandb", action="store_true", help="also log the table and plots as a W&B run in the sweep's group")
    args = parser.parse_args(argv)
    try:
        report = write(args.sweep_dir, wandb=args.wandb)
    except SteerlabError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2
    print(report.markdown.read_text())
    print(f"wrote {report.markdown}, {report.csv} and {', '.join(str(p) for p in report.plots) or 'no plots'}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
