"""The command line: parse arguments, call the library, map errors to exit codes.

Every command's docstring is its --help text, with an example.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.errors import PelvicOutcomesError, StorageError, UsageError
from service.layout import Layout
from service.request import EmailMode, Gate, RunRequest

if TYPE_CHECKING:
    from config.deployment import Deployment
    from config.study import StudyDefinition
    from service.jobs import JobResult

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None]]] = {}
_state: dict[str, Path] = {}  # the private data folder of the command, once known: where tracebacks go


def command(name: str, configure: Callable[[argparse.ArgumentParser], None]) -> Callable[[Handler], Handler]:
    """Register a subcommand; its docstring is the help text."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = (handler, configure)
        return handler

    return register


def _run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="deployment config file (TOML): a service run")
    parser.add_argument("--study", type=Path, help="study definition file (default: the bundled study.toml)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--fhir-url", help="pull from this FHIR R4 server base URL")
    where.add_argument(
        "--source", type=Path, action="append",
        help="read FHIR Bundle/NDJSON files or a stored raw snapshot folder; give it again for more sites "
             "(a folder with export.json is a site's published export: pooling)",
    )
    _folder_args(parser)
    parser.add_argument("--no-email", action="store_true", help="do not send the report by email")
    _email_args(parser)


def _folder_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, help="the board's folder: the report and pseudonymised tables (default: ./out)"
    )
    parser.add_argument(
        "--data-dir", type=Path,
        help="private folder for raw data, run folders and logs (default: data/ beside --out; "
             "with --config: paths.data_dir)",
    )


@command("run", _run_args)
def cmd_run(args: argparse.Namespace) -> int:
    """One whole run: extract, map, analyse, write the report.

    With no arguments it runs the bundled demo cohort and writes the report into ./out/ (the raw data
    and the run's private files go to ./data/).

    With --config it is a service run: it needs the pseudonym key in the environment, takes the run
    lock, checks the data-quality gates, emails the report to the tumour board (or alerts the admin when
    the run fails or is blocked) and records the run in the history.

    Examples:
      pelvic-outcomes run
      pelvic-outcomes run --source data/runs/20261124T101500Z-1a2b3c/raw --out out
      pelvic-outcomes run --fhir-url http://127.0.0.1:8090/fhir --out out
      pelvic-outcomes run --config /etc/pelvic-outcomes/deployment.toml --dry-run
    """
    if args.config:
        return _service_run(args)
    if args.dry_run or args.resend:
        raise UsageError("--dry-run" if args.dry_run else "--resend", "needs --config (the email settings)")
    request = RunRequest(fhir_url=args.fhir_url, **_sources(args))
    return _run_plain(request, _plain_layout(args), args.study)


def _sources(args: argparse.Namespace) -> dict[str, Any]:
    folders = args.source or []
    return {"source": folders[0], "more_sources": tuple(folders[1:])} if folders else {}


def _plain_layout(args: argparse.Namespace) -> Layout:
    layout = Layout.plain(args.out or Path("out"), args.data_dir)
    layout.check()
    _state["data_dir"] = layout.data_dir
    return layout


def _run_plain(request: RunRequest, layout: Layout, study_file: Path | None) -> int:
    """A run without the service around it (no lock, email or history): one line, an exit code."""
    from config.deployment import process_env
    from config.study import load_study
    from service.keys import resolve_key
    from service.request import RunPlan
    from service.run import run_pipeline
    from service.sources import source_parts

    study = load_study(study_file)
    key = resolve_key(study.pseudonym_key_env, process_env(), required=False)
    if key.development:
        print(
            f"warning: {study.pseudonym_key_env} is not set: study ids use the development key, which is not "
            "secret (fine for the demo; a --config service run refuses to start without a key)",
            file=sys.stderr,
        )
    parts: dict[str, Any] = {"extract": None, "source_label": "", **source_parts(request, study, layout)}
    plan = RunPlan(study=study, layout=layout, key=key, trigger=request.trigger, gate=_warning_gate(study), **parts)
    outcome = run_pipeline(plan)
    if not outcome.ok:
        print(f"error: run {outcome.run_id} {outcome.status}: {outcome.error}", file=sys.stderr)
        return outcome.exit_code or 1
    print(f"run {outcome.run_id} succeeded: {layout.out_dir / 'report.pdf'} (private data in {layout.data_dir})")
    return 0


def _warning_gate(study: StudyDefinition) -> Gate:
    """Plain runs are not gated (there is no board to protect), but say what a service run would block."""
    from service.gates import gate_problems

    def check(counts: Mapping[str, int], examples: list[str]) -> list[str]:
        for problem in gate_problems(counts, study.quality_gates, None, examples):
            print(f"warning: a service run would be blocked: {problem}", file=sys.stderr)
        return []

    return check


# --------------------------------------------------------------------------- the service


def _email_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="write the email as .eml into the run folder")
    parser.add_argument("--resend", action="store_true", help="send even if this report already went out")


