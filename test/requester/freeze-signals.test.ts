/**
 * No filesystem stays frozen, whatever is signalled (issue #13 §2). A requester process (the
 * owner) runs a real backup with the external provider on a loop-mounted filesystem while a test
 * writer waits in the kernel on the frozen filesystem; then one signal goes to the owner, to the
 * freeze guard's watchdog, or to the owner's whole process group (what `timeout -s KILL`, Ctrl-C,
 * Ctrl-\ and Ctrl-Z reach; the owner runs as a job of a shell session), in one of three phases:
 *   freezing  the watchdog is inside FIFREEZE (held there by freezing the filesystem under the
 *             loop image, so the phase lasts until the test lets it end)
 *   frozen    the snapshot command passed the gate and hangs; the owner's JavaScript hangs too
 *   copying   the snapshot command is copying the frozen device; the owner's JavaScript hangs
 * In every cell the writer's write completes within the freeze timeout + 1 s, the snapshot
 * command leaves no process behind, and the backup does not succeed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/requester/backup.js';
import { FrozenFilesystems } from '../../src/requester/fs-freeze.js';
import { loadNative } from '../../src/platform/native.js';
import { restore } from '../../src/requester/restore.js';
import { HR } from '../../src/vss/hresult.js';
import { fileList } from '../../src/vss/writer-metadata.js';
import { dataWriter } from '../support/data-writer.js';
import { loopPrereq, makeLoopFs, type LoopFs } from '../support/loop.js';
import { REPO } from '../support/paths.js';
import { itRequires } from '../support/prereq.js';
import { tempDir } from '../support/state.js';
import { until as poll } from '../support/until.js';

/** The freeze timeout of every cell (the write hold the owner's backup asks for). */
const HOLD_MS = 2000;
/** The goal: writable within the freeze timeout + 1 s. */
const WRITABLE_WITHIN_MS = HOLD_MS + 1000;


// The watchdog's states are brief (inside FIFREEZE, writing back): polled every 5 ms.
const until = <T>(probe: () => T | undefined | false, what: string, timeoutMs: number): Promise<T> => poll(what, probe, timeoutMs, { intervalMs: 5 });

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]).finally(() => clearTimeout(timer));
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]. */
function procStat(pid: number): string[] | undefined {
  const s = readProc(pid, 'stat');
  return s ? s.slice(s.lastIndexOf(')') + 2).split(' ') : undefined;
}

function childrenOf(pid: number): number[] {
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tasks.flatMap((t) => (readProc(pid, `task/${t}/children`) ?? '').split(' ').filter(Boolean).map(Number));
}

/** Live (not zombie) processes of a process group. */
function groupMembers(pgid: number): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => {
    const st = procStat(pid);
    return st !== undefined && st[0] !== 'Z' && Number(st[2]) === pgid;
  });
}

function alive(pid: number): boolean {
  const st = procStat(pid);
  return st !== undefined && st[0] !== 'Z';
}

/**
 * The watchdog is inside FIFREEZE past the point where writers block: writing back dirty data
 * (earlier, in rcu_sync_enter, writes still go through).
 */
function inFreezeWriteback(pid: number): boolean {
  const stack = readProc(pid, 'stack') ?? '';
  return /freeze_super/.test(stack) && /sync_filesystem|ext4_freeze|jbd2/.test(stack);
}

function quietly(f: () => void): void {
  try {
    f();
  } catch {
    // already gone
  }
}

type Phase = 'freezing' | 'frozen' | 'copying';
type Target = 'owner' | 'watchdog' | 'group';
const SIGNALS = [['SIGTERM'], ['SIGINT'], ['SIGHUP'], ['SIGQUIT'], ['SIGKILL'], ['SIGSTOP', 'SIGCONT'], ['SIGTSTP', 'SIGCONT']] as const;
const TARGETS: Target[] = ['owner', 'watchdog', 'group'];
const PHASES: Phase[] = ['freezing', 'frozen', 'copying'];

