"""Development tools, apart from the packages a deployment imports: the feed simulator and its
carrier formats, the demo, the benchmarks, the ETA evaluation, the report, and the harness that
runs and drains workers (tests and demo). Nothing in `pipeline`, `tracking` or `connectors`
imports from here (a test checks the worker's import graph)."""
