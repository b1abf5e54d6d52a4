import { describe, expect, it } from 'vitest';
import { withDeadline } from '../../src/util/deadline.js';

const after = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

describe('withDeadline', () => {
  it('the promise wins when it settles first', async () => {
    expect(await withDeadline(after(5, 'done'), 1000, () => 'expired')).toBe('done');
    await expect(withDeadline(Promise.reject(new Error('own failure')), 1000, () => 'expired')).rejects.toThrow('own failure');
  });
  it('the expiry wins otherwise, by value or by throw', async () => {
    expect(await withDeadline(after(1000, 'done'), 10, () => 'expired')).toBe('expired');
    await expect(withDeadline(after(1000, 'done'), 10, () => { throw new Error('too late'); })).rejects.toThrow('too late');
  });
  it('an infinite deadline is no deadline', async () => {
    expect(await withDeadline(after(5, 'done'), Infinity, () => 'expired')).toBe('done');
  });
});
