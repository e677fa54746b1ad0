// kafkajs against the endpoint's Kafka face: produce with keys, headers and gzip; consume in a
// group with commits; a rebalance when a second consumer joins; resume from the committed offset
// after a restart of the consumer. Run by tests/python/test_kafkajs.py, which checks the JSON
// this prints. Exits non-zero on any failure, with the reason on stderr.
const { Kafka, CompressionTypes, logLevel } = require("kafkajs");

const kafka = new Kafka({
  clientId: "kafkajs-suite",
  brokers: [process.env.BOOTSTRAP],
  sasl: { mechanism: "plain", username: "$ConnectionString", password: process.env.PASSWORD },
  ssl: false,
  logLevel: logLevel.NOTHING,
});
const topic = process.env.TOPIC || "eh1";

function waitFor(predicate, ms, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

async function consumeSome(groupId, count) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      if (got.length >= count) return;
      got.push({
        partition,
        offset: message.offset,
        key: message.key && message.key.toString(),
        value: message.value.toString(),
        headers: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v.toString()])),
      });
      await consumer.commitOffsets([
        { topic, partition, offset: (BigInt(message.offset) + 1n).toString() },
      ]);
    },
  });
  await waitFor(() => got.length >= count, 20000, `${count} messages in ${groupId}`);
  await consumer.disconnect();
  return got;
}

async function main() {
  const result = {};
  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: 10 }, (_, i) => ({
    key: `js-key-${i}`,
    value: `js-value-${i}`,
    headers: { source: "kafkajs", n: `${i}` },
    partition: 0,
  }));
  const sent = await producer.send({ topic, compression: CompressionTypes.GZIP, messages });
  result.sent = sent.map((r) => ({ partition: r.partition, baseOffset: r.baseOffset, errorCode: r.errorCode }));
  await producer.disconnect();

  // A group reads five with commits, then a new consumer of the group resumes after them.
  result.first = await consumeSome("js-group", 5);
  result.resumed = await consumeSome("js-group", 5);

  // A second member makes the group rebalance: both end up with a share.
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "js-four", numPartitions: 4 }], waitForLeaders: true });
  const assignments = {};
  const member = async (name) => {
    const consumer = kafka.consumer({ groupId: "js-rebalance", sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000 });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assignments[name] = (e.payload.memberAssignment["js-four"] || []).slice().sort();
    });
    await consumer.connect();
    await consumer.subscribe({ topic: "js-four", fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    return consumer;
  };
  const a = await member("a");
  await waitFor(() => (assignments.a || []).length === 4, 20000, "a owning four partitions");
  const b = await member("b");
  await waitFor(
    () => (assignments.a || []).length === 2 && (assignments.b || []).length === 2,
    30000,
    "the partitions split between a and b"
  );
  result.rebalanced = JSON.parse(JSON.stringify(assignments));
  await b.disconnect();
  await a.disconnect();
  result.groups = (await admin.listGroups()).groups.map((g) => g.groupId).sort();
  await admin.disconnect();
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
