import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../../src/mbam/topology.js';
import { buildMbamWriterMetadata } from '../../src/mbam/writer-definition.js';
import { PosixPlatform } from '../../src/platform/posix.js';
import { WriterRegistry } from '../../src/platform/writer-registry.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { metadataFingerprint } from '../../src/vss/writer-metadata.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { tempDir } from '../support/state.js';

const md = buildMbamWriterMetadata(loadTopology(EXAMPLE_TOPOLOGY), 'MBAM-REC01');

describe('POSIX writer registry', () => {
  it('stores one metadata document and record per writer, private and complete', () => {
    const dir = tempDir();
    const reg = new WriterRegistry(dir);
    reg.register(md);
    const entry = join(dir, 'writers', md.identity.writerId);
    expect(readdirSync(entry).sort()).toEqual(['metadata.xml', 'record.json']);
    expect(statSync(join(dir, 'writers')).mode & 0o777).toBe(0o700);
    expect(statSync(join(entry, 'metadata.xml')).mode & 0o777).toBe(0o600);
    const record = JSON.parse(readFileSync(join(entry, 'record.json'), 'utf8'));
    expect(record).toMatchObject({ format: 1, writerId: md.identity.writerId, toolVersion: expect.any(String) });
    expect(record.dependencies['Recovery\\MBAM Recovery and Hardware']).toHaveLength(2);
    // the dependencies come back with the metadata
    expect(metadataFingerprint(reg.get(md.identity.writerId)!.metadata)).toBe(metadataFingerprint(md));
  });

  it('fails like VSS: ALREADY_EXISTS on a second register, OBJECT_NOT_FOUND on a missing unregister', () => {
    const reg = new WriterRegistry(tempDir());
    reg.register(md);
    expect(() => reg.register(md)).toThrow(expect.objectContaining({ hresult: HR.VSS_E_OBJECT_ALREADY_EXISTS }));
    reg.unregister(md.identity.writerId);
    expect(() => reg.unregister(md.identity.writerId)).toThrow(expect.objectContaining({ hresult: HR.VSS_E_OBJECT_NOT_FOUND }));
  });

  it('names a corrupt or truncated entry instead of crashing or dropping it', async () => {
    const dir = tempDir();
    const p = new PosixPlatform(dir);
    await p.registerWriter(md);
    const xml = join(dir, 'writers', md.identity.writerId, 'metadata.xml');
    writeFileSync(xml, readFileSync(xml, 'utf8').slice(0, 100));
    expect(await p.listWriters()).toEqual([]);
    const problems = await p.registryProblems();
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toBe(join(dir, 'writers', md.identity.writerId));
    expect(problems[0]!.problem).toMatch(/does not match the SHA-256 in record\.json/);
    // still there: registering again says it exists, and it can be removed
    await expect(p.registerWriter(md)).rejects.toMatchObject({ hresult: HR.VSS_E_OBJECT_ALREADY_EXISTS });
    await p.unregisterWriter(md.identity.writerId);
    expect(await p.registryProblems()).toEqual([]);
    writeFileSync(join(dir, 'writers', 'not-a-guid'), 'x');
    expect((await p.registryProblems())[0]!.problem).toMatch(/expected a GUID/);
  });

  it('sweeps the leftovers of an interrupted registration', () => {
    const dir = tempDir();
    const reg = new WriterRegistry(dir);
    reg.register(md);
    reg.unregister(md.identity.writerId);
    const leftover = join(dir, 'writers', `.tmp-${md.identity.writerId}-deadbeef`);
    mkdirSync(leftover);
    expect(reg.list().registrations).toEqual([]);
    reg.register(md);
    expect(existsSync(leftover)).toBe(false);
  });

  it('finds a writer by instance id or name through the index, and misses without a false hit', async () => {
    const dir = tempDir();
    const p = new PosixPlatform(dir);
    const others = [1, 2, 3].map((i) => ({ ...structuredClone(md), identity: { ...md.identity, writerId: randomUUID(), instanceId: randomUUID(), friendlyName: `Other ${i}` } }));
    for (const o of others) await p.registerWriter(o);
    await p.registerWriter(md);
    const index = JSON.parse(readFileSync(join(dir, 'writers-index.json'), 'utf8'));
    expect(index.writers.map((w: string[]) => w[0])).toEqual([...others.map((o) => o.identity.writerId), md.identity.writerId].sort());
    expect((await p.getWriterMetadata(md.identity.instanceId)).identity.writerId).toBe(md.identity.writerId);
    expect((await p.getWriterMetadata('other 2')).identity.writerId).toBe(others[1]!.identity.writerId);
    await expect(p.getWriterMetadata(randomUUID())).rejects.toMatchObject({ hresult: HR.VSS_E_OBJECT_NOT_FOUND });
    await p.unregisterWriter(others[0]!.identity.writerId);
    await expect(p.getWriterMetadata(others[0]!.identity.instanceId)).rejects.toMatchObject({ hresult: HR.VSS_E_OBJECT_NOT_FOUND });
    expect(JSON.parse(readFileSync(join(dir, 'writers-index.json'), 'utf8')).writers).toHaveLength(3);
  });

  it('does not trust an index that no longer describes the entries', async () => {
    const dir = tempDir();
    const p = new PosixPlatform(dir);
    await p.registerWriter(md);
    const indexFile = join(dir, 'writers-index.json');
    const stale = readFileSync(indexFile, 'utf8');
    // An entry the index does not list (another tool, or a crash before the index was rewritten).
    const other = { ...structuredClone(md), identity: { ...md.identity, writerId: randomUUID(), instanceId: randomUUID(), friendlyName: 'Other' } };
    await p.registerWriter(other);
    writeFileSync(indexFile, stale);
    expect((await p.getWriterMetadata(other.identity.instanceId)).identity.writerId).toBe(other.identity.writerId);
    // An index current for the directory whose row names another instance: the entry's record wins.
    const third = { ...structuredClone(md), identity: { ...md.identity, writerId: randomUUID(), instanceId: randomUUID(), friendlyName: 'Third' } };
    await p.registerWriter(third);
    await p.unregisterWriter(third.identity.writerId);
    const current = JSON.parse(readFileSync(indexFile, 'utf8'));
    expect(current.writers).toHaveLength(2);
    writeFileSync(indexFile, JSON.stringify({ ...current, writers: [[md.identity.writerId, other.identity.instanceId, 'x'], [other.identity.writerId]] }));
    expect((await p.getWriterMetadata(other.identity.instanceId)).identity.writerId).toBe(other.identity.writerId);
    // Torn or absent: the entries are read, and the next change writes a current index again.
    writeFileSync(indexFile, stale.slice(0, 10));
    expect((await p.getWriterMetadata('other')).identity.writerId).toBe(other.identity.writerId);
    rmSync(indexFile);
    expect((await p.getWriterMetadata(md.identity.instanceId)).identity.writerId).toBe(md.identity.writerId);
    await p.unregisterWriter(other.identity.writerId);
    expect(JSON.parse(readFileSync(indexFile, 'utf8')).writers).toEqual([[md.identity.writerId, md.identity.instanceId, md.identity.friendlyName]]);
    // An entry removed behind the registry's back: the index is not used, and the writer is gone.
    await p.registerWriter(other);
    rmSync(join(dir, 'writers', other.identity.writerId), { recursive: true });
    await expect(p.getWriterMetadata(other.identity.instanceId)).rejects.toMatchObject({ hresult: HR.VSS_E_OBJECT_NOT_FOUND });
  });

  it('refuses metadata that breaks an express-writer rule before touching anything', async () => {
    const dir = tempDir();
    const bad = structuredClone(md);
    bad.restoreMethod!.writerRestore = 'ALWAYS';
    await expect(new PosixPlatform(dir).registerWriter(bad)).rejects.toBeInstanceOf(VssError);
    expect(existsSync(join(dir, 'writers'))).toBe(false);
  });
});
