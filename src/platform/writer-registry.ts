/**
 * The express-writer store for POSIX: what `%SystemRoot%\Vss\Writers\*.xml` is on Windows. Each
 * registered writer is a directory `writers/<writerId>/` holding its metadata document
 * (`metadata.xml`) and a small record (`record.json`: when, by which tool, the dependencies VSS
 * keeps outside the XML, and the document's SHA-256).
 *
 * A registration appears and disappears by one rename of that directory, so no reader ever sees
 * half of one: it is built under `.tmp-*`, synced, then renamed into place (rename onto an existing
 * non-empty directory fails, which is also how "already exists" is detected atomically), and
 * removed by renaming it to `.trash-*` first. Callers hold the state lock.
 *
 * `<state>/writers-index.json` maps each entry to its instance id and name, so that a lookup by
 * instance id or name (and every miss of one) reads one file instead of every entry. It is a cache,
 * removed durably before any change and rewritten after it, so a crash in between leaves no index
 * (the next lookup reads the entries, the next change rebuilds it) rather than a stale one. It
 * records the state of `writers/` it describes (inode, link count, modification time): an entry
 * added or removed behind the registry's back changes the link count (entries are directories)
 * and the time, and the index is then not used. A hit is checked against the entry's record.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { VssError } from '../vss/errors.js';
import { isGuid, parseGuid, type Guid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import {
  componentKey, parseWriterMetadata, writeWriterMetadata, type ComponentDependency, type WriterMetadata,
} from '../vss/writer-metadata.js';
import { ensurePrivateDir, fsyncDir, stateAccessError, writeSyncedFile } from './state.js';
import { TOOL_VERSION } from '../version.js';

export interface RegistrationRecord {
  format: 1;
  writerId: Guid;
  instanceId: Guid;
  friendlyName: string;
  instanceName?: string;
  registeredAt: string;
  toolVersion: string;
  metadataSha256: string;
  /** Component dependencies by component key (`logicalPath\name`), which the XML does not carry. */
  dependencies: Record<string, ComponentDependency[]>;
}

export interface Registration {
  writerId: Guid;
  metadata: WriterMetadata;
  xml: string;
  record: RegistrationRecord;
}

export interface RegistryProblem {
  path: string;
  problem: string;
}

/** What the index knows of an entry; null for an entry that could not be read (a problem). */
type IndexEntry = { instanceId: Guid; name: string } | null;

/** The index file: one row per entry, sorted by entry name; an unreadable entry has its name alone. */
interface RegistryIndexFile {
  format: 1;
  /** fileIdentity of `writers/` when the index was written. */
  dir: string;
  writers: ([name: string, instanceId: Guid, friendlyName: string] | [name: string])[];
}

/** The index in memory: entries by name, and the state of `writers/` they describe. */
type RegistryIndex = Map<string, IndexEntry> & { dir?: string };

