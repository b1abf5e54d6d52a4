import { join } from 'node:path';
import type { Command } from 'commander';
import { buildMbamWriterMetadata } from '../mbam/writer.js';
import { loadTopology } from '../mbam/topology.js';
import { PACKAGE_ROOT } from '../platform/native.js';
import { writeWriterMetadata } from '../vss/writer-metadata.js';
import { action } from './common.js';
import { describeWriterMetadata } from './format.js';

export const EXAMPLE_TOPOLOGY = join(PACKAGE_ROOT, 'examples', 'two-servers.json');

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('show the main job on this machine, no server needed: the MBAM writer for a two-server topology')
    .option('--topology <file>', 'topology to use', EXAMPLE_TOPOLOGY)
    .action(
      action(async (out, opts: { topology: string }) => {
        const topology = loadTopology(opts.topology);
        const servers = topology.servers.map((s) => {
          const md = buildMbamWriterMetadata(topology, s.name);
          return { server: s.name, metadata: md, xml: writeWriterMetadata(md) };
        });
        out.result({ topology: opts.topology, servers }, () =>
          [
            `MBAM writer metadata for ${opts.topology}`,
            `(one writer instance per server; each component depends on the SQL Server writer's database component)`,
            '',
            ...servers.map((s) => `== ${s.server}\n${describeWriterMetadata(s.metadata)}\n`),
          ].join('\n'),
        );
      }),
    );
}
