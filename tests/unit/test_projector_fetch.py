"""The projector's shorter record loop (consumers/projector_fetch.py) reads the same offsets
and values as kafka-python's own, batch by batch and through a fetcher's PartitionRecords
taken a few records at a time, with keys, null values, headers, compression and control and
aborted transactional batches."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from kafka import KafkaConsumer
from kafka.consumer.fetcher import Fetcher, IsolationLevel
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.structs import TopicPartition

from consumers import projector_fetch

TP = TopicPartition("t", 0)


class AbortedTransaction(NamedTuple):  # what a fetch response lists (kafka-python reads these)
    producer_id: int
    first_offset: int


def _batch(base: int, records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
           *, compression: int = 0, producer_id: int = -1, control: bool = False) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=compression,
                                        is_transactional=producer_id >= 0,
                                        producer_id=producer_id, producer_epoch=0 if
                                        producer_id >= 0 else -1,
                                        base_sequence=0 if producer_id >= 0 else -1,
                                        batch_size=1 << 24)
    for i, (key, value, headers) in enumerate(records):
        # Timestamps far apart: deltas of several varint bytes.
        builder.append(i, timestamp=1_700_000_000_000 + i * 987_654_321, key=key, value=value,
                       headers=headers)
    raw = bytearray(builder.build())
    raw[0:8] = base.to_bytes(8, "big")  # base offset
    if control:  # attributes: the control bit (the CRC covers them: recomputed below)
        attrs = int.from_bytes(raw[21:23], "big") | DefaultRecordBatch.CONTROL_MASK
        raw[21:23] = attrs.to_bytes(2, "big")
        from kafka.record.util import calc_crc32c  # noqa: PLC0415 - only here

        raw[17:21] = calc_crc32c(bytes(raw[21:])).to_bytes(4, "big")
    return bytes(raw)


COMMIT, ABORT = b"\x00\x00\x00\x01", b"\x00\x00\x00\x00"  # control records' keys
RECORDS = [(b"018182", b'{"a": 1}', []), (None, b"x" * 300, [("h", b"v"), ("n", b"")]),
           (b"k" * 200, None, []), (b"", b"", []), (b"t", "é".encode() * 5000, [("h", b"")])]


@pytest.mark.parametrize("compression", [0, DefaultRecordBatch.CODEC_GZIP])
def test_a_batch_reads_as_kafka_python_reads_it(compression: int) -> None:
    raw = _batch(40, RECORDS, compression=compression)
    theirs = [(r.offset, r.value) for r in DefaultRecordBatch(raw)]
    ours = projector_fetch.read_batch(DefaultRecordBatch(raw))
    assert [(m.offset, m.value) for m in ours] == theirs
    assert [m.offset for m in ours] == [40, 41, 42, 43, 44]


def test_a_corrupt_batch_is_refused() -> None:
    raw = bytearray(_batch(0, RECORDS))
    del raw[-3:]  # the last record cut short
    with pytest.raises(CorruptRecordError):
        projector_fetch.read_batch(DefaultRecordBatch(bytes(raw)))


def _partition_records(cls: type, data: bytes, fetch_offset: int,
                       aborted: list[AbortedTransaction]) -> Fetcher.PartitionRecords:
    return cls(fetch_offset, TP, MemoryRecords(data), check_crcs=True,
               isolation_level=IsolationLevel.READ_COMMITTED, aborted_transactions=aborted)


def test_partition_records_take_the_same_records_and_positions() -> None:
    """Committed, aborted and control batches in one fetch, read from the middle of the first
    batch, taken 3 at a time: the same (offset, value) and the same next fetch offset after
    each take as kafka-python's."""
    data = (_batch(10, RECORDS, producer_id=7)
            + _batch(15, [(COMMIT, b"\x00\x00\x00\x00", [])], producer_id=7, control=True)
            + _batch(16, RECORDS[:2], producer_id=8)  # aborted below
            + _batch(18, [(ABORT, b"\x00\x00\x00\x00", [])], producer_id=8, control=True)
            + _batch(19, RECORDS[::-1]))
    aborted = [AbortedTransaction(producer_id=8, first_offset=16)]
    theirs = _partition_records(Fetcher.PartitionRecords, data, 12, aborted)
    ours = _partition_records(projector_fetch.PartitionRecords, data, 12, aborted)
    steps = []
    while theirs:
        a, b = theirs.take(3), ours.take(3)
        assert [(m.offset, m.value) for m in b] == [(r.offset, r.value) for r in a]
        assert ours.next_fetch_offset == theirs.next_fetch_offset
        steps.extend(m.offset for m in b)
    assert steps == [12, 13, 14, *range(19, 24)]
    assert not ours and not theirs  # both drained


def test_install_gives_one_consumer_the_shorter_loop() -> None:
    consumer = KafkaConsumer(bootstrap_servers="127.0.0.1:1", api_version=(2, 5))
    other = KafkaConsumer(bootstrap_servers="127.0.0.1:1", api_version=(2, 5))
    try:
        assert projector_fetch.install(consumer)
        assert consumer._fetcher.PartitionRecords is projector_fetch.PartitionRecords
        assert other._fetcher.PartitionRecords is Fetcher.PartitionRecords
        assert not projector_fetch.install(consumer)  # already: left as it is
    finally:
        consumer.close()
        other.close()
    deserializing = KafkaConsumer(bootstrap_servers="127.0.0.1:1", api_version=(2, 5),
                                  value_deserializer=bytes.decode)
    try:
        assert not projector_fetch.install(deserializing)
    finally:
        deserializing.close()
