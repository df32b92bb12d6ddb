"""Stage state: the compacted Kafka changelogs that make it durable (`changelog`), and the
local on-disk store with a bounded hot set that the parcel stage works from (`local`)."""
