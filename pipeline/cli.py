"""`parcelstream` command line: worker, simulate, demo, report, bench, topics, migrate."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.settings import Settings, get_settings


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from pipeline.sinks.engines import open_engine

    url = settings.clickhouse_url.get_secret_value() if settings.clickhouse_url else None
    return open_engine(url, settings.chdb_dir, settings.clickhouse_database)


def cmd_worker(args: argparse.Namespace) -> int:
    from pipeline.app import app

    sys.argv = ["parcelstream", "worker", "-l", get_settings().worker_log_level, *args.faust_args]
    app.main()
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from pipeline.topics import ensure_topics

    ensure_topics(get_settings())
    print("topics ready")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from pipeline.sinks.migrations import migrate

    engine = _engine(get_settings())
    applied = migrate(engine)
    print(f"{engine.name}: applied {applied or 'nothing (up to date)'}")
    engine.close()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from pipeline.codec import AvroCodec
    from pipeline.ingest import Publisher
    from pipeline.simulator import publish, simulate
    from pipeline.topics import ensure_topics

    settings = get_settings()
    ensure_topics(settings)
    simulation = simulate(args.parcels, args.seed)
    publish(simulation, Publisher(settings, AvroCodec(settings.schema_registry_url)))
    if args.manifest:
        Path(args.manifest).write_text(simulation.manifest.to_json())
    print(simulation.manifest.to_json())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.report import build_report, check_against, render, write_charts
    from pipeline.simulator import Manifest

    engine = _engine(get_settings())
    report = build_report(engine)
    engine.close()
    if args.manifest:
        check_against(report, Manifest.from_json(Path(args.manifest).read_text()))
    print(render(report))
    if args.charts:
        print("\ncharts:")
        for path in write_charts(report, Path(args.charts)):
            print(f"  {path}")
    return 0 if report.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import run_demo

    return run_demo(args.parcels, args.seed, args.timeout)


def cmd_webhook(args: argparse.Namespace) -> int:
    from pipeline.ingestion import webhook
    from pipeline.topics import ensure_topics

    settings = get_settings()
    overrides = {k: v for k, v in (("webhook_host", args.host), ("webhook_port", args.port)) if v}
    settings = settings.model_copy(update=overrides)
    ensure_topics(settings)
    webhook.run(settings)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from pipeline.codec import AvroCodec
    from pipeline.ingest import Publisher
    from pipeline.ingestion import import_paths
    from pipeline.topics import ensure_topics

    settings = get_settings()
    ensure_topics(settings)
    summary = import_paths(
        settings,
        Publisher(settings, AvroCodec(settings.schema_registry_url)),
        args.paths,
        payload_format=args.format,
        carrier=args.carrier,
        watch=args.watch,
        poll_interval=args.interval,
        progress=not args.quiet,
    )
    print(
        f"imported {summary.imported}, skipped {summary.skipped}, failed {summary.failed}, "
        f"ignored {summary.ignored}, scans {summary.scans}"
    )
    for problem in summary.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pipeline.bench import run_bench

    return run_bench(args.parcels, args.seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parcelstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser("worker", help="run the Faust worker (extra args go to faust)")
    worker.add_argument("faust_args", nargs=argparse.REMAINDER)
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("topics", help="create the topics").set_defaults(func=cmd_topics)
    sub.add_parser("migrate", help="create/upgrade ClickHouse tables").set_defaults(
        func=cmd_migrate
    )

    sim = sub.add_parser("simulate", help="publish a simulated multi-carrier feed")
    sim.add_argument("--parcels", type=int, default=2000)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--manifest", help="write what was sent to this JSON file")
    sim.set_defaults(func=cmd_simulate)

    report = sub.add_parser("report", help="print the report from ClickHouse")
    report.add_argument("--manifest", help="check counts against a simulate --manifest file")
    report.add_argument("--charts", metavar="DIR", help="also write PNG charts to DIR")
    report.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", help="worker + simulator + drain + report, on fresh topics")
    demo.add_argument("--parcels", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--timeout", type=float, default=600)
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="pipeline vs plain consume/produce passthrough")
    bench.add_argument("--parcels", type=int, default=20000)
    bench.add_argument("--seed", type=int, default=11)
    bench.set_defaults(func=cmd_bench)

    hook = sub.add_parser("webhook", help="serve POST /webhooks/{format} for carrier pushes")
    hook.add_argument("--host", help="bind address (default: PARCELSTREAM_WEBHOOK_HOST)")
    hook.add_argument("--port", type=int, help="port (default: PARCELSTREAM_WEBHOOK_PORT)")
    hook.set_defaults(func=cmd_webhook)

    imp = sub.add_parser("import", help="import carrier files or folders (resumable)")
    imp.add_argument("paths", nargs="+", type=Path, help="files or directories (recursive)")
    imp.add_argument("--format", help="connector format; default: from the file extension")
    imp.add_argument("--carrier", help="carrier name, when the files do not say")
    imp.add_argument("--watch", action="store_true", help="keep polling for new files")
    imp.add_argument("--interval", type=float, default=2.0, help="seconds between --watch polls")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.set_defaults(func=cmd_import)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
