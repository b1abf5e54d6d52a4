/**
 * The package must work as a dependency under npm 11, which skips dependencies' install scripts:
 * the tarball carries the linux-x64 prebuild, and a fresh project that installs it can load the
 * addon and run the CLI without compiling anything.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { itRequires, prereq, hasCommand } from '../support/prereq.js';
import { REPO } from '../support/paths.js';
import { execAsync } from '../support/exec.js';

const linux = prereq(process.platform === 'linux' && process.arch === 'x64', 'a linux-x64 machine');
const mingw = prereq(hasCommand('x86_64-w64-mingw32-g++-posix') && hasCommand('x86_64-w64-mingw32-objdump'), 'MinGW-w64 (apt-get install g++-mingw-w64-x86-64)');

interface Lockfile {
  packages: Record<string, { version?: string; dev?: boolean; link?: boolean }>;
}
type Overrides = { [name: string]: string | Overrides };

/**
 * npm `overrides` pinning every production package (direct or transitive) to the version our
 * lockfile has: the consumer install then tests our package, not whatever the registry published
 * since (or lacks: a range can name a version the reachable registry does not serve yet).
 * A copy nested under another package (`a/node_modules/b`, a second version of b) becomes a nested
 * override, which npm applies within a's subtree only.
 */
function lockfileOverrides(lock: Lockfile): Overrides {
  const root: Overrides = {};
  const entries = Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev && !p.link && p.version)
    // Outer packages first, so a nested entry finds its owner's pin to turn into an object.
    .sort(([a], [b]) => a.split('node_modules/').length - b.split('node_modules/').length);
  for (const [path, p] of entries) {
    const chain = path.split('/node_modules/').map((s) => s.replace(/^node_modules\//, ''));
    let at = root;
    for (const owner of chain.slice(0, -1)) {
      const cur = at[owner];
      const obj: Overrides = typeof cur === 'object' ? cur : cur === undefined ? {} : { '.': cur };
      at[owner] = obj;
      at = obj;
    }
    at[chain[chain.length - 1]!] = p.version!;
  }
  return root;
}

describe('packaging', () => {
  itRequires(mingw, 'npm run build:win cross-compiles a PE32+ DLL exporting napi_register_module_v1', async () => {
    await execAsync('npm', ['run', '--silent', 'build:win'], { cwd: REPO });
    const binary = join(REPO, 'build-win', 'mbam_vss.node');
    const headers = execFileSync('x86_64-w64-mingw32-objdump', ['-f', '-p', binary], { encoding: 'utf8' });
    expect(headers).toMatch(/file format pei-x86-64/);
    expect(headers).toMatch(/Magic\s+020b\s+\(PE32\+\)/);
    expect(headers).toMatch(/\[\s*\d+\]\s+napi_register_module_v1/);
    // Only system DLLs and node.exe: nothing a Windows machine would lack.
    const dlls = [...headers.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1]!.toLowerCase()).sort();
    expect(dlls.every((d) => ['advapi32.dll', 'kernel32.dll', 'msvcrt.dll', 'node.exe', 'ole32.dll', 'oleaut32.dll', 'vssapi.dll'].includes(d)), dlls.join(',')).toBe(true);
  }, 180_000);

  itRequires(mingw, 'build:win fails on a compiler warning (warnings are errors)', async () => {
    // The unchanged build script on a copy whose binding.gyp lists one source with a warning: what
    // is tested is what the build does with a warning, whatever flag spelling produces it.
    const work = mkdtempSync(join(tmpdir(), 'mbam-werror-'));
    try {
      cpSync(join(REPO, 'scripts'), join(work, 'scripts'), { recursive: true });
      cpSync(join(REPO, 'package.json'), join(work, 'package.json'));
      symlinkSync(join(REPO, 'node_modules'), join(work, 'node_modules'));
      const gyp = JSON.parse(readFileSync(join(REPO, 'binding.gyp'), 'utf8'));
      const target = gyp.targets[0];
      target.sources = ['warns.cc'];
      for (const [cond, body] of target.conditions) if (cond === "OS=='win'") body.sources = [];
      writeFileSync(join(work, 'binding.gyp'), JSON.stringify(gyp));
      // -Wall's unused-variable: a warning every GCC emits, harmless to the code it is in.
      writeFileSync(join(work, 'warns.cc'), 'int mbam_warns() { int unused = 0; return 0; }\n');
      const err = await execAsync('node', ['scripts/build-win.mjs'], { cwd: work }).then(
        () => undefined,
        (e: Error & { stderr?: string }) => e,
      );
      expect(err, 'build:win succeeded on a source with a warning').toBeDefined();
      expect(err!.stderr).toMatch(/\[-Werror=unused-variable\]/);
      expect(existsSync(join(work, 'build-win', 'mbam_vss.node'))).toBe(false);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);

  itRequires(linux, 'npm pack carries the linux-x64 prebuild, and a project that installs it runs without compiling', async () => {
    // In a copy of the package: prebuildify rebuilds and moves build/Release, which other tests
    // running at the same time load.
    const work = mkdtempSync(join(tmpdir(), 'mbam-pkg-'));
    for (const f of ['package.json', 'binding.gyp', 'README.md']) cpSync(join(REPO, f), join(work, f));
    for (const d of ['native', 'dist', 'examples']) cpSync(join(REPO, d), join(work, d), { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(work, 'node_modules'));
    await execAsync('npx', ['prebuildify', '--napi', '--strip', '--tag-libc'], { cwd: work });
    const dest = mkdtempSync(join(tmpdir(), 'mbam-pack-'));
    const packed = JSON.parse(await execAsync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: work }));
    const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('binding.gyp');
    expect(files.some((f) => /^prebuilds\/linux-x64\/.*\.node$/.test(f))).toBe(true);
    expect(files.some((f) => f.startsWith('build/'))).toBe(false);
    expect(files.some((f) => f.startsWith('test/'))).toBe(false);

    const project = mkdtempSync(join(tmpdir(), 'mbam-consumer-'));
    const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as Lockfile;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true, overrides: lockfileOverrides(lock) }));
    const tarball = join(dest, readdirSync(dest).find((f) => f.endsWith('.tgz'))!);
    await execAsync('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: project });
    const installed = join(project, 'node_modules', 'mbam-vss');
    expect(existsSync(join(installed, 'build'))).toBe(false); // nothing was compiled
    const out = await execAsync('node', ['--input-type=module', '-e', "import('mbam-vss').then(m => console.log(JSON.stringify({ caps: m.nativeCapabilities(), v: m.TOOL_VERSION, hr: m.HR.VSS_E_WRITERERROR_RETRYABLE })))"], { cwd: project });
    const r = JSON.parse(out);
    expect(r.hr).toBe(0x800423f3);
    expect(typeof r.caps.fsFreeze).toBe('boolean');
    const demo = await execAsync(join(project, 'node_modules', '.bin', 'mbam-vss'), ['demo', '--json'], { cwd: project });
    expect(JSON.parse(demo).result.events).toHaveLength(8);
    // CommonJS callers: require() of the ESM package (Node 20.19+ has require(esm)).
    const cjs = await execAsync('node', ['-e', "const m = require('mbam-vss'); process.stdout.write(String(m.HR.VSS_E_WRITERERROR_RETRYABLE))"], { cwd: project });
    expect(Number(cjs)).toBe(0x800423f3);
    // A consumer's `tsc --strict` over our declarations, with only Node's types of its own (no
    // @types/mssql in the consumer, no skipLibCheck): every public type must resolve from the package.
    writeFileSync(
      join(project, 'use.ts'),
      "import { backup, createSqlSnapshotWriter, sqlTargetOf, loadTopology, VssError, type BackupOptions, type SqlSnapshotWriter } from 'mbam-vss';\n" +
        "export async function run(o: BackupOptions): Promise<number> {\n" +
        "  const w: SqlSnapshotWriter = await createSqlSnapshotWriter({ server: sqlTargetOf(loadTopology('t.json').servers[0]!) });\n" +
        "  try { return (await backup({ ...o, writers: [w] })).files; } catch (e) { if (e instanceof VssError) return -e.hresult; throw e; }\n" +
        "}\n",
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: ['node'], typeRoots: [join(REPO, 'node_modules', '@types')] }, files: ['use.ts'] }),
    );
    await execAsync(join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', project], { cwd: project }).catch((e: Error & { stdout?: string }) => {
      throw new Error(`a consumer's tsc --strict fails on our declarations:\n${e.stdout ?? e.message}`);
    });
    rmSync(project, { recursive: true, force: true });
    rmSync(dest, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }, 300_000);
});
