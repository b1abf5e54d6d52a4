import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CAPTURES = join(REPO, 'test', 'fixtures', 'vss-captures');
export const CLI = join(REPO, 'dist', 'cli', 'main.js');
export const EXAMPLE_TOPOLOGY = join(REPO, 'examples', 'two-servers.json');