const INDEX_FILE = 'writers-index.json';
const isLeftover = (name: string) => name.startsWith('.tmp-') || name.startsWith('.trash-');

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export class WriterRegistry {
  readonly dir: string;

  constructor(readonly stateDir: string) {
    this.dir = join(stateDir, 'writers');
  }

  private entryDir(writerId: string): string {
    return join(this.dir, parseGuid(writerId, 'writer id'));
  }

  /** Registers a writer; VSS_E_OBJECT_ALREADY_EXISTS when one with this writer id is registered. */
  register(md: WriterMetadata): Registration {
    ensurePrivateDir(this.dir);
    // A current index means no change was interrupted since it was written: nothing to sweep.
    if (!this.currentIndex()) this.sweep();
    const writerId = parseGuid(md.identity.writerId);
    const final = this.entryDir(writerId);
    if (fs.existsSync(final)) throw alreadyExists(md, final);
    const index = this.beginChange();
    // On failure the index stays removed: the next lookup reads the entries, the next change sweeps.
    const registration = this.registerEntry(md, writerId, final);
    this.endChange(index, writerId, { instanceId: registration.record.instanceId, name: registration.record.friendlyName });
    return registration;
  }

  private registerEntry(md: WriterMetadata, writerId: Guid, final: string): Registration {
    const xml = writeWriterMetadata(md);
    const dependencies: Record<string, ComponentDependency[]> = {};
    for (const c of md.components) if (c.dependencies.length) dependencies[componentKey(c)] = c.dependencies;
    const record: RegistrationRecord = {
      format: 1,
      writerId,
      instanceId: parseGuid(md.identity.instanceId),
      friendlyName: md.identity.friendlyName,
      ...(md.identity.instanceName !== undefined ? { instanceName: md.identity.instanceName } : {}),
      registeredAt: new Date().toISOString(),
      toolVersion: TOOL_VERSION,
      metadataSha256: sha256(xml),
      dependencies,
    };
    const tmp = join(this.dir, `.tmp-${writerId}-${randomBytes(4).toString('hex')}`);
    fs.mkdirSync(tmp, { mode: 0o700 });
    try {
      writeSyncedFile(join(tmp, 'metadata.xml'), xml);
      writeSyncedFile(join(tmp, 'record.json'), JSON.stringify(record, null, 2) + '\n');
      fsyncDir(tmp);
      fs.renameSync(tmp, final);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw alreadyExists(md, final);
      throw e;
    }
    fsyncDir(this.dir);
    return { writerId, metadata: this.withDependencies(parseWriterMetadata(xml), record), xml, record };
  }

  /** Unregisters; VSS_E_OBJECT_NOT_FOUND when absent. Works on a corrupt entry too. */
  unregister(writerId: string): void {
    const final = this.entryDir(writerId);
    if (!fs.existsSync(final)) {
      throw new VssError(HR.VSS_E_OBJECT_NOT_FOUND, { message: `no writer with id ${parseGuid(writerId)} is registered (${this.dir})` });
    }
    const trash = join(this.dir, `.trash-${parseGuid(writerId)}-${randomBytes(4).toString('hex')}`);
    const index = this.beginChange();
    fs.renameSync(final, trash);
    fsyncDir(this.dir);
    fs.rmSync(trash, { recursive: true, force: true });
    // After the trash is gone: the index records the directory as it is left.
    this.endChange(index, parseGuid(writerId), 'removed');
  }

  /**
   * The writer id of the registration with this instance id, or this friendly name (ignoring
   * case), or undefined: from the index while it is current, else by reading every record.
   */
  findWriterId(by: { instanceId: Guid } | { name: string }): Guid | undefined {
    const wanted = 'instanceId' in by ? parseGuid(by.instanceId) : by.name.toLowerCase();
    const matches = (e: IndexEntry) => !!e && ('instanceId' in by ? e.instanceId === wanted : e.name.toLowerCase() === wanted);
    const index = this.currentIndex();
    if (index) {
      let hit: string | undefined;
      for (const [id, e] of index) {
        if (matches(e)) {
          hit = id;
          break;
        }
      }
      if (!hit) return undefined;
      // The index names the entry; the entry's own record has the last word.
      try {
        const r = this.readRecord(this.entryDir(hit)).record;
        if (matches({ instanceId: r.instanceId, name: r.friendlyName })) return parseGuid(hit);
      } catch {
        // unreadable now: fall through to reading every record
      }
    }
    return this.listRecords().registrations.find((r) => matches({ instanceId: r.instanceId, name: r.friendlyName }))?.writerId;
  }

  /** One registration's record, checked against its document's SHA-256 but not parsed. */
  getRecord(writerId: string): RegistrationRecord | undefined {
    const dir = this.entryDir(writerId);
    if (!fs.existsSync(dir)) return undefined;
    return this.readRecord(dir).record;
  }

  private get indexPath(): string {
    return join(this.stateDir, INDEX_FILE);
  }

  /**
   * The index file, parsed; the last one read or written is kept with the file's identity (inode,
   * size, change time in ns), which every rename onto the name changes.
   */
  private readIndex(): RegistryIndex | undefined {
    const id = fileIdentity(this.indexPath);
    if (id === undefined) return undefined;
    if (this.indexCache?.id === id) return this.indexCache.index;
    let file: RegistryIndexFile;
    try {
      file = JSON.parse(fs.readFileSync(this.indexPath, 'utf8')) as RegistryIndexFile;
    } catch {
      return undefined; // torn by a crash (it is written without fsync), or gone since the stat
    }
    if (file?.format !== 1 || !Array.isArray(file.writers) || typeof file.dir !== 'string') return undefined;
    const index: RegistryIndex = Object.assign(new Map<string, IndexEntry>(), { dir: file.dir });
    for (const row of file.writers) {
      if (!Array.isArray(row) || typeof row[0] !== 'string') return undefined;
      index.set(row[0], row.length === 3 ? { instanceId: row[1], name: row[2] } : null);
    }
    this.indexCache = { id, index };
    return index;
  }

  private indexCache: { id: string; index: RegistryIndex } | undefined;

  private entryNames(): string[] {
    return safeReaddir(this.dir).filter((n) => !isLeftover(n));
  }

  /** The index if `writers/` is as it was when the index was written. */
  private currentIndex(): RegistryIndex | undefined {
    const index = this.readIndex();
    return index && index.dir === dirIdentity(this.dir) ? index : undefined;
  }

  /**
   * Reads the current index, then removes it durably before the registry changes: were the change
   * to reach the disk and the removal not, a crash would leave an index that looks current (same
   * entry names) but is not (a writer re-registered with another instance id).
   */
  private beginChange(): RegistryIndex | undefined {
    const index = this.currentIndex();
    if (fs.existsSync(this.indexPath)) {
      fs.rmSync(this.indexPath, { force: true });
      fsyncDir(this.stateDir);
    }
    return index;
  }

  /** Writes the index after a change (rebuilt from the entries when there was no current one). */
  private endChange(before: RegistryIndex | undefined, writerId: Guid, change: IndexEntry | 'removed'): void {
    let index: RegistryIndex;
    if (before) {
      index = new Map(before) as RegistryIndex;
      if (change === 'removed') index.delete(writerId);
      else index.set(writerId, change);
    } else {
      index = new Map();
      for (const name of this.entryNames()) {
        try {
          parseGuid(name);
          const r = this.readRecord(join(this.dir, name)).record;
          index.set(name, { instanceId: r.instanceId, name: r.friendlyName });
        } catch {
          index.set(name, null);
        }
      }
    }
    const dir = dirIdentity(this.dir);
    if (dir === undefined) return;
    index.dir = dir;
    const file: RegistryIndexFile = {
      format: 1,
      dir,
      writers: [...index.keys()].sort().map((k) => {
        const e = index.get(k);
        return e ? [k, e.instanceId, e.name] : [k];
      }),
    };
    // No fsync: after a crash a torn or lost index only means reading the entries once more.
    const tmp = `${this.indexPath}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(file), { mode: 0o600 });
      fs.renameSync(tmp, this.indexPath);
      const id = fileIdentity(this.indexPath);
      this.indexCache = id === undefined ? undefined : { id, index };
    } catch {
      // An index that cannot be written is not an error of the registration: lookups read entries.
      fs.rmSync(tmp, { force: true });
    }
  }

  get(writerId: string): Registration | undefined {
    const dir = this.entryDir(writerId);
    if (!fs.existsSync(dir)) return undefined;
    return this.read(dir);
  }

  /** Every registration, and every entry that could not be read (named, never silently dropped). */
  list(): { registrations: Registration[]; problems: RegistryProblem[] } {
    return this.scan((dir) => this.read(dir));
  }

  /**
   * Every registration's record, each checked against its document's SHA-256 but without parsing
   * the document: what listing writers needs, at the cost of reading the files.
   */
  listRecords(): { registrations: RegistrationRecord[]; problems: RegistryProblem[] } {
    return this.scan((dir) => this.readRecord(dir).record);
  }

  private scan<T>(read: (dir: string) => T): { registrations: T[]; problems: RegistryProblem[] } {
    const registrations: T[] = [];
    const problems: RegistryProblem[] = [];
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { registrations, problems };
      throw e;
    }
    for (const name of names.sort()) {
      const path = join(this.dir, name);
      if (isLeftover(name)) continue; // swept under the lock
      try {
        parseGuid(name);
        registrations.push(read(path));
      } catch (e) {
        problems.push({ path, problem: e instanceof VssError ? e.message : String((e as Error).message ?? e) });
      }
    }
    return { registrations, problems };
  }

  /** Removes leftovers of a registration or removal that a crash interrupted. */
  sweep(): void {
    let changed = false;
    for (const name of safeReaddir(this.dir)) {
      if (isLeftover(name)) {
        fs.rmSync(join(this.dir, name), { recursive: true, force: true });
        changed = true;
      }
    }
    if (changed) fsyncDir(this.dir);
  }

  private readRecord(dir: string): { xml: string; record: RegistrationRecord } {
    let xml: string;
    let record: RegistrationRecord;
    const xmlPath = join(dir, 'metadata.xml');
    const recordPath = join(dir, 'record.json');
    try {
      xml = fs.readFileSync(xmlPath, 'utf8');
    } catch (e) {
      throw unreadable(e) ?? corrupt(dir, `${xmlPath} is unreadable (${(e as NodeJS.ErrnoException).code})`, e);
    }
    let text: string;
    try {
      text = fs.readFileSync(recordPath, 'utf8');
    } catch (e) {
      throw unreadable(e) ?? corrupt(dir, `${recordPath} is ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable (${(e as NodeJS.ErrnoException).code})`}`, e);
    }
    try {
      record = JSON.parse(text) as RegistrationRecord;
    } catch (e) {
      throw corrupt(dir, `${recordPath} is not valid JSON (${(e as Error).message}): truncated or edited`, e);
    }
    const problem = recordProblem(record);
    if (problem) throw corrupt(dir, `${recordPath} is not a registration record (${problem})`);
    if (record.metadataSha256 !== sha256(xml)) throw corrupt(dir, `${xmlPath} does not match the SHA-256 in record.json (truncated or edited)`);
    return { xml, record };
  }

  private read(dir: string): Registration {
    const { xml, record } = this.readRecord(dir);
    let md: WriterMetadata;
    try {
      md = parseWriterMetadata(xml, join(dir, 'metadata.xml'));
    } catch (e) {
      throw corrupt(dir, (e as Error).message, e);
    }
    return { writerId: md.identity.writerId, metadata: this.withDependencies(md, record), xml, record };
  }

  private withDependencies(md: WriterMetadata, record: RegistrationRecord): WriterMetadata {
    for (const c of md.components) c.dependencies = record.dependencies?.[componentKey(c)] ?? [];
    return md;
  }
}

