import { describe, expect, it } from 'vitest';
import { loadTopology, parseTopology } from '../../src/mbam/topology.js';
import { buildMbamWriterMetadata, MBAM_WRITER_ID, MBAM_WRITER_NAME, mbamWriterInstanceId } from '../../src/mbam/writer-definition.js';
import { SQL_WRITER_ID } from '../../src/vss/known-writers.js';
import { assertExpressWriterMetadata, checkExpressWriterMetadata } from '../../src/vss/express-writer.js';
import { parseWriterMetadata, writeWriterMetadata } from '../../src/vss/writer-metadata.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAPTURES, EXAMPLE_TOPOLOGY } from '../support/paths.js';

describe('MBAM writer metadata', () => {
  const t = loadTopology(EXAMPLE_TOPOLOGY);

  it('the Recovery server: one component, depending on its database and master', () => {
    const md = buildMbamWriterMetadata(t, 'MBAM-REC01');
    expect(md.identity).toMatchObject({ writerId: MBAM_WRITER_ID, friendlyName: MBAM_WRITER_NAME, usage: 'USERDATA' });
    expect(md.identity.instanceId).toBe(mbamWriterInstanceId('MBAM-REC01'));
    expect(md.components).toHaveLength(1);
    expect(md.components[0]).toMatchObject({ type: 'FILEGROUP', logicalPath: 'Recovery', componentName: 'MBAM Recovery and Hardware' });
    expect(md.components[0]!.dependencies).toEqual([
      { writerId: SQL_WRITER_ID, logicalPath: 'MBAM-REC01', componentName: 'MBAM Recovery and Hardware' },
      { writerId: SQL_WRITER_ID, logicalPath: 'MBAM-REC01', componentName: 'master' },
    ]);
  });

  it('the Compliance server: its named instance in the SQL writer logical path, no master', () => {
    const md = buildMbamWriterMetadata(t, 'mbam-cmp01.corp.example');
    expect(md.components.map((c) => c.componentName)).toEqual(['MBAM Compliance Status']);
    expect(md.components[0]!.dependencies).toEqual([
      { writerId: SQL_WRITER_ID, logicalPath: 'MBAM-CMP01\\MBAM', componentName: 'MBAM Compliance Status' },
    ]);
  });

  it('two servers give two instances of one writer class', () => {
    const a = buildMbamWriterMetadata(t, 'MBAM-REC01');
    const b = buildMbamWriterMetadata(t, 'MBAM-CMP01');
    expect(a.identity.writerId).toBe(b.identity.writerId);
    expect(a.identity.instanceId).not.toBe(b.identity.instanceId);
    expect(buildMbamWriterMetadata(t, 'MBAM-REC01').identity.instanceId).toBe(a.identity.instanceId);
  });

  it('one server hosting both roles has both components', () => {
    const one = parseTopology({ servers: [{ name: 'MBAM', sql: { host: 'h', instance: 'MSSQLSERVER' }, databases: { recovery: true, complianceAudit: true } }] });
    const md = buildMbamWriterMetadata(one, 'MBAM');
    expect(md.components.map((c) => `${c.logicalPath}\\${c.componentName}`)).toEqual(['Recovery\\MBAM Recovery and Hardware', 'ComplianceAudit\\MBAM Compliance Status']);
    expect(md.components[1]!.dependencies[0]!.logicalPath).toBe('MBAM'); // MSSQLSERVER is the default instance
  });

  it('an unknown server is bad input naming the choices', () => {
    expect(() => buildMbamWriterMetadata(t, 'OTHER')).toThrow(/--server: expected a server named in the topology \(MBAM-REC01, MBAM-CMP01\)/);
  });

  it('its XML stays within what real VSS documents contain', () => {
    const xml = writeWriterMetadata(buildMbamWriterMetadata(t, 'MBAM-REC01'));
    const real = readFileSync(join(CAPTURES, 'with_sql/WM4.xml'), 'utf8') + readFileSync(join(CAPTURES, 'with_sql/WM1.xml'), 'utf8');
    const names = (s: string) => new Set([...s.matchAll(/<([A-Z_]+)[\s/>]/g)].map((m) => m[1]));
    const attrs = (s: string) => new Set([...s.matchAll(/\s([A-Za-z]+)="/g)].map((m) => m[1]));
    for (const n of names(xml)) expect(names(real), `element ${n}`).toContain(n);
    for (const a of attrs(xml)) expect(attrs(real), `attribute ${a}`).toContain(a);
    expect(xml).toMatch(/^<WRITER_METADATA xmlns="x-schema:#VssWriterMetadataInfo" version="1.2"><IDENTIFICATION writerId="aaf1bbf5-/);
    expect(xml).toContain('usage="USER_DATA"');
    expect(parseWriterMetadata(xml).components[0]!.componentName).toBe('MBAM Recovery and Hardware');
  });
});

describe('express-writer rules', () => {
  it('the SQL Server writer breaks them, and each broken rule is named', () => {
    const sql = parseWriterMetadata(readFileSync(join(CAPTURES, 'with_sql/WM4.xml')));
    const rules = new Set(checkExpressWriterMetadata(sql).map((v) => v.rule));
    expect(rules).toEqual(new Set(['writer-restore', 'backup-schema', 'notify-on-backup-complete']));
    expect(() => assertExpressWriterMetadata(sql, 'WM4.xml')).toThrow(/WM4.xml breaks \d+ express-writer rule\(s\):\n  - \[writer-restore\] RESTORE_METHOD@writerRestore/);
  });
  it('catches each rule', () => {
    const md = buildMbamWriterMetadata(loadTopology(EXAMPLE_TOPOLOGY), 'MBAM-REC01');
    expect(checkExpressWriterMetadata(md)).toEqual([]);
    const bad = structuredClone(md);
    bad.identity.usage = 'OTHER';
    bad.restoreMethod!.method = 'CUSTOM';
    bad.components[0]!.type = 'DATABASE';
    bad.components[0]!.restoreMetadata = true;
    bad.components[0]!.files.push({ kind: 'FILE_LIST', path: '/a', filespec: '*', alternatePath: '/b' });
    expect(checkExpressWriterMetadata(bad).map((v) => v.rule).sort()).toEqual(['alternate-location', 'component-type', 'restore-metadata', 'restore-method', 'usage']);
    delete bad.restoreMethod;
    expect(checkExpressWriterMetadata(bad).map((v) => v.rule)).toContain('restore-method');
  });
});
