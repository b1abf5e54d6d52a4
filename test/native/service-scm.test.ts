/**
 * The hosted writer's Windows service under a real Service Control Manager: Wine's services.exe,
 * with our CLI run by Windows Node and the vssapi.dll stand-in (test/win-standin) answering
 * Subscribe. What the service reports is read by scm_probe (test/win-service), an observer written
 * from the SCM documentation alone, never through our addon. The expectations below follow the
 * pages cited in test/win-service/README.md ("What the documentation says a service does").
 *
 * One Wine session runs the whole story (the probe's watcher keeps it alive; when a Wine session
 * ends, services.exe shuts its services down, and a new session starts AUTO_START services again
 * as a boot would): install while SQL Server does not answer, reinstall while running, stop,
 * a start that fails, uninstall while the service is starting. Shutdown is not exercised: at the
 * end of a session Wine 8.0 ended our running service's process without its control handler
 * getting to Unsubscribe (observed), where Windows sends SERVICE_CONTROL_SHUTDOWN first.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { HOSTED_WRITER_SERVICE } from '../../src/platform/windows-service.js';
import { invalidInput } from '../../src/vss/errors.js';
import { hasCommand, itRequires, prereq } from '../support/prereq.js';
import { REPO } from '../support/paths.js';
import { until } from '../support/until.js';
import { commandLineToArgv } from '../support/windows-cmdline.js';
import { execAsync } from '../support/exec.js';
import { ensureWindowsPrebuild, runCapturedWithDeadline, runWithDeadline, WINE, windowsNode, winePath } from '../support/windows-node.js';
// @ts-expect-error -- plain .mjs helper without type declarations
import { build as buildStandin } from '../win-standin/build.mjs';

const scm = prereq(
  existsSync(WINE) && hasCommand('x86_64-w64-mingw32-g++-posix') && hasCommand('clang++-16') && hasCommand('lld-link-16'),
  'Wine, MinGW-w64, clang-16 and lld-16 (apt-get install wine64 g++-mingw-w64-x86-64 clang-16 lld-16)',
);

const WINESERVER = '/usr/lib/wine/wineserver';
// SERVICE_STATUS values (winsvc.h).
const STOPPED = 1;
const START_PENDING = 2;
const STOP_PENDING = 3;
const RUNNING = 4;
const SERVICE_ACCEPT_STOP = 0x1;
const SERVICE_ACCEPT_SHUTDOWN = 0x4;
const ERROR_SERVICE_SPECIFIC_ERROR = 1066;
const SERVICE_WIN32_OWN_PROCESS = 0x10;
const SERVICE_AUTO_START = 2;

// Inside the test prefix, C:\mbam-test is <prefix>/drive_c/mbam-test.
const WIN_DIR = 'C:\\mbam-test';


// The service gets its environment from the SCM, which builds it from the registry (as on
// Windows), not from the shell that installed it: the test settings go there.
const TEMPLATE_REG = `REGEDIT4

[HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Control\\Session Manager\\Environment]
"NODE_SKIP_PLATFORM_CHECK"="1"
"PREBUILDS_ONLY"="1"
"MBAM_STANDIN_LOG"="C:\\\\mbam-test\\\\standin.jsonl"
"MBAM_STANDIN_STORE"="C:\\\\mbam-test\\\\store"

[HKEY_CURRENT_USER\\Software\\Wine\\DllOverrides]
"vssapi"="native,builtin"
`;

interface Status { ev: 'status'; t: number; state: number; checkpoint: number; waitHint: number; win32ExitCode: number; serviceSpecificExitCode: number; controlsAccepted: number; pid: number }
type WatchLine = Status | { ev: 'watching' | 'absent'; t: number } | { ev: 'error'; t: number; op: string; error: number };
type StandinLine = Record<string, unknown> & { ev: string; seq: number };

const jsonLines = <T>(f: string): T[] => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).flatMap((l) => { try { return [JSON.parse(l) as T]; } catch { return []; } }) : []);

/** A Windows program under Wine, with its output, killed at the deadline. */
const wine = (args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) => runCapturedWithDeadline(WINE, args, env, timeoutMs);

