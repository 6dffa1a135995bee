import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration and e2e tests run real ffmpeg/GStreamer peers; on a 2-core machine running
    // files one at a time keeps timing-sensitive assertions (first IDR within 300 ms) honest.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