/** One filesystem per phase, so that phases run side by side and cells of a phase one at a time. */
interface Lane {
  fs: { mountPoint: string; device: string };
  /** freezing: the filesystem that holds the image, frozen to hold FIFREEZE of the inner one. */
  outer?: LoopFs;
  cleanup: (() => void)[];
  queue: Promise<unknown>;
}

const prereq = loopPrereq('ext4');
const lanes = new Map<Phase, Promise<Lane>>();
const laneCleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of laneCleanups.reverse()) c();
});

function innerLoopFs(outer: LoopFs): { mountPoint: string; device: string; cleanup(): void } {
  const image = join(outer.mountPoint, 'inner.img');
  const mountPoint = join(outer.dir, 'inner');
  mkdirSync(mountPoint);
  execFileSync('truncate', ['-s', '160M', image]);
  execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'pipe' });
  const device = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
  execFileSync('mount', [device, mountPoint]);
  return {
    mountPoint,
    device,
    cleanup() {
      quietly(() => execFileSync('fsfreeze', ['-u', outer.mountPoint], { stdio: 'ignore' }));
      quietly(() => execFileSync('fsfreeze', ['-u', mountPoint], { stdio: 'ignore' }));
      quietly(() => execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' }));
      quietly(() => execFileSync('losetup', ['-d', device], { stdio: 'ignore' }));
    },
  };
}

function lane(phase: Phase): Promise<Lane> {
  let l = lanes.get(phase);
  if (!l) {
    l = (async () => {
      let fs: Lane['fs'];
      let outer: LoopFs | undefined;
      if (phase === 'freezing') {
        outer = makeLoopFs('ext4');
        const inner = innerLoopFs(outer);
        laneCleanups.push(() => outer!.cleanup(), () => inner.cleanup());
        fs = inner;
      } else {
        const l = makeLoopFs(phase === 'copying' ? 'xfs' : 'ext4');
        laneCleanups.push(() => l.cleanup());
        fs = l;
      }
      mkdirSync(join(fs.mountPoint, 'data'));
      writeFileSync(join(fs.mountPoint, 'data', 'f'), 'payload');
      return { fs, ...(outer ? { outer } : {}), cleanup: [], queue: Promise.resolve() };
    })();
    lanes.set(phase, l);
  }
  return l;
}

/** Runs `fn` when the lane's previous cell has finished. */
async function inLane<T>(phase: Phase, fn: (l: Lane) => Promise<T>): Promise<T> {
  const l = await lane(phase);
  const previous = l.queue;
  let done!: () => void;
  l.queue = new Promise<void>((r) => (done = r));
  await previous;
  try {
    return await fn(l);
  } finally {
    done();
  }
}

let ownerScript: string | undefined;
let launcher: string | undefined;
/**
 * A shell session that runs the owner as a job in a process group of its own, as an interactive
 * shell's job control does: its group is not orphaned, so a SIGTSTP stops it as Ctrl-Z would (the
 * kernel drops job-control stops aimed at orphaned groups). Exits with the owner's status.
 */
function writeLauncher(): string {
  if (launcher) return launcher;
  launcher = join(tempDir(), 'session.sh');
  writeFileSync(launcher, `ulimit -c 0\nperl -e 'setpgrp(0, 0); exec @ARGV or die "exec: $!"' "$@" &\nwait $!\n`);
  return launcher;
}
/**
 * The owner: a requester process that runs backup() from the built package. Once `hangOn` exists
 * its JavaScript event loop hangs until `release` exists, so that whatever ends the freeze then
 * cannot be JavaScript.
 */