/** A SQL Server address that accepts connections and, while held, never answers the pre-login. */
function silentSqlServer(): Promise<{ server: Server; port: number; held: Socket[]; hold: () => void; release: () => void; accepted: () => number }> {
  const held: Socket[] = [];
  let holding = true;
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    s.on('error', () => {});
    if (holding) held.push(s);
    else s.destroy();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        server,
        port,
        held,
        accepted: () => accepted,
        hold: () => {
          holding = true;
        },
        release: () => {
          holding = false;
          for (const s of held.splice(0)) s.destroy();
        },
      });
    });
  });
}

describe('the hosted writer service under a Service Control Manager (Wine services.exe)', () => {
  let node = '';
  let probe = '';
  let dll = '';
  let run = '';
  let env: NodeJS.ProcessEnv = {};
  let out = '';

  beforeAll(async () => {
    if (!scm.ok) return;
    await ensureWindowsPrebuild(REPO);
    node = await windowsNode();
    out = mkdtempSync(join(tmpdir(), 'mbam-scm-build-'));
    dll = (buildStandin(out) as { dll: string }).dll;
    probe = join(out, 'scm_probe.exe');
    await execAsync('x86_64-w64-mingw32-gcc-posix', ['-O1', '-Wall', '-Werror', '-municode', '-o', probe, join(REPO, 'test', 'win-service', 'scm_probe.c'), '-ladvapi32']);
    // Named by what it holds, so that a changed registry file or Wine version makes a new one.
    const wineVersion = (await execAsync(WINE, ['--version'])).trim();
    const TEMPLATE = join(tmpdir(), `mbam-vss-service-prefix-${createHash('sha256').update(TEMPLATE_REG + wineVersion).digest('hex').slice(0, 12)}`);
    if (!existsSync(join(TEMPLATE, '.ready'))) {
      // Made once and copied per run: a run starts from a prefix with no service of ours in it.
      const tmp = `${TEMPLATE}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      const tenv = { ...process.env, WINEPREFIX: tmp, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
      await runWithDeadline(WINE, [node, '-e', '0'], tenv, 180_000);
      writeFileSync(join(tmp, 'drive_c', 'mbam-vss-test.reg'), TEMPLATE_REG);
      await runWithDeadline(WINE, ['reg', 'import', 'C:\\mbam-vss-test.reg'], tenv, 60_000);
      // The registry reaches system.reg when the session ends.
      await runWithDeadline(WINESERVER, ['-w'], tenv, 60_000);
      writeFileSync(join(tmp, '.ready'), '');
      // Another run may have made it meanwhile: keep theirs (a copy may be reading it).
      try {
        renameSync(tmp, TEMPLATE);
      } catch {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    run = mkdtempSync(join(tmpdir(), 'mbam-scm-'));
    await execAsync('cp', ['-a', TEMPLATE, join(run, 'prefix')]);
    copyFileSync(dll, join(run, 'prefix', 'drive_c', 'windows', 'system32', 'vssapi.dll'));
    env = { ...process.env, WINEPREFIX: join(run, 'prefix'), WINEDEBUG: '-all', WINEDLLOVERRIDES: 'vssapi=n,b;mscoree,mshtml=', NODE_SKIP_PLATFORM_CHECK: '1', PREBUILDS_ONLY: '1' };
  }, 600_000);

  afterAll(async () => {
    if (out) rmSync(out, { recursive: true, force: true });
    if (!run) return;
    await runWithDeadline(WINESERVER, ['-k'], env, 30_000);
    rmSync(run, { recursive: true, force: true });
  });

  itRequires(scm, 'dispatcher first, START_PENDING checkpoints while SQL Server is silent, RUNNING, reinstall while running, STOP, a failed start with its HRESULT, uninstall while starting', async () => {
    const host = join(run, 'prefix', 'drive_c', 'mbam-test');
    mkdirSync(join(host, 'state'), { recursive: true });
    mkdirSync(join(host, 'store'), { recursive: true });
    writeFileSync(join(host, 'sql-password'), 'not-a-real-password');
    const sql = await silentSqlServer();
    const topology = (serverName: string) =>
      JSON.stringify({
        servers: [{ name: serverName, sql: { host: '127.0.0.1', port: sql.port, auth: { type: 'sql', user: 'mbam_vss', password: { file: `${WIN_DIR}\\sql-password` } } }, databases: { recovery: true } }],
        hostedWriter: true,
      });
    writeFileSync(join(host, 'topology.json'), topology('SVC01'));
    const watchFile = join(host, 'watch.jsonl');
    const standinLog = join(host, 'standin.jsonl');
    const watch = () => jsonLines<WatchLine>(watchFile);
    const statuses = () => watch().filter((l): l is Status => l.ev === 'status');
    const standin = () => jsonLines<StandinLine>(standinLog);
    const subscribes = () => standin().filter((l) => l.ev === 'IVssWriterImpl.Subscribe');
    const finished: unknown[] = [];
    const context = () => ({ watch: watch().slice(-12), standin: standin().slice(-8), cli: finished });
    const cli = async (args: string[]) => {
      const r = await wine([node, winePath(join(REPO, 'dist', 'cli', 'main.js')), ...args], env, 150_000);
      finished.push({ args: args.slice(-1), ...r });
      return r;
    };
    const serveArgs = ['serve', '--topology', `${WIN_DIR}\\topology.json`, '--server', 'SVC01', '--state-dir', `${WIN_DIR}\\state`];
    const probeCmd = async (...args: string[]) => {
      const r = await wine([winePath(probe), ...args], env, 60_000);
      return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    };

    const watcher = spawn(WINE, [winePath(probe), 'watch', HOSTED_WRITER_SERVICE, `${WIN_DIR}\\watch.jsonl`, `${WIN_DIR}\\stop.flag`], { env, stdio: 'ignore' });
    try {
      await until('the SCM watcher', () => watch().some((l) => l.ev === 'watching'), 120_000);

      // 1. Install: the service connects to the SCM first and reports START_PENDING, advancing its
      //    checkpoint while its SQL login check waits on a server that does not answer; nothing is
      //    subscribed yet. (Before: the topology was loaded and the writer subscribed before the
      //    dispatcher, RUNNING was reported at once, and install did not start the service.)
      const install = cli([...serveArgs, '--install-service']);
      await until('the service to try its SQL Server login', () => sql.accepted() > 0, 120_000, { context });
      const atLogin = statuses().at(-1);
      expect(atLogin?.state, 'the service reports START_PENDING while it checks its login').toBe(START_PENDING);
      const pending = await until(
        'START_PENDING with a checkpoint advancing while the login waits',
        () => {
          // Checkpoint 0 is the SCM's own preset at StartService ("StartServiceW function"); from 1 on
          // the service reported it.
          const p = statuses().filter((s) => s.state === START_PENDING && s.checkpoint > 0);
          return p.length && p.at(-1)!.checkpoint >= atLogin!.checkpoint + 2 ? p : undefined;
        },
        60_000,
        { context },
      );
      expect(subscribes(), 'the writer subscribed before the service reported RUNNING').toEqual([]);
      for (const s of pending) {
        expect(s.controlsAccepted, 'a START_PENDING service accepts no controls').toBe(0);
        expect(s.waitHint).toBeGreaterThan(0);
      }
      const checkpoints = pending.map((s) => s.checkpoint);
      expect(checkpoints).toEqual([...checkpoints].sort((a, b) => a - b));
      expect(new Set(checkpoints).size).toBe(checkpoints.length);
      // SQL Server answers (by hanging up): the login check fails, is reported, and the writer runs on.
      sql.release();
      const installed = await install;
      expect(installed.code, installed.stderr).toBe(0);
      expect(installed.stdout + installed.stderr).toMatch(/installed and started the MbamVssWriter service/);
      const running1 = await until('RUNNING', () => statuses().find((s) => s.state === RUNNING), 30_000, { context });
      expect(running1).toMatchObject({ checkpoint: 0, win32ExitCode: 0 });
      expect(running1.controlsAccepted & SERVICE_ACCEPT_STOP).toBe(SERVICE_ACCEPT_STOP);
      expect(running1.controlsAccepted & SERVICE_ACCEPT_SHUTDOWN).toBe(SERVICE_ACCEPT_SHUTDOWN);
      expect(subscribes()).toHaveLength(1);
      expect(subscribes()[0]!['hr']).toBe('0x00000000');
      const loads = () => standin().filter((l) => l.ev === 'load').map((l) => l['pid']);
      expect(loads()).toEqual([running1.pid]);

      // The SCM's record: own process, automatic start, after the COM+ Event System and VSS, and a
      // command line that reads back to `serve --service` with this topology.
      const config = await probeCmd('config', HOSTED_WRITER_SERVICE);
      // (Dependencies as the SCM stores them, DependOnService: Wine 8.0's QueryServiceConfig omits them.)
      expect(config).toMatchObject({ ok: true, serviceType: SERVICE_WIN32_OWN_PROCESS, startType: SERVICE_AUTO_START, dependOnService: ['EventSystem', 'VSS'] });
      const argv = commandLineToArgv(config['binaryPathName'] as string);
      expect(argv.slice(2)).toEqual(['serve', '--service', '--topology', `${WIN_DIR}\\topology.json`, '--server', 'SVC01', '--state-dir', `${WIN_DIR}\\state`, '--freeze-timeout', '60000', '--command-timeout', '120000']);

      // 2. Reinstall while it runs: the old service is stopped and waited for (its writer
      //    unsubscribes), then deleted and created again, and the new one runs. (Before: STOP was
      //    sent and the delete and create followed at once, so the create met a service still
      //    marked for deletion, ERROR_SERVICE_MARKED_FOR_DELETE.)
      const reinstalled = await cli([...serveArgs, '--install-service']);
      expect(reinstalled.code, reinstalled.stderr).toBe(0);
      const running2 = await until('RUNNING again, in a new process', () => statuses().find((s) => s.state === RUNNING && s.pid !== running1.pid), 60_000, { context });
      const order = standin().filter((l) => l.ev === 'load' || l.ev === 'IVssWriterImpl.Subscribe' || (l.ev === 'IVssWriterImpl.Unsubscribe' && l['phase'] === 'end')).map((l) => (l.ev === 'load' ? `load ${l['pid']}` : l.ev));
      expect(order).toEqual([`load ${running1.pid}`, 'IVssWriterImpl.Subscribe', 'IVssWriterImpl.Unsubscribe', `load ${running2.pid}`, 'IVssWriterImpl.Subscribe']);
      // After SERVICE_STOPPED the process ends by itself; nothing of it lingers.
      expect(await probeCmd('waitexit', String(running1.pid), '30000')).toMatchObject({ ok: true });

      // 3. STOP (as `sc stop` sends it): the writer unsubscribes, then STOPPED with no error.
      // The handler reports STOP_PENDING before it returns ("Service Control Handler Function"), so
      // ControlService hands back that state and a second STOP is not delivered meanwhile.
      expect(await probeCmd('stop', HOSTED_WRITER_SERVICE)).toMatchObject({ ok: true, state: STOP_PENDING });
      const stopped = await until('STOPPED after STOP', () => statuses().find((s) => s.t > running2.t && s.state === STOPPED), 60_000, { context });
      expect(stopped).toMatchObject({ win32ExitCode: 0, serviceSpecificExitCode: 0, checkpoint: 0, pid: 0 });
      // After STOP_PENDING the only valid next state is STOPPED ("Service State Transitions").
      const stopping = statuses().filter((s) => s.t > running2.t && s.t < stopped.t).map((s) => s.state);
      expect(stopping.slice(stopping.indexOf(STOP_PENDING) < 0 ? stopping.length : stopping.indexOf(STOP_PENDING)).every((st) => st === STOP_PENDING)).toBe(true);
      expect(standin().filter((l) => l.ev === 'IVssWriterImpl.Unsubscribe' && l['phase'] === 'end')).toHaveLength(2);
      const exited = await probeCmd('waitexit', String(running2.pid), '30000');
      expect(exited, 'the service process exits after reporting STOPPED').toMatchObject({ ok: true });
      if (exited['gone'] === false) expect(exited['exitCode']).toBe(0);

      // 4. A start that fails (the topology no longer names this server): STOPPED with
      //    ERROR_SERVICE_SPECIFIC_ERROR and the HRESULT as the service-specific code, which
      //    `sc query` shows. (Before: the process died before it reached the SCM.)
      writeFileSync(join(host, 'topology.json'), topology('ANOTHER01'));
      expect(await probeCmd('start', HOSTED_WRITER_SERVICE)).toMatchObject({ ok: true });
      const failed = await until(
        'STOPPED after the failed start',
        () => statuses().find((s) => s.t > stopped.t && s.state === STOPPED && s.win32ExitCode !== 0),
        60_000,
        { context },
      );
      expect(failed.win32ExitCode).toBe(ERROR_SERVICE_SPECIFIC_ERROR);
      expect(failed.serviceSpecificExitCode >>> 0).toBe(invalidInput('--server', 'x', 'y').hresult >>> 0);
      expect(subscribes()).toHaveLength(2);
      const failedPid = statuses().filter((s) => s.t > stopped.t && s.pid).at(-1)?.pid;
      expect(failedPid).toBeTruthy();
      expect(await probeCmd('waitexit', String(failedPid), '30000'), 'the process of a failed start exits').toMatchObject({ ok: true });

      // 5. Uninstall while the service is starting (its SQL login check waits again), with a
      //    topology that no longer names this server: a starting service accepts no STOP, so the
      //    uninstall waits out the start, stops it, and only then reports it removed; the writer
      //    does not run on. (Before: the STOP was refused, the delete only marked the service, and
      //    the writer came up afterwards and stayed.)
      const unsubscribed = () => standin().filter((l) => l.ev === 'IVssWriterImpl.Unsubscribe' && l['phase'] === 'end');
      writeFileSync(join(host, 'topology.json'), topology('SVC01'));
      sql.hold();
      const acceptedBefore = sql.accepted();
      expect(await probeCmd('start', HOSTED_WRITER_SERVICE)).toMatchObject({ ok: true });
      await until('the starting service to try its SQL Server login', () => sql.accepted() > acceptedBefore, 60_000, { context });
      writeFileSync(join(host, 'topology.json'), topology('ANOTHER01'));
      const removed = await cli([...serveArgs, '--uninstall-service']);
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stdout + removed.stderr).toMatch(/removed the MbamVssWriter service/);
      await until('the service is gone', () => watch().at(-1)?.ev === 'absent', 30_000, { context });
      expect(subscribes().length, 'every writer that subscribed has unsubscribed').toBe(unsubscribed().length);

    } finally {
      writeFileSync(join(host, 'stop.flag'), '');
      await until('the watcher to end', () => watcher.exitCode !== null || watcher.signalCode !== null, 30_000).catch(() => watcher.kill('SIGKILL'));
      sql.release();
      sql.server.close();
    }
  }, 420_000);
});
