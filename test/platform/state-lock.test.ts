/**
 * The state lock within one process: re-entrant for the async chain that holds it (an install
 * registering a writer takes it again inside itself), exclusive for every other caller, as it is
 * between processes.
 */
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withStateLock } from '../../src/platform/state.js';
import { HR } from '../../src/vss/hresult.js';
import { tempDir } from '../support/state.js';

/** Lets every other ready callback run (several turns of the event loop), without a timer. */
const yieldTurns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

describe('withStateLock in one process', () => {
  it('two unrelated calls never run inside the lock at once', async () => {
    const stateDir = tempDir();
    let inside = 0;
    let most = 0;
    const order: string[] = [];
    const entered = gate();
    const caller = (name: string) =>
      withStateLock(stateDir, async () => {
        inside++;
        most = Math.max(most, inside);
        order.push(`${name} in`);
        entered.open();
        await yieldTurns();
        order.push(`${name} out`);
        inside--;
      });
    const a = caller('a');
    // The others ask while a is inside (from outside its async chain).
    await entered.opened;
    await Promise.all([a, caller('b'), caller('c')]);
    expect(most).toBe(1);
    // In the order they asked.
    expect(order).toEqual(['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
  });

  it('a call from outside the holder waits, and times out while the holder keeps the lock', async () => {
    const stateDir = tempDir();
    const release = gate();
    const entered = gate();
    const holder = withStateLock(stateDir, async () => {
      entered.open();
      await release.opened;
    });
    await entered.opened;
    let ran = false;
    const err = await withStateLock(stateDir, () => void (ran = true), 200).catch((e) => e);
    expect(ran).toBe(false);
    expect(err).toMatchObject({ hresult: HR.VSS_E_SNAPSHOT_SET_IN_PROGRESS, category: 'precondition' });
    expect(err.message).toContain(join(stateDir, 'lock'));
    // The caller that gave up does not hold up the next one.
    const next = withStateLock(stateDir, () => 'next');
    release.open();
    await holder;
    await expect(next).resolves.toBe('next');
  });

  it('is re-entrant within the holder, across awaits and timers, and releases after the outermost call', async () => {
    const stateDir = tempDir();
    const result = await withStateLock(stateDir, async () => {
      await yieldTurns();
      const viaTimer = await new Promise<string>((resolve, reject) =>
        setTimeout(() => withStateLock(stateDir, () => 'timer', 1_000).then(resolve, reject), 0),
      );
      const nested = await withStateLock(stateDir, () => withStateLock(stateDir, async () => 'nested'), 1_000);
      return `${viaTimer} ${nested}`;
    });
    expect(result).toBe('timer nested');
    // Released: an unrelated call gets it at once.
    await expect(withStateLock(stateDir, () => 'after', 1_000)).resolves.toBe('after');
  });

  it('a callback the holder started that runs after the release does not count as holding it', async () => {
    const stateDir = tempDir();
    const order: string[] = [];
    const go = gate();
    let late: Promise<string> | undefined;
    await withStateLock(stateDir, () => {
      // The holder's async chain, but it calls in only after the holder has returned.
      late = go.opened.then(() =>
        withStateLock(stateDir, async () => {
          order.push('late in');
          await yieldTurns();
          order.push('late out');
          return 'late';
        }),
      );
    });
    await withStateLock(stateDir, async () => {
      order.push('other in');
      go.open();
      await yieldTurns(10);
      order.push('other out');
    });
    await expect(late).resolves.toBe('late');
    expect(order).toEqual(['other in', 'other out', 'late in', 'late out']);
  });

  it('a relative and an absolute spelling of one directory are one lock', async () => {
    const stateDir = tempDir();
    const spelled = relative(process.cwd(), stateDir);
    await expect(withStateLock(stateDir, () => withStateLock(spelled, () => 'same', 1_000))).resolves.toBe('same');
  });
});
