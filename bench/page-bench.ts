// What the benchmarks that drive the publisher page in Chromium share (bench:latency, bench:viewer): their flags
// (--seconds, --warmup, --preset, --fps, checked, exit 2 with a sentence) and the summary of their latency samples.
import { parseArgs } from 'node:util';
import { percentile } from './proc.ts';

export const PRESETS = { '480p': [854, 480], '720p': [1280, 720], '1080p': [1920, 1080] } as const;

export interface PageBenchSettings {
  seconds: number;
  warmup: number;
  fps: number;
  preset: keyof typeof PRESETS;
  width: number;
  height: number;
}

/** The flags of `npm run bench:NAME -- [--seconds 20 --warmup 5 --preset 720p --fps 30]`. */
export function pageBenchSettings(name: string): PageBenchSettings {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '5' },
      preset: { type: 'string', default: '720p' },
      fps: { type: 'string', default: '30' },
    },
  });
  const usage = (problem: string): never => {
    process.stderr.write(`bench:${name}: ${problem}\n`);
    process.exit(2);
  };
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  const fps = Number(values.fps);
  if (!(seconds > 0) || !(warmup >= 0)) usage('--seconds must be positive and --warmup 0 or more');
  if (![15, 30, 60].includes(fps)) usage('--fps must be 15, 30 or 60 (what the page offers)');
  const preset = values.preset as keyof typeof PRESETS;
  if (!(preset in PRESETS)) usage(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
  const [width, height] = PRESETS[preset];
  return { seconds, warmup, fps, preset, width, height };
}

/** Latency samples (ms) summed up, rounded to whole ms. */
export function latencySummary(samples: readonly number[]): { samples: number; p50: number; p95: number; p99: number; max: number; min: number; mean: number } {
  const ms = (x: number) => Math.round(x);
  return {
    samples: samples.length,
    p50: ms(percentile(samples, 50)),
    p95: ms(percentile(samples, 95)),
    p99: ms(percentile(samples, 99)),
    max: ms(Math.max(...samples)),
    min: ms(Math.min(...samples)),
    mean: ms(samples.reduce((a, b) => a + b, 0) / samples.length),
  };
}
