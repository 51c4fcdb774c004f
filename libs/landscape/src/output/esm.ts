import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * d3-contour and h5wasm ship as ES modules only. Node ≥ 20.19 can require() an ES module (no top-level await
 * in either), which works both in the compiled CommonJS build and under vitest (a native `import()` hidden
 * from TypeScript does not: vitest evaluates modules in a vm context without a dynamic-import hook).
 *
 * `file` names a file inside the package, for packages whose exports map offers only an `import` condition
 * (h5wasm's `./node` entry is `dist/node/hdf5_hl.js`).
 */
export function requireEsm<T>(name: string, file?: string): T {
  if (!file) return require(name) as T;
  const root = (require.resolve.paths(name) ?? []).map((dir) => join(dir, name)).find((dir) => existsSync(join(dir, 'package.json')));
  if (!root) throw new Error(`package ${name} is not installed`);
  return require(join(root, file)) as T;
}
