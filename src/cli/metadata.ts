import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { invalidInput } from '../vss/errors.js';
import { parseWriterMetadata, writeWriterMetadata } from '../vss/writer-metadata.js';
import { action, platformFor } from './common.js';
import { describeWriterMetadata } from './format.js';

export function registerMetadataCommand(program: Command): void {
  program
    .command('metadata')
    .description("print a writer's metadata: a registered writer by id or name, or any writer metadata document (--file)")
    .argument('[writer]', 'writer id, instance id or friendly name of a registered writer')
    .option('--file <wmd.xml>', 'read a writer metadata document (UTF-8 or UTF-16) instead')
    .option('--xml', 'print the document as XML')
    .option('--json', 'print the parsed model as JSON')
    .addHelpText('after', '\nExamples:\n  mbam-vss metadata "Microsoft BitLocker Administration and Management Writer"\n  mbam-vss metadata --file WM4.xml --json')
    .action(
      action(async (out, writer: string | undefined, opts: { file?: string; xml?: boolean }, cmd: Command) => {
        if (!!writer === !!opts.file) throw invalidInput('metadata', 'either a writer id/name or --file <wmd.xml>, not both');
        const md = opts.file
          ? parseWriterMetadata(readFileSync(opts.file), opts.file)
          : await platformFor(cmd.optsWithGlobals()).getWriterMetadata(writer!);
        if (opts.xml && !out.json) {
          process.stdout.write(writeWriterMetadata(md) + '\n');
          return;
        }
        out.result(md, () => describeWriterMetadata(md));
      }),
    );
}
