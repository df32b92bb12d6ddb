"""The development tools' sub-commands of `parcelstream`: simulate, report, demo, bench,
bench-latency, bench-scale."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.settings import get_settings


def cmd_simulate(args: argparse.Namespace) -> int:
    from pipeline.codec import AvroCodec
    from pipeline.ingestion.publisher import Publisher
    from pipeline.topics import ensure_topics
    from tools.simulator import publish, simulate

    settings = get_settings()
    ensure_topics(settings)
    simulation = simulate(args.parcels, args.seed)
    publish(simulation, Publisher(settings, AvroCodec(settings.schema_registry_url)))
    if args.manifest:
        Path(args.manifest).write_text(simulation.manifest.to_json())
    print(simulation.manifest.to_json())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.sinks.engines import open_engine_from
    from tools.report import build_report, check_against, render, write_charts
    from tools.simulator import Manifest

    engine = open_engine_from(get_settings())
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
    from tools.demo import run_demo

    return run_demo(args.parcels, args.seed, args.timeout)


def cmd_bench(args: argparse.Namespace) -> int:
    from tools.bench import run_bench

    return run_bench(args.parcels, args.seed)


def cmd_bench_latency(args: argparse.Namespace) -> int:
    from pipeline.settings import get_settings
    from tools.bench_latency import run_latency

    print(run_latency(get_settings(), args.rate, args.seconds, args.seed).line())
    return 0


def cmd_bench_scale(args: argparse.Namespace) -> int:
    from tools.bench_scale import run_bench_scale

    return run_bench_scale(args.parcels, args.scan_parcels, args.seed)


def add_commands(sub: Any) -> None:
    """Register the tools' sub-commands on the `parcelstream` parser's subparsers."""
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

    latency = sub.add_parser("bench-latency", help="raw -> notification latency at a steady rate")
    latency.add_argument("--rate", type=float, required=True, help="scans per second")
    latency.add_argument("--seconds", type=float, default=30.0)
    latency.add_argument("--seed", type=int, default=17)
    latency.set_defaults(func=cmd_bench_latency)

    scale = sub.add_parser("bench-scale", help="parcel stage with millions of parcels in state")
    scale.add_argument("--parcels", type=int, default=2_000_000)
    scale.add_argument("--scan-parcels", type=int, default=10_000)
    scale.add_argument("--seed", type=int, default=13)
    scale.set_defaults(func=cmd_bench_scale)
