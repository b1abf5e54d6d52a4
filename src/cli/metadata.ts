import type { Command } from 'commander';
import type { BackupComponentsDocument } from '../vss/backup-components.js';
import type { DiskshadowManifest } from '../vss/diskshadow.js';
import { VssError, invalidInput } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import type { componentKey, WriterMetadata } from '../vss/writer-metadata.js';
import { action, platformFor, readInputFile } from './common.js';

type Document =
  | { document: 'writer-metadata'; model: WriterMetadata }
  | { document: 'backup-components'; model: BackupComponentsDocument }
  | { document: 'diskshadow-manifest'; model: DiskshadowManifest };

/**
 * The three VSS documents an operator has at hand after a backup: a writer's metadata, the
 * Backup Components Document, and DiskShadow's Manifest.xml. Which one it is comes from the root
 * element, so a file of another kind is named as such instead of "root is not WRITER_METADATA".
 */
async function readDocument(bytes: Buffer, source: string): Promise<Document> {
  const [{ decodeXmlBytes }, { parseBackupComponents }, { parseDiskshadowManifest }, { parseWriterMetadata }] = await Promise.all([
    import('../vss/xml.js'), import('../vss/backup-components.js'), import('../vss/diskshadow.js'), import('../vss/writer-metadata.js'),
  ]);
  let root: string | undefined;
  try {
    root = /<\s*([A-Za-z_][\w.-]*)[\s/>]/.exec(decodeXmlBytes(bytes).replace(/<\?[\s\S]*?\?>|<!--[\s\S]*?-->/g, ''))?.[1];
  } catch {
    root = undefined; // the parser below names what is wrong with the bytes
  }
  if (root === 'BACKUP_COMPONENTS') return { document: 'backup-components', model: parseBackupComponents(bytes, source) };
  if (root === 'Manifest') return { document: 'diskshadow-manifest', model: parseDiskshadowManifest(bytes, source) };
  return { document: 'writer-metadata', model: parseWriterMetadata(bytes, source) };
}

function describeBackupComponents(d: BackupComponentsDocument, key: typeof componentKey): string {
  const lines = [`Backup Components Document (version ${d.version})`, `  Backup type: ${d.backupType}${d.snapshotSetId ? `   Snapshot set: {${d.snapshotSetId}}` : ''}`];
  for (const w of d.writers) {
    lines.push(`  Writer {${w.writerId}} instance {${w.instanceId}}${w.instanceName ? ` (${w.instanceName})` : ''}: ${w.components.length} component(s)`);
    for (const c of w.components) lines.push(`    - ${c.componentType} ${key(c)}${c.backupStamp ? `  stamp ${c.backupStamp}` : ''}${c.backupMetadata ? '  (writer backup metadata)' : ''}`);
  }
  return lines.join('\n');
}

function describeManifest(m: DiskshadowManifest): string {
  const lines = [`DiskShadow manifest: snapshot set {${m.snapshotSetId}} on ${m.machineName}`];
  for (const s of m.shadowCopies) lines.push(`  shadow copy {${s.id}}${s.alias ? ` (${s.alias})` : ''} of ${s.originalVolume}`);
  if (m.backupComponentsFile) lines.push(`  Backup Components Document: ${m.backupComponentsFile}`);
  for (const w of m.writers) lines.push(`  writer '${w.name}': ${w.metadataFile}`);
  return lines.join('\n');
}

export function registerMetadataCommand(program: Command): void {
  program
    .command('metadata')
    .description(
      "print a writer's metadata: a registered writer by id or name, or a document (--file): writer metadata, " +
        "a Backup Components Document, or DiskShadow's Manifest.xml",
    )
    .argument('[writer]', 'writer id, instance id or friendly name of a registered writer')
    .option('--file <file.xml>', 'read a writer metadata document, a Backup Components Document or a DiskShadow Manifest.xml (UTF-8 or UTF-16) instead')
    .option('--xml', 'print the document as XML')
    .option('--json', 'print the parsed model as JSON')
    .addHelpText('after', '\nExamples:\n  mbam-vss metadata "Microsoft BitLocker Administration and Management Writer"\n  mbam-vss metadata --file WM4.xml --json\n  mbam-vss metadata --file BCDocument.xml')
    .action(
      action(async (out, writer: string | undefined, opts: { file?: string; xml?: boolean }, cmd: Command) => {
        if (writer && opts.file) throw invalidInput('metadata', 'either a writer id/name or --file <file.xml>, not both');
        if (!writer && !opts.file) throw invalidInput('metadata', 'a writer id/name, or --file <file.xml>');
        const doc: Document = opts.file
          ? await readDocument(readInputFile(opts.file, '--file'), opts.file)
          : { document: 'writer-metadata', model: await (await platformFor(cmd.optsWithGlobals())).getWriterMetadata(writer!) };
        const [{ componentKey, writeWriterMetadata }, { writeBackupComponents }, { describeWriterMetadata }] = await Promise.all([
          import('../vss/writer-metadata.js'), import('../vss/backup-components.js'), import('./format.js'),
        ]);
        if (opts.xml && !out.json) {
          if (doc.document === 'diskshadow-manifest') {
            throw new VssError(HR.E_INVALIDARG, { message: '--xml: a DiskShadow manifest is printed as text or --json only', category: 'input' });
          }
          process.stdout.write((doc.document === 'writer-metadata' ? writeWriterMetadata(doc.model) : writeBackupComponents(doc.model)) + '\n');
          return;
        }
        out.result({ document: doc.document, ...doc.model }, () =>
          doc.document === 'writer-metadata' ? describeWriterMetadata(doc.model) : doc.document === 'backup-components' ? describeBackupComponents(doc.model, componentKey) : describeManifest(doc.model),
        );
      }),
    );
}
