"""A shorter way from a fetched record batch to (offset, value) for the projector.

kafka-python builds, for every record, a DefaultRecord, then a 13-field ConsumerRecord, after
a dozen property calls and deserializer checks: a quarter of the projector's polling thread.
The projector reads only a record's offset and value. `install(consumer)` gives that
consumer's fetcher a PartitionRecords whose record loop reads just those from each batch's
bytes (after the batch's CRC check, transactional aborts and control batches are handled
exactly as kafka-python does: the same code, inherited) and yields `Message(offset, value)`.

It uses private parts of the pinned kafka-python (3.0.12): the fetcher's `PartitionRecords`
attribute and a batch's `_buffer`, `_pos` and `_maybe_uncompress`. When they are not there,
`install` leaves the consumer as it is (records then come as ConsumerRecords, which have the
same `offset` and `value`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

from kafka.consumer.fetcher import Fetcher, IsolationLevel
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.util import decode_varint

log = logging.getLogger(__name__)


class Message(NamedTuple):
    offset: int
    value: bytes | None


def read_batch(batch: DefaultRecordBatch) -> list[Message]:
    """The (offset, value) of every record of a v2 batch (decompressed first, if it is).

    Record => Length varint, Attributes int8, TimestampDelta varlong, OffsetDelta varint,
    KeyLength varint, Key, ValueLength varint, Value, Headers (not read: the record's length
    says where the next one starts)."""
    batch._maybe_uncompress()
    buf: bytearray = batch._buffer
    pos: int = batch._pos
    base = batch.base_offset
    out: list[Message] = []
    append = out.append
    try:
        for _ in range(batch.records_count):
            length, pos = decode_varint(buf, pos)
            end = pos + length
            pos += 1  # attributes (int8, unused)
            while buf[pos] & 0x80:  # timestamp delta: not read
                pos += 1
            delta, pos = decode_varint(buf, pos + 1)
            key_len, pos = decode_varint(buf, pos)
            if key_len > 0:
                pos += key_len
            value_len, pos = decode_varint(buf, pos)
            if value_len >= 0:
                stop = pos + value_len
                if stop > end:
                    raise CorruptRecordError(f"record at offset {base + delta} overruns")
                append(Message(base + delta, bytes(buf[pos:stop])))
            else:
                append(Message(base + delta, None))
            pos = end
    except IndexError as err:
        raise CorruptRecordError(f"Found invalid record structure: {err!r}") from err
    if pos != len(buf):
        raise CorruptRecordError(f"{len(buf) - pos} unconsumed bytes after all records consumed")
    return out


class PartitionRecords(Fetcher.PartitionRecords):  # type: ignore[misc]
    """kafka-python's, with the record loop of `_unpack_records` replaced by `read_batch`.
    The batch-level handling (CRC, aborted transactions, control batches, next offset) is the
    one kafka-python 3.0.12 has, copied; only what a record becomes differs."""

    def _unpack_records(self, tp: Any, records: Any, key_deserializer: Any,
                        value_deserializer: Any) -> Iterator[Any]:
        batch = records.next_batch()
        last_batch = None
        while batch is not None:
            last_batch = batch
            if self.check_crcs and not batch.validate_crc():
                raise CorruptRecordError(
                    f"Record batch for partition {self.topic_partition} at offset "
                    f"{batch.base_offset} failed crc check")
            if batch.magic != 2:  # an older format: kafka-python's way, for this batch
                for record in batch:
                    self.records_read += 1
                    self.bytes_read += record.size_in_bytes
                    self.next_fetch_offset = record.offset + 1
                    yield Message(record.offset, record.value)
                batch = records.next_batch()
                continue
            self.leader_epoch = batch.leader_epoch
            if (self.isolation_level == IsolationLevel.READ_COMMITTED
                    and batch.has_producer_id()):
                self._consume_aborted_transactions_up_to(batch.last_offset)
                producer_id = batch.producer_id
                if self._contains_abort_marker(batch):
                    self.aborted_producer_ids.discard(producer_id)
                elif self._is_batch_aborted(batch):
                    self.next_fetch_offset = batch.next_offset
                    batch = records.next_batch()
                    continue
            if batch.is_control_batch:
                self.next_fetch_offset = batch.next_offset
                batch = records.next_batch()
                continue
            messages = read_batch(batch)
            self.records_read += len(messages)
            self.bytes_read += batch.size_in_bytes
            for message in messages:  # poll() may take part of a batch: the position follows
                self.next_fetch_offset = message.offset + 1
                yield message
            batch = records.next_batch()
        if last_batch is not None and last_batch.magic == 2:
            self.next_fetch_offset = last_batch.next_offset
        self.drain()


def install(consumer: Any) -> bool:
    """Give this consumer's fetcher the shorter record loop; False (and nothing changed) when
    the kafka-python in use does not have what it relies on."""
    fetcher = getattr(consumer, "_fetcher", None)
    needed = ("_buffer", "_pos", "_maybe_uncompress")
    if (fetcher is None
            or getattr(fetcher, "PartitionRecords", None) is not Fetcher.PartitionRecords
            or getattr(fetcher, "config", {}).get("value_deserializer") is not None
            or not all(n in DefaultRecordBatch.__slots__ or hasattr(DefaultRecordBatch, n)
                       for n in needed)):
        log.info("kafka-python without the expected fetcher: records read its own way")
        return False
    fetcher.PartitionRecords = PartitionRecords
    return True
