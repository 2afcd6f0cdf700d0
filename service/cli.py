"""The command line: parse arguments, call the library, map errors to exit codes.

Every command's docstring is its --help text, with an example.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from config.errors import PelvicOutcomesError

if TYPE_CHECKING:
    from config.deployment import Deployment
    from service.jobs import JobResult
    from service.pipeline import RunOptions

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
    parser.add_argument("--out", type=Path, help="output folder (default: ./out, or paths.out_dir of --config)")
    parser.add_argument("--no-email", action="store_true", help="do not send the report by email")
    _email_args(parser)


@command("run", _run_args)
def cmd_run(args: argparse.Namespace) -> int:
    """One whole run: extract, map, analyse, write the report.

    With no arguments it runs the bundled demo cohort and writes into ./out/.

    With --config it is a service run: it takes the run lock, checks the data-quality gates, emails the
    report to the tumour board (or alerts the admin when the run fails) and records the run in the history.

    Examples:
      pelvic-outcomes run --source out/runs/20261124T101500Z-1a2b3c/raw --out out
      pelvic-outcomes run --fhir-url http://127.0.0.1:8090/fhir --out out
      pelvic-outcomes run --config /etc/pelvic-outcomes/deployment.toml --dry-run
    """
    if args.config:
        return _service_run(args)
    if args.dry_run:
        print("error: --dry-run needs --config (the email settings)", file=sys.stderr)
        return 2
    from service.pipeline import RunOptions

    out = args.out or Path("out")
    options = RunOptions(out=out, source=args.source, study_file=args.study)
    if args.fhir_url:
        from config.fhir import FhirSettings, normalize_base_url
        from service.sources import fhir_extract

        settings = FhirSettings(normalize_base_url(args.fhir_url, "--fhir-url"))
        options.extract = fhir_extract(settings, args.study, out, progress=True)
        options.source_label = settings.base_url
    return _run_plain(options)


def _run_plain(options: RunOptions) -> int:
    """A run without the service around it (no lock, gates, email or history): one line, an exit code."""
    from service.pipeline import run_pipeline

    outcome = run_pipeline(options)
    if not outcome.ok:
        print(f"run {outcome.run_id} {outcome.status}: {outcome.error}", file=sys.stderr)
        return 1
    print(f"run {outcome.run_id} succeeded: {options.out / 'report.pdf'}")
    return 0


# --------------------------------------------------------------------------- the service (issue 8)


def _email_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="write the email as .eml into the run folder")
    parser.add_argument("--resend", action="store_true", help="send even if this report already went out")


def _config_arg(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", type=Path, required=required, help="deployment config file (TOML)")


def _deployment(args: argparse.Namespace) -> Deployment:
    """The deployment file, with --out and --study (where the command has them) taking precedence."""
    import dataclasses

    from config.deployment import load_deployment

    deployment = load_deployment(args.config)
    if getattr(args, "out", None):
        deployment = dataclasses.replace(deployment, paths=dataclasses.replace(deployment.paths, out_dir=args.out))
    if getattr(args, "study", None):
        deployment = dataclasses.replace(deployment, study_file=args.study)
    return deployment


def _print_result(result: JobResult, out: Path) -> int:
    if result.status == "succeeded":
        print(f"run {result.run_id} succeeded: {out / 'report.pdf'}; email: {result.email}")
    else:
        print(f"run {result.run_id} {result.status}: {result.error}; email: {result.email}", file=sys.stderr)
    if result.status == "succeeded" and result.error:
        print(f"warning: {result.error}", file=sys.stderr)
    return result.exit_code


def _service_run(args: argparse.Namespace) -> int:
    from service.jobs import EmailMode, JobRequest, run_service_job

    deployment = _deployment(args)
    mode = EmailMode.OFF if args.no_email else EmailMode.DRY_RUN if args.dry_run else EmailMode.SEND
    request = JobRequest(
        trigger="manual", email=mode, resend=args.resend, source=args.source, fhir_url=args.fhir_url
    )
    return _print_result(run_service_job(deployment, request), deployment.paths.out_dir)


@command("schedule", _config_arg)
def cmd_schedule(args: argparse.Namespace) -> int:
    """Run the service on the cron schedule of the deployment file until SIGTERM or Ctrl-C.

    The job is kept in the job store ([schedule] jobstore_url, default <data_dir>/jobs.sqlite), so a
    restart neither repeats a run nor forgets one missed within misfire_grace_seconds. A manual
    `pelvic-outcomes run --config` never overlaps a scheduled run (a file lock in data_dir).

    Example:
      pelvic-outcomes schedule --config config/deployment.local.example.toml
    """
    from service.scheduler import serve

    serve(_deployment(args))
    return 0


def _history_args(parser: argparse.ArgumentParser) -> None:
    _config_arg(parser)
    parser.add_argument("--limit", type=int, default=20, help="how many runs, newest first (default: 20)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


@command("history", _history_args)
def cmd_history(args: argparse.Namespace) -> int:
    """List recent runs: trigger, start, status, counts, email, error.

    Example:
      pelvic-outcomes history --config /etc/pelvic-outcomes/deployment.toml --limit 5
    """
    import json

    from service.history import History, format_table

    runs = History(_deployment(args).paths.history_db).recent(args.limit)
    print(json.dumps([r.as_dict() for r in runs], indent=2) if args.json else format_table(runs))
    return 0


def _report_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run", metavar="ID", help="the run id whose raw/ snapshot to re-render (default: the published run)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: ./out, or paths.out_dir of --config)")
    parser.add_argument("--study", type=Path, help="study definition file (default: the deployment's or bundled)")
    _config_arg(parser, required=False)


@command("report", _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    """Re-render a past run from its stored raw data (<out>/runs/ID/raw), without pulling again.

    Mapping, analysis and report run again as a new run and are published into the output folder; no
    email is sent. With --config the new run takes the run lock and is recorded in the history.

    Examples:
      pelvic-outcomes report --out out
      pelvic-outcomes report --run 20261124T101500Z-1a2b3c --out out
    """
    from config.errors import ConfigError
    from service.pipeline import published_run_id

    deployment = _deployment(args) if args.config else None
    out = deployment.paths.out_dir if deployment else args.out or Path("out")
    run_id = args.run or published_run_id(out)
    if not run_id:
        raise ConfigError("--run", f"no published run in {out}", "give --run ID, or --out with a run in it")
    raw = out / "runs" / run_id / "raw"
    if not (raw / "manifest.json").exists():
        raise ConfigError("--run", f"no stored raw snapshot in {raw}", "pick a run id from `pelvic-outcomes history`")
    if deployment:
        from service.jobs import EmailMode, JobRequest, run_service_job

        request = JobRequest(trigger="report", email=EmailMode.OFF, source=raw, check_gates=False)
        return _print_result(run_service_job(deployment, request), out)
    from service.pipeline import RunOptions

    return _run_plain(RunOptions(out=out, source=raw, study_file=args.study, trigger="report"))


def _seed_args(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--fhir-url", help="the FHIR R4 server base URL to load into")
    target.add_argument("--config", type=Path, help="deployment config file: load into its [fhir] server")
    parser.add_argument(
        "--source", type=Path, help="Bundle/NDJSON file or folder to load (default: the bundled demo cohort)"
    )


@command("seed", _seed_args)
def cmd_seed(args: argparse.Namespace) -> int:
    """Load the demo cohort (or any Bundle/NDJSON files) into a FHIR server, idempotently.

    Resources go in as transaction Bundles of PUTs with their own ids, patients first, so running it
    twice leaves one copy of each resource.

    Examples:
      pelvic-outcomes seed --fhir-url http://127.0.0.1:8090/fhir
      pelvic-outcomes seed --fhir-url http://127.0.0.1:8090/fhir --source my-bundles/
    """
    from config.fhir import FhirSettings, normalize_base_url
    from extractor import demo_source, seed

    if args.config:
        settings = _deployment(args).fhir
        if settings is None:
            print("error: the deployment file has no [fhir] table; give --fhir-url", file=sys.stderr)
            return 2
    else:
        settings = FhirSettings(normalize_base_url(args.fhir_url, "--fhir-url"))
    sent = seed(args.source or demo_source(), settings, progress=True)
    total = sum(sent.values())
    detail = ", ".join(f"{count} {rtype}" for rtype, count in sorted(sent.items()))
    print(f"seeded {total} resources into {settings.base_url} ({detail})")
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
        doc = inspect.cleandoc(handler.__doc__ or "")
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
    for noisy in ("weasyprint", "fontTools", "matplotlib"):  # their INFO lines are progress, not news
        logging.getLogger(noisy).setLevel(logging.WARNING)
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