/**
 * A registry entry that cannot be read: bad input found in the state directory (exit 2), and
 * nothing was changed. unregister-writer removes such an entry by its name (its writer id).
 */
function corrupt(dir: string, what: string, cause?: unknown): VssError {
  const name = basename(dir);
  return new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, {
    message: `registry entry ${dir}: ${what}`,
    cause,
    category: 'input',
    hint: isGuid(name)
      ? `Nothing was changed. Remove the damaged registration with \`mbam-vss unregister-writer ${name}\` (it removes an unreadable entry too), then run install or register-writer again; \`mbam-vss status\` lists every unreadable entry.`
      : `Nothing was changed. Move it out of ${dirname(dir)}; \`mbam-vss status\` lists every unreadable entry.`,
  });
}

/** A permission or read-only error while reading an entry: the state directory's, not the entry's. */
function unreadable(e: unknown): VssError | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code !== 'EACCES' && code !== 'EPERM') return undefined;
  const mapped = stateAccessError(e, (e as NodeJS.ErrnoException).path ?? '?', 'read');
  return mapped instanceof VssError ? mapped : undefined;
}

const GUID_FIELD = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Why a parsed record.json is not a registration record, or undefined. */
function recordProblem(r: unknown): string | undefined {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return 'expected an object';
  const o = r as Record<string, unknown>;
  if (o['format'] !== 1) return 'expected "format": 1';
  for (const k of ['writerId', 'instanceId'] as const) if (typeof o[k] !== 'string' || !GUID_FIELD.test(o[k] as string)) return `expected "${k}" to be a GUID`;
  for (const k of ['friendlyName', 'metadataSha256', 'registeredAt'] as const) if (typeof o[k] !== 'string') return `expected "${k}" to be a string`;
  if (o['dependencies'] !== undefined && (o['dependencies'] === null || typeof o['dependencies'] !== 'object' || Array.isArray(o['dependencies']))) return 'expected "dependencies" to be an object';
  return undefined;
}

/**
 * What changes whenever an entry of a directory is added, removed or renamed: its link count (when
 * the entry is a directory) and modification time. Not its change time, which chmod also moves.
 */
function dirIdentity(path: string): string | undefined {
  const st = fs.statSync(path, { bigint: true, throwIfNoEntry: false });
  return st && `${st.dev}:${st.ino}:${st.nlink}:${st.mtimeNs}`;
}

function fileIdentity(path: string): string | undefined {
  const st = fs.statSync(path, { bigint: true, throwIfNoEntry: false });
  return st && `${st.dev}:${st.ino}:${st.size}:${st.ctimeNs}:${st.mtimeNs}`;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function alreadyExists(md: WriterMetadata, path: string): VssError {
  return new VssError(HR.VSS_E_OBJECT_ALREADY_EXISTS, {
    message: `writer ${md.identity.friendlyName} (${parseGuid(md.identity.writerId)}) is already registered (${path})`,
    hint: 'Unregister it first (mbam-vss unregister-writer <id>), or run install, which replaces a registration in one transaction.',
  });
}