function writeOwnerScript(): string {
  if (ownerScript) return ownerScript;
  const dir = tempDir();
  ownerScript = join(dir, 'owner.mjs');
  writeFileSync(
    ownerScript,
    `import { existsSync, writeFileSync } from 'node:fs';
const { backup } = await import(${JSON.stringify(join(REPO, 'dist', 'requester', 'backup.js'))});
const cfg = JSON.parse(process.argv[2]);
if (cfg.hangOn) {
  const t = setInterval(() => {
    if (!existsSync(cfg.hangOn)) return;
    clearInterval(t);
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const limit = Date.now() + 60000;
    while (!existsSync(cfg.release) && Date.now() < limit) Atomics.wait(cell, 0, 0, 5);
  }, 5);
}
try {
  const r = await backup({ to: cfg.to, writers: [cfg.writer], provider: 'external', snapshotCommand: cfg.command, writeHoldMs: cfg.holdMs });
  writeFileSync(cfg.result, JSON.stringify({ ok: true, files: r.files, writeHolds: r.writeHolds }));
  process.exit(0);
} catch (e) {
  writeFileSync(cfg.result, JSON.stringify({ ok: false, hresult: e.hresult, message: e.message }));
  process.exit(1);
}
`,
  );
  return ownerScript;
}

interface Owner {
  session: ChildProcess;
  /** Leader of its own process group. */
  pid: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  result: string;
  release: string;
}

async function startOwner(cell: string, fs: Lane['fs'], command: string, hang: boolean): Promise<Owner> {
  const result = join(cell, 'result.json');
  const release = join(cell, 'release');
  const cfg = { to: join(cell, 'set'), writer: dataWriter(join(fs.mountPoint, 'data')), command, holdMs: HOLD_MS, result, release, ...(hang ? { hangOn: join(cell, 'started') } : {}) };
  const session = spawn('sh', [writeLauncher(), process.execPath, writeOwnerScript(), JSON.stringify(cfg)], { detached: true, stdio: 'ignore' });
  // The exit status of the session is the owner's: its code, or 128 + the signal that killed it.
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => session.on('exit', (code, signal) => r({ code, signal })));
  const pid = await until(() => childrenOf(session.pid!)[0], 'the owner', 10_000);
  return { session, pid, exit, result, release };
}

/** A write into the filesystem, started while it is frozen; it completes when the freeze ends. */
function startWriter(mountPoint: string, name: string): { pid: number; done: () => boolean } {
  const p = spawn('sh', ['-c', `echo x > "${mountPoint}/${name}"`], { stdio: 'ignore' });
  let exited = false;
  p.on('exit', () => (exited = true));
  return { pid: p.pid!, done: () => exited };
}

/** The snapshot command of each phase; it never finishes by itself within the hold. */
function commandFor(phase: Phase, cell: string): string {
  if (phase === 'copying') {
    return [
      `touch ${cell}/started`,
      'i=0',
      'while :; do',
      `  dd if="$MBAM_VSS_FROZEN_DEVICES" of=${cell}/copy.img bs=1M count=1 skip=$i seek=$i conv=notrunc status=none`,
      `  touch ${cell}/copying; i=$(( (i + 1) % 32 )); sleep 0.05`,
      'done',
    ].join('\n');
  }
  return `touch ${cell}/started; sleep 30; :`;
}

interface CellOutcome {
  writableMs: number;
  leftover: number[];
  watchdogAlive: boolean;
  exit: { code: number | null; signal: NodeJS.Signals | null };
  result?: { ok: boolean; hresult?: number; message?: string };
}

