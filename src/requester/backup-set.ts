/**
 * The backup set: a directory with manifest.json, each writer's metadata document, a backup
 * components document in VSS's format, writer-provided files (SQL metadata backups, certificates)
 * and the data files. It is built under a temporary name and published by rename, so a failed or
 * killed backup never leaves something that looks complete. Verification recomputes everything;
 * every path read from a set is checked to stay inside it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import type { Guid } from '../vss/guid.js';

export const MANIFEST = 'manifest.json';
export const MANIFEST_FORMAT = 1;

export interface ManifestFile {
  writerId: Guid;
  /** Component key (`logicalPath\name`). */
  component: string;
  /** Where the file was on the backed-up machine (absolute). */
  source: string;
  /** Where it is in the set (relative, '/'-separated). */
  path: string;
  size: number;
  sha256: string;
  mode: number;
}

export interface ManifestWriter {
  writerId: Guid;
  instanceId: Guid;
  name: string;
  metadataFile: string;
  components: string[];
  state: string;
  lastError: number;
}

export interface Manifest {
  format: number;
  tool: string;
  host: string;
  createdAt: string;
  snapshotSetId: Guid;
  backupType: string;
  volumes: { root: string; provider: string; fsType: string }[];
  writers: ManifestWriter[];
  files: ManifestFile[];
  /** Files writers added (SQL metadata backups, certificates), verified like the data files. */
  extras: { writerId: Guid; path: string; size: number; sha256: string }[];
  backupComponentsDocument: string;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fs.promises.open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

function hostile(setDir: string, what: string): VssError {
  return new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, { message: `backup set ${setDir}: ${what}`, category: 'input' });
}

/** A relative '/'-separated path that stays inside the set, resolved; anything else is refused. */
export function insideSet(setDir: string, rel: string): string {
  if (typeof rel !== 'string' || rel === '' || isAbsolute(rel) || rel.includes('\\') || rel.includes('\0') || rel.split('/').some((p) => p === '..' || p === '')) {
    throw hostile(setDir, `path ${JSON.stringify(rel)} is not a plain relative path inside the set`);
  }
  const full = join(setDir, ...rel.split('/'));
  const r = relative(setDir, full);
  if (r.startsWith('..') || isAbsolute(r)) throw hostile(setDir, `path ${JSON.stringify(rel)} leaves the set`);
  return full;
}

/** `target` joined with an absolute source path, refusing anything that would leave `target`. */
export function insideTarget(target: string, source: string): string {
  if (typeof source !== 'string' || !isAbsolute(source) || source.includes('\0') || normalize(source) !== source || source.split(sep).includes('..')) {
    throw new VssError(HR.E_INVALIDARG, { message: `restore: source path ${JSON.stringify(source)} is not a normalised absolute path`, category: 'input' });
  }
  const dest = join(target, source);
  const r = relative(target, dest);
  if (r === '' || r.startsWith('..') || isAbsolute(r)) {
    throw new VssError(HR.E_INVALIDARG, { message: `restore: ${source} would land outside ${target}`, category: 'input' });
  }
  return dest;
}

export function readManifest(setDir: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(join(setDir, MANIFEST), 'utf8')) as Manifest;
  } catch (e) {
    throw hostile(setDir, `${MANIFEST} is missing or not valid JSON (${(e as Error).message})`);
  }
  if (m.format !== MANIFEST_FORMAT || !Array.isArray(m.files) || !Array.isArray(m.writers)) throw hostile(setDir, `${MANIFEST} is not a format-${MANIFEST_FORMAT} manifest`);
  return m;
}

export interface VerifyProblem {
  path: string;
  problem: 'missing' | 'size' | 'checksum' | 'extra' | 'not-a-regular-file' | 'unsafe-path';
  detail?: string;
}

/** Recomputes every file of the set; names each file that differs, is missing or is extra. */
export async function verifyBackupSet(setDir: string, onFile?: (path: string, bytes: number) => void): Promise<{ manifest: Manifest; problems: VerifyProblem[] }> {
  const manifest = readManifest(setDir);
  const problems: VerifyProblem[] = [];
  const expected = new Set<string>([MANIFEST, manifest.backupComponentsDocument]);
  const check = async (rel: string, size: number, sha: string) => {
    expected.add(rel);
    let full: string;
    try {
      full = insideSet(setDir, rel);
    } catch (e) {
      problems.push({ path: rel, problem: 'unsafe-path', detail: (e as Error).message });
      return;
    }
    let st: fs.Stats;
    try {
      st = fs.lstatSync(full);
    } catch {
      problems.push({ path: rel, problem: 'missing' });
      return;
    }
    if (!st.isFile()) return void problems.push({ path: rel, problem: 'not-a-regular-file' });
    if (st.size !== size) return void problems.push({ path: rel, problem: 'size', detail: `${st.size} bytes, manifest says ${size}` });
    if ((await sha256File(full)) !== sha) problems.push({ path: rel, problem: 'checksum' });
    onFile?.(rel, size);
  };
  for (const f of manifest.files) await check(f.path, f.size, f.sha256);
  for (const x of manifest.extras ?? []) await check(x.path, x.size, x.sha256);
  for (const w of manifest.writers) {
    expected.add(w.metadataFile);
    try {
      if (!fs.lstatSync(insideSet(setDir, w.metadataFile)).isFile()) problems.push({ path: w.metadataFile, problem: 'not-a-regular-file' });
    } catch (e) {
      problems.push({ path: w.metadataFile, problem: e instanceof VssError ? 'unsafe-path' : 'missing' });
    }
  }
  for (const rel of listFiles(setDir)) if (!expected.has(rel)) problems.push({ path: rel, problem: 'extra' });
  return { manifest, problems };
}

function listFiles(root: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(root, rel));
    else out.push(rel);
  }
  return out;
}
