#!/usr/bin/env node
// Event bridge round trip: a native thread calls into JS and waits for the answer, vs the floor
// (the same thread-safe-function call, no wait). Prints one JSON line.
import { createEventBridge, loopbackRun } from '../dist/hosted/bridge.js';

const N = 20000;
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const pct = (xs, p) => sorted(xs)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

const bridge = createEventBridge(() => {});
await loopbackRun(bridge, { events: ['Identify'], timeoutMs: 5000, iterations: 1000 }); // warm-up
let t = process.hrtime.bigint();
const r = await loopbackRun(bridge, { events: ['Identify'], timeoutMs: 5000, iterations: N });
const waitSec = Number(process.hrtime.bigint() - t) / 1e9;
bridge.close();

// Floor: the same calls with no wait (timeoutMs 0); done when JS has run all of them.
let seen = 0;
let resolveAll;
const all = new Promise((r) => (resolveAll = r));
const floor = createEventBridge(() => { if (++seen === N) resolveAll(); });
t = process.hrtime.bigint();
await loopbackRun(floor, { events: ['Identify'], timeoutMs: 0, iterations: N });
await all;
const floorSec = Number(process.hrtime.bigint() - t) / 1e9;
floor.close();

const lat = r.map((x) => x.elapsedMs * 1000);
console.log(JSON.stringify({ n: N, medianUs: pct(lat, 0.5), p99Us: pct(lat, 0.99), eventsPerSec: N / waitSec, floorEventsPerSec: N / floorSec }));