let cellCount = 0;
async function runCell(phase: Phase, target: Target, signals: readonly string[]): Promise<CellOutcome> {
  return inLane(phase, async (l) => {
    const cell = tempDir();
    const n = cellCount++;
    if (phase === 'freezing') {
      // Dirty data for FIFREEZE to write back, into an image whose filesystem is frozen: FIFREEZE
      // waits inside the kernel until the test thaws the outer filesystem.
      writeFileSync(join(l.fs.mountPoint, 'data', `dirty-${n}`), Buffer.alloc(256 * 1024, 1));
      execFileSync('fsfreeze', ['-f', l.outer!.mountPoint]);
    }
    const owner = await startOwner(cell, l.fs, commandFor(phase, cell), phase !== 'freezing');
    let watchdog = 0;
    let commandGroup = 0;
    try {
      watchdog = await until(() => childrenOf(owner.pid)[0], 'the watchdog', 20_000);
      if (phase === 'freezing') await until(() => inFreezeWriteback(watchdog), 'the watchdog inside FIFREEZE, writing back', 10_000);
      else await until(() => existsSync(join(cell, phase === 'copying' ? 'copying' : 'started')), `phase ${phase}`, 10_000);
      // The snapshot command waits at its gate (freezing) or runs, in a process group of its own.
      commandGroup = await until(() => childrenOf(watchdog)[0], 'the snapshot command', 5000);
      const t0 = Date.now();
      const writer = startWriter(l.fs.mountPoint, `probe-${n}`);
      // Proof that the filesystem is frozen: the write sleeps in the kernel.
      await until(() => procStat(writer.pid)?.[0] === 'D' || writer.done(), 'the writer to block', 5000);
      expect(writer.done(), 'the filesystem was not frozen').toBe(false);
      const pid = target === 'owner' ? owner.pid : target === 'watchdog' ? watchdog : -owner.pid;
      process.kill(pid, signals[0] as NodeJS.Signals);
      if (phase === 'freezing') execFileSync('fsfreeze', ['-u', l.outer!.mountPoint]);
      await until(() => writer.done(), 'the write to complete', WRITABLE_WITHIN_MS + 5000).catch(() => undefined);
      const writableMs = writer.done() ? Date.now() - t0 : Infinity;
      if (signals[1]) quietly(() => process.kill(pid, signals[1] as NodeJS.Signals));
      writeFileSync(owner.release, '');
      const exit = await within(owner.exit, 20_000, 'the owner to exit');
      const result = existsSync(owner.result) ? JSON.parse(readFileSync(owner.result, 'utf8')) : undefined;
      // Killed processes are gone by the time their killer thawed; a moment for a reparented one.
      const leftover = await until(() => (groupMembers(commandGroup).length === 0 ? [] : false), 'the command group to end', 2000).catch(() => groupMembers(commandGroup));
      const watchdogAlive = await until(() => !alive(watchdog), 'the watchdog to end', 2000).then(() => false, () => true);
      return { writableMs, leftover, watchdogAlive, exit, ...(result ? { result } : {}) };
    } finally {
      writeFileSync(owner.release, '');
      if (l.outer) quietly(() => execFileSync('fsfreeze', ['-u', l.outer!.mountPoint], { stdio: 'ignore' }));
      quietly(() => process.kill(-owner.pid, 'SIGKILL'));
      quietly(() => owner.session.kill('SIGKILL'));
      if (watchdog) quietly(() => process.kill(watchdog, 'SIGKILL'));
      if (commandGroup) quietly(() => process.kill(-commandGroup, 'SIGKILL'));
      quietly(() => execFileSync('fsfreeze', ['-u', l.fs.mountPoint], { stdio: 'ignore' }));
    }
  });
}

describe.concurrent('signals during a freeze: writable within the freeze timeout + 1 s, no orphaned snapshot command', () => {
  // Interleaved so that the three phases (three filesystems) run side by side.
  for (const signals of SIGNALS) {
    for (const target of TARGETS) {
      for (const phase of PHASES) {
        itRequires(prereq, `${signals.join('/')} → ${target} while ${phase}`, async () => {
          const o = await runCell(phase, target, signals);
          expect(o.writableMs, 'ms until the frozen filesystem took a write').toBeLessThan(WRITABLE_WITHIN_MS);
          expect(o.leftover, 'processes of the snapshot command left running').toEqual([]);
          expect(o.watchdogAlive, 'the watchdog outlived the freeze').toBe(false);
          // The command never finished within the hold: the backup must not succeed.
          expect(o.exit.code, `owner exit (${JSON.stringify(o.result)})`).not.toBe(0);
          expect(o.result?.ok ?? false).toBe(false);
          if (target === 'watchdog') {
            // The owner was not signalled: it finishes, and says what ended the freeze.
            expect(o.exit.code).toBe(1);
            const catchable = signals[0] !== 'SIGKILL' && signals[0] !== 'SIGSTOP';
            // (Killed or stopped inside FIFREEZE, it may not have confirmed the freeze yet.)
            expect(o.result?.message).toMatch(catchable ? `freeze watchdog got ${signals[0]}` : signals[0] === 'SIGKILL' ? /freeze watchdog died/ : /freeze watchdog did not (answer|confirm)/);
          }
        }, 120_000);
      }
    }
  }
});

