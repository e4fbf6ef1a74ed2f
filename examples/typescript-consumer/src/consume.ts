// A downstream consumer of scanbridge events in TypeScript: kafkajs reads the topics, the CloudEvents SDK
// decodes each record (Kafka binary mode: ce_* headers, JSON value, key = partitionkey).
//
// It prints one JSON line per event and, for `order.completed`, which artifacts are ready to import.
// Settings from the environment: KAFKA_BOOTSTRAP (host:port[,…]), TOPICS (comma-separated, default the
// events and artifacts topics), GROUP (consumer group), COUNT (stop after this many events; 0 = run on).
import { CloudEvent, Kafka as CloudEventsKafka, type KafkaMessage as CloudEventsMessage } from 'cloudevents';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';

const brokers = (process.env.KAFKA_BOOTSTRAP ?? 'localhost:9092').split(',');
const topics = (process.env.TOPICS ?? 'scanbridge.events.v1,scanbridge.artifacts.v1').split(',');
const group = process.env.GROUP ?? 'lab-example-typescript';
const count = Number(process.env.COUNT ?? '0');

type Outcome = { kind: string; outcome: 'stored' | 'failed'; storage_uri?: string; reason?: string };

function decode(message: KafkaMessage): CloudEvent<unknown> {
  // kafkajs gives header values as Buffers; the CloudEvents Kafka binding reads strings.
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = value.toString();
  }
  const value = message.value ?? Buffer.alloc(0);
  const record: CloudEventsMessage = {
    key: message.key?.toString() ?? '', value, body: value, headers, timestamp: message.timestamp,
  };
  return CloudEventsKafka.toEvent(record) as CloudEvent<unknown>;
}

function describe(event: CloudEvent<unknown>): Record<string, unknown> {
  // Read fields you know, ignore the rest: v1 schemas only grow (README "Events", versioning policy).
  const data = (event.data ?? {}) as Record<string, unknown>;
  const line: Record<string, unknown> = {
    id: event.id, type: event.type, subject: event.subject, key: event.partitionkey,
    dataschema: event.dataschema,
  };
  if (event.type === 'order.completed') {
    const artifacts = (data.artifacts ?? []) as Outcome[];
    line.ready = artifacts.filter((a) => a.outcome === 'stored').map((a) => a.storage_uri);
    line.failed = artifacts.filter((a) => a.outcome === 'failed').map((a) => `${a.kind}: ${a.reason}`);
  }
  return line;
}

async function main(): Promise<void> {
  const kafka = new Kafka({ clientId: 'scanbridge-example-ts', brokers, logLevel: logLevel.ERROR });
  const consumer = kafka.consumer({ groupId: group });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let seen = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => { finish = resolve; });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const line = { topic, partition, offset: message.offset, ...describe(decode(message)) };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      seen += 1;
      if (count > 0 && seen >= count) finish();
    },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => finish());
  await done;
  await consumer.disconnect();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
