#!/usr/bin/env node
// One benchmark case in a fresh process (so peak RSS belongs to this case alone):
//   node bench/wmd.mjs <components> <parse|read|write>
// Prints one JSON line: median ms per operation over the repetitions, and peak RSS growth.
import { XMLParser } from 'fast-xml-parser';
import { parseWriterMetadata, writeWriterMetadata, fileList } from '../dist/index.js';

const n = Number(process.argv[2]);
const mode = process.argv[3];

function makeMetadata(count) {
  return {
    version: '1.2',
    identity: {
      writerId: 'aaf1bbf5-9b9f-4d72-b82d-5ccddc74336d', instanceId: '28847a97-c172-5037-8699-db0e2cc68d31',
      friendlyName: 'Bench Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0,
    },
    restoreMethod: { method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'NEVER', rebootRequired: false },
    components: Array.from({ length: count }, (_, i) => ({
      type: 'FILEGROUP', logicalPath: `Group${i % 16}`, componentName: `component-${i}`, caption: `Component number ${i}`,
      restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0,
      files: [fileList(`/srv/data/${i}`, `db${i}.mdf`), fileList(`/srv/data/${i}`, `db${i}_log.ldf`)],
      dependencies: [],
    })),
    excludeFiles: [], excludeFilesFromSnapshot: [],
  };
}

const md = makeMetadata(n);
const xml = writeWriterMetadata(md);
// The library alone, with the options our reader gives it (attributes kept, order preserved).
const bare = new XMLParser({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '', parseAttributeValue: false, parseTagValue: false, processEntities: false });
const op = { parse: () => bare.parse(xml), read: () => parseWriterMetadata(xml), write: () => writeWriterMetadata(md) }[mode];

global.gc?.();
const rss0 = process.memoryUsage().rss;
const reps = n >= 10000 ? 5 : n >= 100 ? 200 : 2000;
op(); // warm-up
const times = [];
for (let i = 0; i < reps; i++) {
  const t = process.hrtime.bigint();
  op();
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
}
times.sort((a, b) => a - b);
const peakKb = process.resourceUsage().maxRSS - Math.round(rss0 / 1024);
console.log(JSON.stringify({ n, mode, bytes: Buffer.byteLength(xml), reps, medianMs: times[Math.floor(times.length / 2)], peakRssGrowthMiB: Math.max(0, peakKb) / 1024 }));