describe('a freeze that outlived its deadline', () => {
  itRequires(prereq, 'owner and watchdog both stopped past the deadline: the backup fails with VSS_E_HOLD_WRITES_TIMEOUT, never exits 0', async () => {
    const l = makeLoopFs('ext4');
    laneCleanups.push(() => l.cleanup());
    mkdirSync(join(l.mountPoint, 'data'));
    writeFileSync(join(l.mountPoint, 'data', 'f'), 'payload');
    const cell = tempDir();
    // The command finishes by itself, successfully, while both are stopped.
    const owner = await startOwner(cell, l, `touch ${cell}/started; sleep 0.5`, false);
    let watchdog = 0;
    try {
      watchdog = await until(() => childrenOf(owner.pid)[0], 'the watchdog', 20_000);
      await until(() => existsSync(join(cell, 'started')), 'the snapshot command', 10_000);
      process.kill(-owner.pid, 'SIGSTOP');
      process.kill(watchdog, 'SIGSTOP');
      const stoppedAt = Date.now();
      // Nothing can thaw while both are stopped; wait past the deadline and the owner's margin.
      await until(() => Date.now() - stoppedAt > HOLD_MS + 1000 || false, 'time to pass', HOLD_MS + 5000);
      process.kill(watchdog, 'SIGCONT');
      process.kill(-owner.pid, 'SIGCONT');
      const exit = await within(owner.exit, 20_000, 'the owner to exit');
      const result = JSON.parse(readFileSync(owner.result, 'utf8'));
      expect(exit.code).toBe(1);
      expect(result).toMatchObject({ ok: false, hresult: HR.VSS_E_HOLD_WRITES_TIMEOUT });
      expect(result.message).toMatch(/write hold of 2000 ms/);
    } finally {
      quietly(() => process.kill(-owner.pid, 'SIGKILL'));
      quietly(() => owner.session.kill('SIGKILL'));
      if (watchdog) quietly(() => process.kill(watchdog, 'SIGKILL'));
      quietly(() => execFileSync('fsfreeze', ['-u', l.mountPoint], { stdio: 'ignore' }));
    }
  }, 60_000);
});

describe('the freeze guard object', () => {
  it('freezeBegin type-checks its command object, naming the field', () => {
    const native = loadNative() as unknown as { freezeBegin: (...a: unknown[]) => unknown };
    const begin = (command: unknown) => () => native.freezeBegin(['/nonexistent-mbam-vss'], 1000, command);
    expect(begin({ argv: 'sh', env: [], output: '/tmp/x' })).toThrow(/argv/);
    expect(begin({ argv: [], env: [], output: '/tmp/x' })).toThrow(/argv/);
    expect(begin({ argv: ['sh'], env: [], output: '/tmp/x' })).toThrow(/absolute/);
    expect(begin({ argv: ['/bin/sh', 3], env: [], output: '/tmp/x' })).toThrow(/argv/);
    expect(begin({ argv: ['/bin/sh'], env: 'A=1', output: '/tmp/x' })).toThrow(/env/);
    expect(begin({ argv: ['/bin/sh'], env: [], output: 5 })).toThrow(/output/);
    expect(begin({ argv: ['/bin/sh'], env: ['A=\0B'], output: '/tmp/x' })).toThrow(/NUL/);
    expect(begin(42)).toThrow(/command/);
    expect(() => native.freezeBegin(['/tmp'], Number.NaN)).toThrow(/deadline/);
  });

  itRequires(prereq, 'a guard dropped without a thaw is thawed when it is collected, long before its deadline', async () => {
    const l = makeLoopFs('ext4');
    laneCleanups.push(() => l.cleanup());
    const script = join(tempDir(), 'drop.mjs');
    writeFileSync(
      script,
      `const { FrozenFilesystems } = await import(${JSON.stringify(join(REPO, 'dist', 'requester', 'fs-freeze.js'))});
       // Dropped as soon as made (inside a function, so that no frame of this module holds it).
       const drop = async () => void (await FrozenFilesystems.freeze([${JSON.stringify(l.mountPoint)}], { deadlineMs: 60000 }));
       await drop();
       process.stdout.write('frozen\\n');
       const keep = setInterval(() => globalThis.gc(), 20);
       setTimeout(() => clearInterval(keep), 30000);`,
    );
    const child = spawn(process.execPath, ['--expose-gc', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      await until(() => out.includes('frozen'), 'the freeze', 20_000);
      const writer = startWriter(l.mountPoint, 'probe');
      await until(() => writer.done(), 'the collected guard to thaw', 10_000);
      expect(alive(child.pid!)).toBe(true); // the owner lives on: the collection thawed, not its death
    } finally {
      child.kill('SIGKILL');
      quietly(() => execFileSync('fsfreeze', ['-u', l.mountPoint], { stdio: 'ignore' }));
    }
  }, 60_000);

  itRequires(prereq, 'a watchdog killed with SIGKILL: the owner thaws by itself and reports watchdog-lost', async () => {
    const l = makeLoopFs('ext4');
    laneCleanups.push(() => l.cleanup());
    const frozen = await FrozenFilesystems.freeze([l.mountPoint], { deadlineMs: 30_000 });
    const t0 = Date.now();
    const writer = startWriter(l.mountPoint, 'probe');
    process.kill(frozen.watchdogPid, 'SIGKILL');
    await until(() => writer.done(), 'the thaw', 5000);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await frozen.thaw()).toMatchObject({ reason: 'watchdog-lost', thawErrors: 0 });
  }, 60_000);
});

