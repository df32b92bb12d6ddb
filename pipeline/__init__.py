"""App wiring: settings, topics, codecs, the Faust app, sinks, the simulator and the CLI."""
