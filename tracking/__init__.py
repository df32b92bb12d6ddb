"""Tracking: the pure domain logic between connectors and the pipeline. No Kafka, no clock.

    normalize   raw payload -> TrackingEvents in the canonical taxonomy (taxonomy.py)
    state       one parcel's state, folded over its history in event time
    history     history entries and the near-duplicate rule (two feeds' reports of one scan)
    parcels     the parcel stage: a batch (or a timer tick) over one partition's parcels
    eta         remaining-time quantiles per lane, learned from deliveries (sketch.py)
    exceptions  carrier-reported and clock-derived exceptions, their ids and records
    notify      which changes notify whom, and the messages
    orders      order summaries and the order stage over them
    records     the output records, defined once (Avro, ClickHouse rows derive from them)

The runtime steps in `pipeline/runtime/` call these functions per batch and forward what they
return; tests call them directly.
"""

from connectors.native import use_compiled

use_compiled(__name__, __path__)  # the mypyc-compiled modules, when fresh (connectors/native.py)
