/**
 * copyAndHash: every size around the chunk and block boundaries comes out byte-identical with the
 * right SHA-256 and progress, through O_DIRECT where the filesystem takes it (ext4 under the
 * temporary directory here) and buffered where it does not (tmpfs refuses O_DIRECT at open).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyAndHash } from '../../src/requester/copy.js';
import { mountOf } from '../../src/requester/mounts.js';

const MiB = 1 << 20;
const SIZES = [0, 1, 4095, 4096, 4097, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 3 * 4 * MiB + 17, 26 * MiB + 4096];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const places = [tmpdir(), '/dev/shm'].filter((d) => existsSync(d)).map((d) => [d, mountOf(d).fsType]);

describe.each(places)('copyAndHash under %s (%s)', (base) => {
  it.each(SIZES)('%i bytes', async (size) => {
    const dir = mkdtempSync(join(base, 'mbam-copy-'));
    dirs.push(dir);
    const data = randomBytes(size);
    writeFileSync(join(dir, 'src'), data);
    let reported = 0;
    const r = await copyAndHash(join(dir, 'src'), join(dir, 'dst'), (n) => (reported += n));
    expect(r).toEqual({ size, sha256: createHash('sha256').update(data).digest('hex') });
    expect(reported).toBe(size);
    expect(readFileSync(join(dir, 'dst')).equals(data)).toBe(true);
  });
});

describe('copyAndHash', () => {
  it('never overwrites an existing destination', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mbam-copy-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'src'), 'a');
    writeFileSync(join(dir, 'dst'), 'already here');
    await expect(copyAndHash(join(dir, 'src'), join(dir, 'dst'), () => {})).rejects.toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(join(dir, 'dst'), 'utf8')).toBe('already here');
  });
});
