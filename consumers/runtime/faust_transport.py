"""faust's Kafka transport, without its idle waits and per-record tasks (benchmarks/PIPELINE.md).

Everything here is a small subclass of faust-streaming's aiokafka driver (0.15), installed
with `app.transport = Transport(app.conf.broker_consumer, app)` before any topic exists.
What each one changes, and why:

- `fetch_max_wait_ms` (faust hard-codes 1,500 ms): aiokafka leaves out of its next fetch
  every partition whose records it still buffers, and sends no new fetch to a broker while
  one is in flight. So after a fetch that returned records of every busy partition, the
  next one names only the idle ones (`xapi.inbound`'s, say); the broker holds it the whole
  wait (nothing arrives there), and the busy partitions' new records wait behind it. On
  Apache Kafka, 1,500 ms gave a lag p50 of 1.9 s at 1,000 statements/s
  (benchmarks/PIPELINE.md); a shorter wait costs a few empty fetches a second when idle.
- `getmany`'s timeout (faust: 1 s): see GETMANY_TIMEOUT.
- The fetcher's drain loop handed every record to the conductor through
  `Service.wait_first(callback(message), suspend_flow.wait())`: four tasks and an
  `asyncio.wait` per record, about a third of faust's CPU per record. When the flow is
  not suspended (no rebalance under way) the record is now handed over with a plain
  `await`; while it is, the hand-over races the suspension as before. A hand-over that
  already waits on a full stream buffer when a rebalance starts now finishes instead of
  being abandoned; faust's abandoned hand-over left its `put` running too (asyncio.wait
  does not cancel what it waits for), so either way the record reaches the buffer after
  faust cleared it, and the stream drops it unread (flow stopped, or an old generation);
  the partition's next owner reads it again from the committed offset.

Delivery is unchanged: records reach the same streams in the same order, acks and offset
commits are faust's own. The Kafka integration tests (crashes, a broker restart, two
workers splitting the partitions) run through this transport.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as driver
from mode import Service, ServiceT

# How long the broker may hold a fetch that has nothing new (faust: 1,500 ms). It bounds
# how late a record of a busy partition can be when the fetch in flight names only idle
# ones (above). Measured (benchmarks/PIPELINE.md): 100, 250 and 500 ms fold a backlog equally
# fast; at a trickle shorter waits mean fresher, smaller batches and more fetches.
FETCH_MAX_WAIT_MS = 250
# How long one `getmany` waits for records of the partitions it was asked for (faust: 1 s).
# faust stops asking for a partition while its stream buffer is nearly full and asks again
# once it drained, but a `getmany` already waiting does not see that: it waited out its
# whole timeout, and a worker with a backlog idled up to 1 s after every full buffer.
GETMANY_TIMEOUT = 0.1


class ConsumerThread(driver.AIOKafkaConsumerThread):
    """The aiokafka consumer faust builds, with a shorter `fetch_max_wait_ms`."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # AIOKafkaConsumer keeps the argument and passes it to its Fetcher at start();
        # faust passes a constant, so it is replaced before the consumer starts.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class Consumer(driver.Consumer):
    """faust's consumer, handing records to the conductor without a task per record."""

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover
        # faust-streaming 0.15.3's Consumer._drain_messages with two changes (marked
        # below); otherwise the same, less its debug log line for a record read twice.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        suspended = self.suspend_flow.is_set
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=GETMANY_TIMEOUT)  # changed: was 1.0
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            # Changed: no race (and no tasks) unless a rebalance is under way.
                            if suspended():
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            else:
                                await callback(message)
                            set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class Transport(driver.Transport):
    """faust's aiokafka transport with the consumer above."""

    Consumer = Consumer