def _config_arg(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", type=Path, required=required, help="deployment config file (TOML)")


def _deployment(args: argparse.Namespace) -> Deployment:
    """The deployment file, with --out, --data-dir and --study (where the command has them) taking precedence."""
    import dataclasses

    from config.deployment import load_deployment

    deployment = load_deployment(args.config)
    paths = deployment.paths
    if getattr(args, "out", None):
        paths = dataclasses.replace(paths, out_dir=args.out.absolute())
    if getattr(args, "data_dir", None):
        paths = dataclasses.replace(paths, data_dir=args.data_dir.absolute())
    deployment = dataclasses.replace(deployment, paths=paths)
    if getattr(args, "study", None):
        deployment = dataclasses.replace(deployment, study_file=args.study)
    _state["data_dir"] = deployment.paths.data_dir
    return deployment


def _print_result(result: JobResult, out: Path) -> int:
    if result.status == "succeeded":
        print(f"run {result.run_id} succeeded: {out / 'report.pdf'}; email: {result.email}")
    else:
        print(f"error: run {result.run_id} {result.status}: {result.error}; email: {result.email}", file=sys.stderr)
    if result.status == "succeeded" and result.error:
        print(f"warning: {result.error}", file=sys.stderr)
    return result.exit_code


def _service_run(args: argparse.Namespace) -> int:
    from service.jobs import run_service_job

    deployment = _deployment(args)
    mode = EmailMode.OFF if args.no_email else EmailMode.DRY_RUN if args.dry_run else EmailMode.SEND
    request = RunRequest(email=mode, resend=args.resend, fhir_url=args.fhir_url, **_sources(args))
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
        "--run", metavar="ID", help="the run id whose raw snapshot to re-render (default: the published run)"
    )
    _folder_args(parser)
    parser.add_argument("--study", type=Path, help="study definition file (default: the deployment's or bundled)")
    _config_arg(parser, required=False)


@command("report", _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    """Re-render a past run from its stored raw data (<data_dir>/runs/ID/raw), without pulling again.

    Mapping, analysis and report run again as a new run and are published into the output folder; no
    email is sent. With --config the new run takes the run lock and is recorded in the history, and ID
    must be a run of the history.

    Examples:
      pelvic-outcomes report --out out
      pelvic-outcomes report --run 20261124T101500Z-1a2b3c --config /etc/pelvic-outcomes/deployment.toml
    """
    from service.layout import check_run_id
    from service.publish import published_run_id

    deployment = _deployment(args) if args.config else None
    layout = Layout.from_settings(deployment.paths) if deployment else _plain_layout(args)
    run_id = published_run_id(layout.out_dir) if args.run is None else check_run_id(args.run)
    if not run_id:
        raise UsageError("--run", f"no published run in {layout.out_dir}", "give --run ID, or --out with a run in it")
    if deployment:
        from service.history import History

        if not layout.history_db.exists() or History(layout.history_db).get(run_id) is None:
            raise UsageError("--run", f"run {run_id} is not in the history", "pick one from `pelvic-outcomes history`")
    raw = layout.raw_dir(run_id)
    if not (raw / "manifest.json").exists():
        raise UsageError(
            "--run", f"run {run_id} has no stored raw snapshot in {layout.runs_dir}",
            "pick a run id from `pelvic-outcomes history` (old runs are pruned by paths.keep_runs)",
        )
    request = RunRequest(trigger="report", source=raw, check_gates=False)
    if deployment:
        from service.jobs import run_service_job

        return _print_result(run_service_job(deployment, request), layout.out_dir)
    return _run_plain(request, layout, args.study)


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


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="pelvic-outcomes",
        description="Extract a FHIR cohort, analyse the study's outcomes and report to the tumour board.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    children: dict[str, argparse.ArgumentParser] = {}
    for name, (handler, configure) in COMMANDS.items():
        doc = inspect.cleandoc(handler.__doc__ or "")
        summary = doc.splitlines()[0] if doc else name
        child = sub.add_parser(
            name, help=summary, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        configure(child)
        child.set_defaults(handler=handler)
        children[name] = child
    return parser, children


def main(argv: Sequence[str] | None = None) -> int:
    parser, children = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # `run --bogus` shows run's usage, not the program's
        (children.get(args.command) or parser).error(f"unrecognized arguments: {' '.join(extras)}")
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
    _state.clear()
    try:
        return int(args.handler(args))
    except PelvicOutcomesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return StorageError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _internal_error(exc, args.debug)


def _internal_error(exc: Exception, debug: bool) -> int:
    """A bug: one line for the user, the traceback in the private log (and on stderr with --debug)."""
    from service import errorlog

    data_dir = _state.get("data_dir")
    where = errorlog.record(data_dir / "logs" / "errors.log", exc, "command line") if data_dir else None
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {errorlog.summary(exc, where)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
