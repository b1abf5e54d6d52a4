/** Human-readable views of VSS documents for the CLI. */
import { ComponentFlags, SourceType, UsageType, RestoreMethod, WriterRestore, WriterState } from '../vss/enums.js';
import { formatHResult, hresultInfo } from '../vss/hresult.js';
import type { WriterStatus } from '../vss/vssadmin.js';
import { componentKey, type WriterMetadata } from '../vss/writer-metadata.js';

export function describeWriterMetadata(md: WriterMetadata): string {
  const id = md.identity;
  const lines: string[] = [
    `Writer: '${id.friendlyName}'`,
    `  Writer Id: {${id.writerId}}`,
    `  Instance Id: {${id.instanceId}}${id.instanceName ? `  (${id.instanceName})` : ''}`,
    `  Usage: ${UsageType.cName(id.usage)}   Data source: ${SourceType.cName(id.dataSource)}   Version: ${id.majorVersion}.${id.minorVersion}`,
  ];
  if (md.backupSchema !== undefined) lines.push(`  Backup schema: ${md.backupSchema} (0x${md.backupSchema.toString(16)})`);
  if (md.restoreMethod) {
    const m = md.restoreMethod;
    lines.push(`  Restore: ${RestoreMethod.cName(m.method)}, writer restore ${WriterRestore.cName(m.writerRestore)}${m.rebootRequired ? ', reboot required' : ''}`);
  }
  lines.push(`  Components (${md.components.length}):`);
  for (const c of md.components) {
    const flags = ComponentFlags.names(c.componentFlags);
    lines.push(`    - ${c.type} ${componentKey(c)}${c.caption ? `  "${c.caption.trim()}"` : ''}`);
    lines.push(`      selectable: ${c.selectable ? 'yes' : 'no'}, for restore: ${c.selectableForRestore ? 'yes' : 'no'}, flags: ${flags.length ? flags.join('|') : 'none'}`);
    for (const f of c.files) lines.push(`      ${f.kind.toLowerCase().replace('_', ' ')}: ${joinPath(f.path, f.filespec)}${f.recursive ? ' (recursive)' : ''}`);
    for (const d of c.dependencies) lines.push(`      depends on: {${d.writerId}} ${componentKey(d)}`);
  }
  for (const f of md.excludeFiles) lines.push(`  Excludes: ${joinPath(f.path, f.filespec)}${f.recursive ? ' (recursive)' : ''}`);
  for (const f of md.excludeFilesFromSnapshot) lines.push(`  Excludes from snapshot: ${joinPath(f.path, f.filespec)}${f.recursive ? ' (recursive)' : ''}`);
  return lines.join('\n');
}

function joinPath(path: string, spec: string): string {
  const sep = path.includes('\\') ? '\\' : '/';
  return path.endsWith(sep) ? path + spec : `${path}${sep}${spec}`;
}

/** One writer, the one shape every command (`writers`, `status`) puts in its --json result. */
export interface WriterView extends WriterStatus {
  stateValue: number;
  lastErrorName: string;
  lastErrorHex: string;
}

export function writerView(w: WriterStatus): WriterView {
  return { ...w, stateValue: WriterState.value(w.state), lastErrorName: hresultInfo(w.lastError).name, lastErrorHex: formatHResult(w.lastError) };
}
