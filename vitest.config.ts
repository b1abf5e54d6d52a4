import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests that build native code, mount images or spawn CLIs are heavy; 2 cores here.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
