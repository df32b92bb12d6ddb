"""The runtime process: the pipeline's batch steps, apart from Faust's event loop.

    parse   (parse.py)   RawCarrierEvent messages -> TrackingEventBatch per events partition
    track   (track.py)   events + shipments -> parcel state, ETA, exceptions, notifications,
                         order summaries; and the deadline timer
    orders  (orders.py)  order summaries -> one view per order
    process (process.py) the child process Faust calls, one explicit function per step

Each step produces its outputs, flushes them (Kafka, then ClickHouse) and only then returns, so
the caller may acknowledge the input offsets. Bad input is dead-lettered, never raised.
"""
