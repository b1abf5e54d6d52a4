import type { Command } from 'commander';
import { basename } from 'node:path';
import type { TransactionResult } from '../install/operations.js';
import type { OperationTable } from '../install/transaction.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { action, beforeParse, platformFor, readInputFile, stateDirOf, type GlobalOptions, type Output } from './common.js';

/** The implementation, imported when a command runs (issue #16: start-up). */
const operations = () => import('../install/operations.js');

async function ctx(cmd: Command, out: Output) {
  const g = cmd.optsWithGlobals() as GlobalOptions;
  return { platform: await platformFor(g), stateDir: await stateDirOf(g), log: (l: string) => out.info(l) };
}

/**
 * Registering without the privilege to register system-wide used to succeed into the caller's
 * own state directory, where root's `writers` (and the hosted service) never look: an install
 * that "worked" and that nothing sees. Without root / Administrators or Backup Operators it is
 * refused (exit 3) unless --state-dir or MBAM_VSS_STATE_DIR names the registry explicitly.
 */
async function requirePrivilege(cmd: Command, what: string): Promise<void> {
  const g = cmd.optsWithGlobals() as GlobalOptions; // stateDir is set by --state-dir or MBAM_VSS_STATE_DIR
  if (g.stateDir) return;
  const [{ openPlatform }, { SYSTEM_STATE_DIR }] = await Promise.all([import('../platform/index.js'), import('../platform/state.js')]);
  // The check of the system-wide registry: on POSIX the platform deems any private directory fine.
  const p = await openPlatform(process.platform === 'win32' ? {} : { stateDir: SYSTEM_STATE_DIR }).checkPrivileges();
  if (p.ok) return;
  const needs = process.platform === 'win32' ? 'an elevated member of Administrators or Backup Operators' : 'root';
  throw new VssError(HR.E_ACCESSDENIED, {
    message: `${what} needs ${needs}: ${p.detail}`,
    category: 'precondition',
    hint: `Run it as ${needs}, or name the registry to use explicitly with --state-dir DIR (or MBAM_VSS_STATE_DIR=DIR).`,
  });
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
  const installCommand = program
    .command('install')
    .description("register this server's MBAM writer instance, as one transaction (rolled back on any failure)")
    .requiredOption('--topology <file>', 'the MBAM topology file (JSON)')
    .option('--server <name>', 'the topology server to register (default: the one named like this host)')
    .option('--dry-run', 'print the planned steps and the metadata; change nothing')
    .option('--skip-sql-checks', 'do not check SQL Server (for machines with no SQL Server configured); says so loudly')
    .option('--json', 'machine-readable output');
  beforeParse(installCommand, async () => {
    const { INSTALL } = await operations();
    installCommand.addHelpText(
      'after',
      `\n${stepsHelp(INSTALL)}\n` +
        'Re-running with the same topology changes nothing; a changed topology replaces the registration in one transaction.\n' +
        'An unfinished transaction left by a killed run is rolled back before anything else.',
    );
  });
  installCommand
    .action(
      action(async (out, opts: { topology: string; server?: string; dryRun?: boolean; skipSqlChecks?: boolean }, cmd: Command) => {
        const [{ install, planInstall }, { writeWriterMetadata }, { describeWriterMetadata }] = await Promise.all([operations(), import('../vss/writer-metadata.js'), import('./format.js')]);
        if (opts.dryRun) {
          const plan = planInstall({ topologyFile: opts.topology, server: opts.server, skipSqlChecks: opts.skipSqlChecks });
          const { topology: _t, ...shown } = plan;
          out.result({ dryRun: true, ...shown, metadataXml: writeWriterMetadata(plan.metadata) }, () =>
            [`dry run: would register on ${plan.server} (roles: ${plan.roles.join(', ')})`, `steps: ${plan.steps.join(' → ')}`,
              plan.skipSqlChecks ? 'SQL checks: SKIPPED (--skip-sql-checks)' : 'SQL checks: will run', '', describeWriterMetadata(plan.metadata)].join('\n'),
          );
          return;
        }
        await requirePrivilege(cmd, 'install');
        if (opts.skipSqlChecks) out.warn('--skip-sql-checks: SQL Server reachability, database state, login rights and the Recovery certificate will NOT be checked');
        const r = await install({ topologyFile: opts.topology, server: opts.server, skipSqlChecks: opts.skipSqlChecks, ...(await ctx(cmd, out)) });
        out.result({ ok: true, ...r }, () =>
          `${describeResult(r)}\n${r.outcome === 'no-change' ? 'already registered with this metadata: nothing to do' : `registered writer {${r.writerId}} instance {${r.instanceId}}`}`,
        );
      }),
    );

  const uninstallCommand = program
    .command('uninstall')
    .description('unregister the MBAM writer from this server, as one transaction (absent is success)')
    .option('--server <name>', 'accepted for symmetry with install; the writer on this machine is removed')
    .option('--json', 'machine-readable output');
  beforeParse(uninstallCommand, async () => void uninstallCommand.addHelpText('after', `\n${stepsHelp((await operations()).UNINSTALL)}`));
  uninstallCommand
    .action(
      action(async (out, _opts, cmd: Command) => {
        await requirePrivilege(cmd, 'uninstall');
        const r = await (await operations()).uninstall(await ctx(cmd, out));
        out.result({ ok: true, ...r }, () => `${describeResult(r)}\n${r.outcome === 'no-change' ? 'the MBAM writer was not registered: nothing to do' : `unregistered writer {${r.writerId}}`}`);
      }),
    );

  const registerCommand = program
    .command('register-writer')
    .description('register any express writer from a writer metadata document (fails if the writer id is registered)')
    .requiredOption('--metadata <wmd.xml>', 'writer metadata document (UTF-8 or UTF-16)')
    .option('--json', 'machine-readable output');
  beforeParse(registerCommand, async () => void registerCommand.addHelpText('after', `\n${stepsHelp((await operations()).REGISTER_WRITER)}`));
  registerCommand
    .action(
      action(async (out, opts: { metadata: string }, cmd: Command) => {
        const [{ recover, registerWriterTransaction }, { parseWriterMetadata }, { withStateLock }] = await Promise.all([operations(), import('../vss/writer-metadata.js'), import('../platform/state.js')]);
        const md = parseWriterMetadata(readInputFile(opts.metadata, '--metadata'), opts.metadata);
        await requirePrivilege(cmd, 'register-writer');
        const c = await ctx(cmd, out);
        // A writer id already registered is refused before the transaction starts: nothing is done,
        // so nothing is "undone" (the transaction would report its register step as rolled back).
        const r = await withStateLock(c.stateDir, async () => {
          await recover(c);
          const existing = (await c.platform.listWriters()).find((w) => w.writerId === md.identity.writerId);
          if (existing) {
            throw new VssError(HR.VSS_E_OBJECT_ALREADY_EXISTS, {
              message: `writer ${md.identity.friendlyName} (${md.identity.writerId}) is already registered (as '${existing.name}' in ${c.stateDir}); nothing was changed`,
              hint: 'Unregister it first (mbam-vss unregister-writer <id>), or run install, which replaces a registration in one transaction.',
            });
          }
          return registerWriterTransaction({ metadata: md, ...c });
        });
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
        await requirePrivilege(cmd, 'unregister-writer');
        const [{ recover }, { parseGuid }, { withStateLock }] = await Promise.all([operations(), import('../vss/guid.js'), import('../platform/state.js')]);
        let writerId: string;
        try {
          writerId = parseGuid(id, 'writer-id');
        } catch (e) {
          // `status` lists registry entries that are not writer ids; the registry can only remove
          // entries by writer id, so name the entry and how to remove it instead of "not a GUID".
          const junk = (await (await platformFor(cmd.optsWithGlobals())).registryProblems()).find((p) => basename(p.path) === id);
          if (!junk) throw e;
          throw new VssError(HR.E_NOTIMPL, {
            message: `'${id}' is an unreadable registry entry (${junk.path}: ${junk.problem}), not a writer id; unregister-writer cannot remove it yet`,
            category: 'precondition',
            hint: `Remove it by hand: rm -rf -- '${junk.path.replace(/'/g, `'\\''`)}'`,
          });
        }
        const c = await ctx(cmd, out);
        await withStateLock(c.stateDir, async () => {
          await recover(c);
          await c.platform.unregisterWriter(writerId);
        });
        out.result({ ok: true, writerId }, () => `unregistered writer {${writerId}}`);
      }),
    );
}