describe('bind mounts', () => {
  itRequires(loopPrereq('ext4'), 'a directory reached through a bind mount of the same filesystem is frozen through its real mount, and backed up', async () => {
    const l = makeLoopFs('ext4');
    laneCleanups.push(() => l.cleanup());
    const bound = join(l.dir, 'bound');
    mkdirSync(join(l.mountPoint, 'a'));
    mkdirSync(join(l.mountPoint, 'b'));
    mkdirSync(bound);
    writeFileSync(join(l.mountPoint, 'a', 'one'), 'one');
    writeFileSync(join(l.mountPoint, 'b', 'two'), 'two');
    execFileSync('mount', ['--bind', join(l.mountPoint, 'b'), bound]);
    laneCleanups.push(() => quietly(() => execFileSync('umount', ['-l', bound], { stdio: 'ignore' })));
    const w = dataWriter(join(l.mountPoint, 'a'));
    w.metadata.components[0]!.files.push(fileList(bound, '*', true));
    // The snapshot command copies each volume's device while it is frozen and mounts the copy.
    const work = tempDir();
    const command = [
      'set -e',
      'if [ "$MBAM_VSS_SNAPSHOT_ACTION" = create ]; then',
      `  i=0; echo "$MBAM_VSS_FROZEN_DEVICES" | while read dev; do cp --sparse=always "$dev" ${work}/snap-$i.img; mount -o loop,ro,noload ${work}/snap-$i.img "$MBAM_VSS_SNAPSHOT_ROOT/$i"; i=$((i+1)); done`,
      'else',
      `  i=0; echo "$MBAM_VSS_FROZEN_DEVICES" | while read dev; do umount "$MBAM_VSS_SNAPSHOT_ROOT/$i" || true; rm -f ${work}/snap-$i.img; i=$((i+1)); done`,
      'fi',
    ].join('\n');
    const set = join(tempDir(), 'set');
    const r = await backup({ to: set, writers: [w], provider: 'external', snapshotCommand: command, writeHoldMs: 10_000 });
    expect(r.volumes.map((v) => v.root).sort()).toEqual([bound, l.mountPoint].sort());
    expect(r.files).toBe(2);
    const out = join(tempDir(), 'out');
    await restore({ from: set, to: out });
    expect(readFileSync(join(out, l.mountPoint, 'a', 'one'), 'utf8')).toBe('one');
    expect(readFileSync(join(out, bound, 'two'), 'utf8')).toBe('two');
  }, 60_000);
});
