"""The command line: parse arguments, call the library, map errors to exit codes.

Every command's docstring is its --help text, with an example.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from config.errors import PelvicOutcomesError

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None]]] = {}


def command(name: str, configure: Callable[[argparse.ArgumentParser], None]) -> Callable[[Handler], Handler]:
    """Register a subcommand; its docstring is the help text."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = (handler, configure)
        return handler

    return register


def _run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="deployment config file (TOML)")
    parser.add_argument("--study", type=Path, help="study definition file (default: the bundled study.toml)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--fhir-url", help="pull from this FHIR R4 server base URL")
    where.add_argument("--source", type=Path, help="read FHIR Bundle/NDJSON files or a stored raw snapshot folder")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: ./out)")
    parser.add_argument("--no-email", action="store_true", help="do not send the report by email")


@command("run", _run_args)
def cmd_run(args: argparse.Namespace) -> int:
    """One whole run: extract, map, analyse, write the report.

    With no arguments it runs the bundled demo cohort and writes into ./out/.

    Example:
      pelvic-outcomes run --source out/runs/20261124T101500Z-1a2b3c/raw --out out
    """
    from service.pipeline import RunOptions, run_pipeline

    options = RunOptions(out=args.out, source=args.source, study_file=args.study)
    outcome = run_pipeline(options)
    if not outcome.ok:
        print(f"run {outcome.run_id} failed: {outcome.error}", file=sys.stderr)
        return 1
    print(f"run {outcome.run_id} succeeded: {args.out / 'report.pdf'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pelvic-outcomes",
        description="Extract a FHIR cohort, analyse the study's outcomes and report to the tumour board.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (handler, configure) in COMMANDS.items():
        doc = (handler.__doc__ or "").strip()
        summary = doc.splitlines()[0] if doc else name
        child = sub.add_parser(
            name, help=summary, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        configure(child)
        child.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except PelvicOutcomesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
