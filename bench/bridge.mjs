#!/usr/bin/env node
// Event bridge round trip: a native thread calls into JS and waits for the answer, vs the floor
// (the same thread-safe-function call, no wait). Batches of the two alternate, and each side's
// cost per event is the median over its batches, so that a burst of load from other processes on
// the machine lands in one batch instead of skewing the whole run. Prints one JSON line.
import { createEventBridge } from '../dist/hosted/bridge.js';
import { loadNative } from '../dist/platform/native.js';

// The loopback driver is a test hook of the addon (test/support/loopback.ts wraps it for tests).
const addon = loadNative();
const loopbackRun = (bridge, o) => addon.loopbackRun(bridge, { ...o, payload: '{}' });

const BATCHES = Number(process.argv[2] ?? 300);
const PER_BATCH = Number(process.argv[3] ?? 100);
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const pct = (xs, p) => sorted(xs)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const now = () => Number(process.hrtime.bigint()) / 1e3; // µs

const bridge = createEventBridge(() => {});
let seen = 0;
let target = 0;
let done = () => {};
const floor = createEventBridge(() => {
  if (++seen === target) done();
});

await loopbackRun(bridge, { events: ['Identify'], timeoutMs: 5000, iterations: PER_BATCH }); // warm-up
const waitBatch = [];
const floorBatch = [];
const latencies = [];
for (let b = 0; b < BATCHES; b++) {
  let t = now();
  const r = await loopbackRun(bridge, { events: ['Identify'], timeoutMs: 5000, iterations: PER_BATCH });
  waitBatch.push((now() - t) / PER_BATCH);
  for (const x of r) latencies.push(x.elapsedMs * 1000);

  // Floor: the same calls with no wait (timeoutMs 0); done when JS has run all of them.
  seen = 0;
  target = PER_BATCH;
  const all = new Promise((res) => (done = res));
  t = now();
  await loopbackRun(floor, { events: ['Identify'], timeoutMs: 0, iterations: PER_BATCH });
  await all;
  floorBatch.push((now() - t) / PER_BATCH);
}
bridge.close();
floor.close();

const waitUs = pct(waitBatch, 0.5);
const floorUs = pct(floorBatch, 0.5);
console.log(JSON.stringify({
  n: BATCHES * PER_BATCH,
  batches: BATCHES,
  medianUs: pct(latencies, 0.5),
  p99Us: pct(latencies, 0.99),
  waitUsPerEvent: waitUs,
  floorUsPerEvent: floorUs,
  eventsPerSec: 1e6 / waitUs,
  floorEventsPerSec: 1e6 / floorUs,
  ratio: waitUs / floorUs,
}));
