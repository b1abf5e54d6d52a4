/**
 * Imports point one way (docs/ARCHITECTURE.md, "Layers"):
 *   vss ← util ← platform ← sql ← mbam ← requester | hosted | install ← cli
 * A module may import from its own layer or any layer to its left, never to its right, and the
 * three siblings (requester, hosted, install) do not import each other. src/index.ts (the public
 * API) may import anything; src/version.ts sits with vss.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/paths.js';

const RANK: Record<string, number> = { vss: 0, 'version.ts': 0, util: 1, platform: 2, sql: 3, mbam: 4, requester: 5, hosted: 5, install: 5, cli: 6 };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The layer a path under src/ belongs to: its first directory, or the file name at the top. */
function layerOf(srcRelative: string): string {
  return srcRelative.split('/')[0]!;
}

/** Every relative module specifier in a file: static imports, re-exports and dynamic import(). */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;
  for (let m = re.exec(text); m; m = re.exec(text)) specs.push(m[2]!);
  return specs;
}

export function layerViolations(srcDir: string): string[] {
  const out: string[] = [];
  for (const file of sourceFiles(srcDir)) {
    const from = relative(srcDir, file).split('\\').join('/');
    if (from === 'index.ts') continue;
    const fromLayer = layerOf(from);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const to = relative(srcDir, join(dirname(file), spec)).split('\\').join('/').replace(/\.js$/, '.ts');
      const toLayer = layerOf(to);
      if (toLayer === fromLayer) continue;
      const a = RANK[fromLayer];
      const b = RANK[toLayer];
      if (a === undefined || b === undefined) out.push(`${from} → ${to}: layer not in the order (${a === undefined ? fromLayer : toLayer})`);
      else if (b >= a) out.push(`${from} → ${to}: ${fromLayer} may not import ${toLayer}`);
    }
  }
  return out;
}

describe('layers', () => {
  it('every import in src/ points down the layer order', () => {
    expect(layerViolations(join(REPO, 'src'))).toEqual([]);
  });

  it('the check sees static, re-exported and dynamic imports, and would fail on an upward edge', () => {
    expect(importsOf(`import { a } from '../mbam/x.js';\nexport * from "./y.js";\nconst m = await import('../cli/z.js');\nimport '../sql/side.js';`)).toEqual(['../mbam/x.js', './y.js', '../cli/z.js', '../sql/side.js']);
    expect(RANK['sql']! < RANK['mbam']!).toBe(true);
  });
});
