"""`make bench`: throughput of the relay and the projector against raw kafka-python."""
