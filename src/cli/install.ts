import type { Command } from 'commander';
import {
  INSTALL, install, planInstall, recover, REGISTER_WRITER, registerWriterTransaction, UNINSTALL, uninstall, type TransactionResult,
} from '../install/operations.js';
import type { OperationTable } from '../install/transaction.js';
import { readFileSync } from 'node:fs';
import { parseWriterMetadata, writeWriterMetadata } from '../vss/writer-metadata.js';
import { parseGuid } from '../vss/guid.js';
import { resolveStateDir, withStateLock } from '../platform/state.js';
import { action, platformFor, type GlobalOptions, type Output } from './common.js';
import { describeWriterMetadata } from './format.js';

function ctx(cmd: Command, out: Output) {
  const g = cmd.optsWithGlobals() as GlobalOptions;
  return { platform: platformFor(g), stateDir: resolveStateDir(g.stateDir), log: (l: string) => out.info(l) };
}

/** The steps as the operation's table names them: what MBAM_VSS_FAULT and the journal use. */
const stepsHelp = (op: OperationTable) => `Steps (the names MBAM_VSS_FAULT uses): ${op.stepNames.join(', ')}.`;

function describeResult(r: TransactionResult): string {
  const lines: string[] = [];
  if (r.recovered) lines.push(`rolled back an unfinished ${r.recovered.op} from ${r.recovered.startedAt} first`);
  for (const p of r.preflight) lines.push(`  preflight ${p.check}: ${p.skipped ? 'SKIPPED' : 'ok'} (${p.detail})`);
  for (const s of r.steps) lines.push(`  ${s.step}: ${s.status}`);
  return lines.join('\n');
}

export function registerInstallCommands(program: Command): void {
  program
    .command('install')
    .description("register this server's MBAM writer instance, as one transaction (rolled back on any failure)")
    .requiredOption('--topology <file>', 'the MBAM topology file (JSON)')
    .option('--server <name>', 'the topology server to register (default: the one named like this host)')
    .option('--dry-run', 'print the planned steps and the metadata; change nothing')
    .option('--skip-sql-checks', 'do not check SQL Server (for machines with no SQL Server configured); says so loudly')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `\n${stepsHelp(INSTALL)}\n` +
        'Re-running with the same topology changes nothing; a changed topology replaces the registration in one transaction.\n' +
        'An unfinished transaction left by a killed run is rolled back before anything else.',
    )
    .action(
      action(async (out, opts: { topology: string; server?: string; dryRun?: boolean; skipSqlChecks?: boolean }, cmd: Command) => {
        if (opts.dryRun) {
          const plan = planInstall({ topologyFile: opts.topology, server: opts.server, skipSqlChecks: opts.skipSqlChecks });
          const { topology: _t, ...shown } = plan;
          out.result({ dryRun: true, ...shown, metadataXml: writeWriterMetadata(plan.metadata) }, () =>
            [`dry run: would register on ${plan.server} (roles: ${plan.roles.join(', ')})`, `steps: ${plan.steps.join(' → ')}`,
              plan.skipSqlChecks ? 'SQL checks: SKIPPED (--skip-sql-checks)' : 'SQL checks: will run', '', describeWriterMetadata(plan.metadata)].join('\n'),
          );
          return;
        }
        if (opts.skipSqlChecks) out.warn('--skip-sql-checks: SQL Server reachability, database state, login rights and the Recovery certificate will NOT be checked');
        const r = await install({ topologyFile: opts.topology, server: opts.server, skipSqlChecks: opts.skipSqlChecks, ...ctx(cmd, out) });
        out.result({ ok: true, ...r }, () =>
          `${describeResult(r)}\n${r.outcome === 'no-change' ? 'already registered with this metadata: nothing to do' : `registered writer {${r.writerId}} instance {${r.instanceId}}`}`,
        );
      }),
    );

  program
    .command('uninstall')
    .description('unregister the MBAM writer from this server, as one transaction (absent is success)')
    .option('--server <name>', 'accepted for symmetry with install; the writer on this machine is removed')
    .option('--json', 'machine-readable output')
    .addHelpText('after', `\n${stepsHelp(UNINSTALL)}`)
    .action(
      action(async (out, _opts, cmd: Command) => {
        const r = await uninstall(ctx(cmd, out));
        out.result({ ok: true, ...r }, () => `${describeResult(r)}\n${r.outcome === 'no-change' ? 'the MBAM writer was not registered: nothing to do' : `unregistered writer {${r.writerId}}`}`);
      }),
    );

  program
    .command('register-writer')
    .description('register any express writer from a writer metadata document (fails if the writer id is registered)')
    .requiredOption('--metadata <wmd.xml>', 'writer metadata document (UTF-8 or UTF-16)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', `\n${stepsHelp(REGISTER_WRITER)}`)
    .action(
      action(async (out, opts: { metadata: string }, cmd: Command) => {
        const md = parseWriterMetadata(readFileSync(opts.metadata), opts.metadata);
        const r = await registerWriterTransaction({ metadata: md, ...ctx(cmd, out) });
        out.result({ ok: true, ...r }, () => `${describeResult(r)}\nregistered '${md.identity.friendlyName}' {${r.writerId}}`);
      }),
    );

  program
    .command('unregister-writer')
    .description('unregister an express writer by writer id (VSS_E_OBJECT_NOT_FOUND when absent)')
    .argument('<writer-id>', 'the writer (class) id, with or without braces')
    .option('--json', 'machine-readable output')
    .action(
      action(async (out, id: string, _opts, cmd: Command) => {
        const writerId = parseGuid(id, 'writer-id');
        const c = ctx(cmd, out);
        await withStateLock(c.stateDir, async () => {
          await recover(c);
          await c.platform.unregisterWriter(writerId);
        });
        out.result({ ok: true, writerId }, () => `unregistered writer {${writerId}}`);
      }),
    );
}
