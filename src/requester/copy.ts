/**
 * Copying a file into a backup set while hashing it, in one pass over the source and in constant
 * memory.
 *
 * Both ends are opened with O_DIRECT where the filesystem allows it: the data goes from the disk
 * into our buffer, is hashed there, and goes from the same buffer to the disk. Buffered I/O would
 * copy every byte twice more through the page cache (in, and out again) and leave gigabytes of
 * dirty pages for writeback; on a 2-core machine that kernel work competes with SHA-256 for the
 * CPU. It also keeps a backup from evicting the page cache a database server relies on.
 *
 * The pipeline keeps reads ahead, writes behind and the hash in the middle busy at once: a ring of
 * page-aligned buffers, up to READ_AHEAD reads in flight on the pool threads, writes queued behind
 * them, the hash on this thread. Where the two filesystems can share extents (FICLONE), the data
 * is cloned instead and only read to hash.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { abortError, VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { posixAddon, type PosixAddon } from '../platform/native.js';

/** O_DIRECT wants the offset, the length and the buffer's address aligned to the logical block size. */
const ALIGN = 4096;
const CHUNK = 4 << 20;
const BUFFERS = 6;
const READ_AHEAD = 2;

async function open(path: string, flags: number, mode: number | undefined, direct: boolean): Promise<{ fh: fs.promises.FileHandle; direct: boolean }> {
  if (direct) {
    try {
      return { fh: await fs.promises.open(path, flags | fs.constants.O_DIRECT, mode), direct: true };
    } catch (e) {
      // tmpfs and some FUSE filesystems refuse O_DIRECT at open.
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
    }
  }
  return { fh: await fs.promises.open(path, flags, mode), direct: false };
}

const isEinval = (e: unknown) => (e as NodeJS.ErrnoException)?.code === 'EINVAL';

/**
 * With `signal`, an abort is noticed between buffers (every 4 MiB): the copy stops, waits for the
 * transfers in flight, and rejects with the abort's error; the caller removes the partial file.
 */
export async function copyAndHash(src: string, dst: string, onBytes: (n: number) => void, signal?: AbortSignal): Promise<{ size: number; sha256: string }> {
  let reported = 0;
  try {
    return await copyOnce(src, dst, true, (n) => {
      reported += n;
      onBytes(n);
    }, signal);
  } catch (e) {
    // A filesystem that takes O_DIRECT at open but refuses an aligned transfer (EINVAL): start
    // again buffered, without counting the bytes already reported twice.
    if (!isEinval(e)) throw e;
  }
  await fs.promises.rm(dst, { force: true });
  let skip = reported;
  return copyOnce(src, dst, false, (n) => {
    const seen = Math.min(skip, n);
    skip -= seen;
    if (n > seen) onBytes(n - seen);
  }, signal);
}

/**
 * Rings of page-aligned buffers, kept for the next copy: their memory lives outside the JavaScript
 * heap, where the garbage collector does not feel it, so a backup of many small files must not
 * leave one ring per file waiting to be collected.
 */
const idleRings: Buffer[][] = [];
function takeRing(native: PosixAddon): Buffer[] {
  return idleRings.pop() ?? Array.from({ length: BUFFERS }, () => native.alignedBuffer(CHUNK));
}
function giveBack(ring: Buffer[]): void {
  if (idleRings.length < 2) idleRings.push(ring);
}

async function copyOnce(src: string, dst: string, tryDirect: boolean, onBytes: (n: number) => void, signal: AbortSignal | undefined): Promise<{ size: number; sha256: string }> {
  const native = posixAddon();
  const h = createHash('sha256');
  const ring = takeRing(native);
  let input: Awaited<ReturnType<typeof open>> | undefined;
  let output: Awaited<ReturnType<typeof open>> | undefined;
  const reads: (Promise<{ bytesRead: number }> | undefined)[] = new Array(BUFFERS).fill(undefined);
  const writes: (Promise<unknown> | undefined)[] = new Array(BUFFERS).fill(undefined);
  const checkAbort = () => {
    if (signal?.aborted) throw abortError(signal, `copying ${src}`);
  };
  try {
    checkAbort();
    input = await open(src, fs.constants.O_RDONLY, undefined, tryDirect);
    output = await open(dst, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600, tryDirect);
    const inF = input.fh;
    const outF = output.fh;
    const directOut = output.direct;
    const size = (await inF.stat()).size;
    const cloned = size > 0 && native.reflink(inF.fd, outF.fd);
    let issued = 0;
    // A transfer may fail while the loop awaits another one (ENOSPC on a write behind): it is
    // remembered and thrown at the next buffer, never left as an unhandled rejection that would
    // take the process down.
    let failed: { error: unknown } | undefined;
    const watch = <T>(p: Promise<T>): Promise<T> => {
      p.catch((error: unknown) => void (failed ??= { error }));
      return p;
    };
    // Reads go up to one chunk past the end, so that a source that grows is noticed.
    const issueRead = () => {
      if (issued * CHUNK > size || signal?.aborted) return;
      const slot = issued % BUFFERS;
      const at = issued * CHUNK;
      issued++;
      // The buffer must have finished going out before it is filled again.
      const before = writes[slot];
      writes[slot] = undefined;
      reads[slot] = watch((before ?? Promise.resolve()).then(() => inF.read(ring[slot]!, 0, CHUNK, at)));
    };
    for (let r = 0; r < READ_AHEAD; r++) issueRead();
    let pos = 0;
    for (let i = 0; ; i++) {
      const slot = i % BUFFERS;
      const reading = reads[slot];
      if (!reading) break;
      const { bytesRead } = await reading;
      reads[slot] = undefined;
      checkAbort();
      if (failed) throw failed.error;
      if (bytesRead === 0) break;
      issueRead();
      const cur = ring[slot]!;
      if (!cloned) {
        const at = pos;
        // O_DIRECT writes whole blocks: the last one goes out rounded up and the file is cut back.
        const length = directOut ? Math.ceil(bytesRead / ALIGN) * ALIGN : bytesRead;
        writes[slot] = watch(outF.write(cur, 0, length, at).then(() => {
          // Buffered: flush as we go instead of all at the final fsync.
          if (!directOut) native.startWriteback(outF.fd, at, bytesRead);
        }));
      }
      h.update(cur.subarray(0, bytesRead));
      pos += bytesRead;
      onBytes(bytesRead);
      if (bytesRead < CHUNK) break;
    }
    await Promise.all(writes);
    checkAbort();
    if (pos !== size) throw new VssError(HR.E_FAIL, { message: `${src} changed size while being copied (${size} → ${pos} bytes): the source is not a stable snapshot` });
    if (directOut && !cloned && pos % ALIGN !== 0) await outF.truncate(pos);
    await outF.sync();
    return { size, sha256: h.digest('hex') };
  } finally {
    // Neither a buffer nor a descriptor may be reused or closed while a pool thread still has it.
    await Promise.allSettled([...reads, ...writes]);
    giveBack(ring);
    await input?.fh.close();
    await output?.fh.close();
  }
}
