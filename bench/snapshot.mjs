#!/usr/bin/env node
// Snapshot benchmarks (root): node bench/snapshot.mjs <window|throughput|memory> [args]
//   window <ext4|btrfs>   blocked-writes window seen by a separate writer process (max gap between
//                         two completed write+fdatasync), ours vs the raw shell sequence
//   throughput <MiB>      backup of one file of that size (copy provider, ext4 loop image) vs cp
//   memory <MiB>          peak RSS of a backup of one file of that size
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backup } from '../dist/index.js';
import { createExternalSnapshots, createBtrfsSnapshots, releaseBtrfsSnapshots, planVolume } from '../dist/requester/providers.js';

const [mode, arg] = process.argv.slice(2);
const sh = (cmd) => execFileSync('sh', ['-c', cmd], { stdio: 'pipe' }).toString();
const work = mkdtempSync(join(tmpdir(), 'mbam-bench-'));

function loopFs(kind, sizeMiB) {
  const img = join(work, `${kind}.img`);
  const mnt = join(work, `${kind}-mnt`);
  mkdirSync(mnt);
  sh(`truncate -s ${sizeMiB}M ${img} && ${kind === 'btrfs' ? 'mkfs.btrfs -q -f' : 'mkfs.ext4 -q -F'} ${img}`);
  // Direct I/O makes the loop device behave like a real disk (no second page-cache copy).
  const dev = sh(`losetup --direct-io=on --find --show ${img}`).trim();
  sh(`mount ${dev} ${mnt}`);
  return { img, mnt, dev, cleanup: () => { try { sh(`umount ${mnt}; losetup -d ${dev}`); } catch {} } };
}

const PROBE = `
const fs = require('fs'); const fd = fs.openSync(process.argv[2], 'w');
let last = process.hrtime.bigint(), max = 0n, stop = false;
process.on('SIGUSR1', () => { stop = true; });
(function loop() {
  for (let i = 0; i < 50 && !stop; i++) { fs.writeSync(fd, 'x'.repeat(512)); fs.fdatasyncSync(fd); const now = process.hrtime.bigint(); if (now - last > max) max = now - last; last = now; }
  if (stop) { console.log(Number(max) / 1e6); process.exit(0); } setImmediate(loop);
})();`;

async function withProbe(dir, fn) {
  const script = join(work, 'probe.cjs');
  writeFileSync(script, PROBE);
  const p = spawn(process.execPath, [script, join(dir, 'probe.dat')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  await new Promise((r) => setTimeout(r, 500));
  await fn();
  await new Promise((r) => setTimeout(r, 300));
  p.kill('SIGUSR1');
  await new Promise((r) => p.on('close', r));
  return Number(out.trim());
}

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const result = {};
try {
  if (mode === 'window' && arg === 'ext4') {
    const fs = loopFs('ext4', 512);
    const snapCmd = `cp --sparse=always "$MBAM_VSS_FROZEN_DEVICES" ${work}/snap.img`;
    const ours = [], raw = [], held = [];
    const runOurs = async () => ours.push(await withProbe(fs.mnt, async () => {
      const v = planVolume(fs.mnt, 'external', true);
      held.push(await createExternalSnapshots([v], { command: snapCmd, snapshotSetId: 'bench', exposeRoot: join(work, 'expose'), writeHoldMs: 10000, protect: [] }));
    }));
    const runRaw = async () => raw.push(await withProbe(fs.mnt, async () => sh(`fsfreeze -f ${fs.mnt}; MBAM_VSS_FROZEN_DEVICES=${fs.dev} sh -c '${snapCmd}'; fsfreeze -u ${fs.mnt}`)));
    // Alternate which goes first, so that neither always meets the other's leftovers.
    for (let i = 0; i < 15; i++) {
      if (i % 2) { await runRaw(); await runOurs(); } else { await runOurs(); await runRaw(); }
    }
    fs.cleanup();
    Object.assign(result, { oursMs: median(ours), rawMs: median(raw), heldMs: median(held) });
  } else if (mode === 'window' && arg === 'btrfs') {
    const fs = loopFs('btrfs', 512);
    const ours = [], raw = [];
    for (let i = 0; i < 5; i++) {
      ours.push(await withProbe(fs.mnt, async () => {
        const v = planVolume(fs.mnt, 'btrfs', false);
        await createBtrfsSnapshots([v], `bench${i}`);
        releaseBtrfsSnapshots([v], `bench${i}`);
      }));
      raw.push(await withProbe(fs.mnt, async () => sh(`btrfs -q subvolume snapshot -r ${fs.mnt} ${fs.mnt}/raw${i} && btrfs -q subvolume delete ${fs.mnt}/raw${i}`)));
    }
    fs.cleanup();
    Object.assign(result, { oursMs: median(ours), rawMs: median(raw) });
  } else if (mode === 'throughput' || mode === 'memory') {
    const mib = Number(arg);
    const fs = loopFs('ext4', mib + 512);
    const data = join(fs.mnt, 'data');
    mkdirSync(data);
    sh(`head -c ${mib}M /dev/urandom > ${data}/big.bin && sync`);
    const outDir = join(work, 'out');
    mkdirSync(outDir);
    const writer = { metadata: { version: '1.2', identity: { writerId: '1f1f1f1f-1f1f-4f1f-8f1f-1f1f1f1f1f1f', instanceId: '2f2f2f2f-2f2f-4f2f-8f2f-2f2f2f2f2f2f', friendlyName: 'Bench', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 }, components: [{ type: 'FILEGROUP', componentName: 'big', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [{ kind: 'FILE_LIST', path: data, filespec: '*', recursive: false }], dependencies: [] }], excludeFiles: [], excludeFilesFromSnapshot: [] } };
    const drop = () => sh('sync; echo 3 > /proc/sys/vm/drop_caches');
    if (mode === 'throughput') {
      const ours = [], cp = [], cpsum = [];
      for (let i = 0; i < 5; i++) {
        drop();
        let t = process.hrtime.bigint();
        await backup({ to: join(outDir, `set${i}`), writers: [writer], provider: 'copy' });
        ours.push(Number(process.hrtime.bigint() - t) / 1e6);
        rmSync(join(outDir, `set${i}`), { recursive: true });
        drop();
        t = process.hrtime.bigint();
        sh(`cp ${data}/big.bin ${outDir}/cp.bin && sync -f ${outDir}/cp.bin`);
        cp.push(Number(process.hrtime.bigint() - t) / 1e6);
        rmSync(join(outDir, 'cp.bin'));
        drop();
        t = process.hrtime.bigint();
        sh(`cp ${data}/big.bin ${outDir}/cp.bin && sync -f ${outDir}/cp.bin && sha256sum ${data}/big.bin > /dev/null`);
        cpsum.push(Number(process.hrtime.bigint() - t) / 1e6);
        rmSync(join(outDir, 'cp.bin'));
      }
      Object.assign(result, { mib, oursMs: median(ours), cpMs: median(cp), cpSha256Ms: median(cpsum) });
    } else {
      const before = process.memoryUsage().rss;
      await backup({ to: join(outDir, 'set'), writers: [writer], provider: 'copy' });
      Object.assign(result, { mib, peakRssMiB: process.resourceUsage().maxRSS / 1024, startRssMiB: before / 1048576 });
    }
    fs.cleanup();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
