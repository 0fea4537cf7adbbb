"""Produces one record every interval for a while with librdkafka (confluent-kafka), then flushes.

   produce.py BOOTSTRAP TOPIC SECONDS INTERVAL_MS  (librdkafka properties as KEY=VALUE lines on stdin)

Prints "delivered N failed M" and exits 0 when every record was delivered. librdkafka's log
lines (debug=security shows its re-authentications) go to stderr.
"""
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, seconds, interval_ms = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
conf = {'bootstrap.servers': bootstrap, 'linger.ms': 0}
for line in sys.stdin.read().splitlines():
    if line.strip():
        key, value = line.split('=', 1)
        conf[key] = value
counts = {'delivered': 0, 'failed': 0}


def on_delivery(err, _msg):
    counts['failed' if err else 'delivered'] += 1
    if err:
        print(f'delivery failed: {err}', file=sys.stderr)


producer = Producer(conf)
end = time.monotonic() + seconds
i = 0
while time.monotonic() < end:
    producer.produce(topic, value=f'record {i}'.encode(), callback=on_delivery)
    i += 1
    producer.poll(interval_ms / 1000)
producer.flush(30)
print(f"delivered {counts['delivered']} failed {counts['failed']}")
sys.exit(0 if counts['delivered'] == i and counts['failed'] == 0 else 1)
