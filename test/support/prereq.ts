/**
 * Optional prerequisites (root, loop devices, MinGW, Wine, btrfs): on a developer's laptop a test
 * that needs a missing one is skipped with a one-line reason; with CI=true it is required, and the
 * test fails instead of skipping.
 */
import { it, test } from 'vitest';

export const IN_CI = process.env['CI'] === 'true';

export { commandExists as hasCommand } from '../../src/util/bounded-command.js';

export const isRoot = (): boolean => typeof process.geteuid === 'function' && process.geteuid() === 0;

export interface Prereq {
  ok: boolean;
  reason: string;
}

export function prereq(ok: boolean, reason: string): Prereq {
  return { ok, reason };
}

/**
 * `it` when the prerequisite holds; otherwise a skipped test naming the reason, or under CI=true a
 * test that fails with the reason.
 */
export function itRequires(p: Prereq, name: string, fn: () => unknown | Promise<unknown>, timeout?: number): void {
  if (p.ok) {
    it(name, fn, timeout);
  } else if (IN_CI) {
    it(name, () => {
      throw new Error(`required in CI but missing: ${p.reason}`);
    });
  } else {
    test.skip(`${name} [skipped: ${p.reason}]`, () => {});
  }
}
