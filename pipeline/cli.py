"""`parcelstream` command line: worker, sink, topics, migrate, webhook, import, detect, and the
lookup API's api-key, link and openapi.

The development tools (simulate, demo, report, bench) add their sub-commands from `tools.cli`
when that package is installed beside the pipeline; a deployment without it has none of them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pipeline.settings import get_settings


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
    from pipeline.sinks.engines import open_engine_from
    from pipeline.sinks.migrations import migrate

    engine = open_engine_from(get_settings())
    applied = migrate(engine)
    print(f"{engine.name}: applied {applied or 'nothing (up to date)'}")
    engine.close()
    return 0


def cmd_sink(args: argparse.Namespace) -> int:
    import signal

    from pipeline.health import Health
    from pipeline.sinks.stage import run_sink
    from pipeline.topics import ensure_topics

    settings = get_settings()
    ensure_topics(settings)
    health = Health()
    signal.signal(signal.SIGTERM, lambda *_: health.request_stop())
    signal.signal(signal.SIGINT, lambda *_: health.request_stop())
    run_sink(settings, health)
    return 0


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
    from pipeline.ingestion import import_paths
    from pipeline.ingestion.publisher import Publisher
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


def cmd_detect(args: argparse.Namespace) -> int:
    from connectors.detect import detect_main

    return detect_main(args.numbers)


def cmd_api(args: argparse.Namespace) -> int:
    from aiohttp import web

    from pipeline.api.reader import LiveState
    from pipeline.api.server import LookupApi, link_secret

    settings = get_settings()
    lookup = LookupApi(settings, LiveState(settings), link_secret(settings))
    print(f"lookup API over {settings.stores_dir} (read-only) on {settings.api_base_url}")
    web.run_app(lookup.app(), host=settings.api_host, port=settings.api_port, print=None)
    return 0


def cmd_api_key(args: argparse.Namespace) -> int:
    from pipeline.api.auth import hash_key, new_key

    key = new_key()
    refs = args.refs.split(",") if args.refs else "*"
    entry = {"name": args.name, "sha256": hash_key(key), "customer_refs": refs}
    print(f"key (give it to {args.name}; it is not stored anywhere): {key}")
    print(f"PARCELSTREAM_API_KEYS entry: {json.dumps(entry)}")
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    from pipeline.api.auth import LinkSigner
    from pipeline.api.server import link_secret

    settings = get_settings()
    signer = LinkSigner(link_secret(settings), settings.api_link_days)
    kind, path = ("o", "o") if args.order else ("p", "t")
    for ident in args.ids:
        print(f"{settings.api_links_url}/{path}/{signer.sign(kind, ident)}")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from pipeline.api.server import openapi_json

    text = openapi_json()
    if args.write:
        args.write.write_text(text)
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0


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

    sub.add_parser(
        "sink", help="run the ClickHouse sink stage alone (PARCELSTREAM_SINK_IN_WORKER=false)"
    ).set_defaults(func=cmd_sink)

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

    found = sub.add_parser("detect", help="which carrier issued a tracking number (ranked)")
    # "*", not "+": detect_main owns the no-argument case (its usage line, exit code 2)
    found.add_argument("numbers", nargs="*", metavar="TRACKING", help="tracking numbers")
    found.set_defaults(func=cmd_detect)

    sub.add_parser(
        "api",
        help="serve the lookup API from this machine's state stores alone (read-only; "
        "workers serve it themselves)",
    ).set_defaults(func=cmd_api)

    key = sub.add_parser("api-key", help="make a lookup API key and its configuration entry")
    key.add_argument("name", help="who the key is for")
    key.add_argument(
        "--refs", help="customer references it may read, comma-separated (default: all)"
    )
    key.set_defaults(func=cmd_api_key)

    link = sub.add_parser("link", help="print signed tracking links (parcels, or --order)")
    link.add_argument("ids", nargs="+", metavar="ID", help="tracking numbers or order ids")
    link.add_argument("--order", action="store_true", help="the ids are order ids")
    link.set_defaults(func=cmd_link)

    doc = sub.add_parser("openapi", help="print the lookup API's OpenAPI document")
    doc.add_argument("--write", type=Path, help="write it to this file (docs/openapi.json)")
    doc.set_defaults(func=cmd_openapi)

    try:
        from tools.cli import add_commands
    except ImportError:  # a deployment without the development tools
        pass
    else:
        add_commands(sub)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
