"""Where processed data leaves the pipeline: ClickHouse tables and Kafka output topics."""
