import { describe, expect, it } from 'vitest';
import { CpuMeter } from '../../../server/metrics/cpu-meter.ts';

describe('CPU meter', () => {
  it('gives CPU time over wall time since the previous reading, in percent of one core', () => {
    let now = 0;
    let cpuUs = 0;
    const meter = new CpuMeter({ now: () => now, cpuUsage: () => ({ user: cpuUs * 0.75, system: cpuUs * 0.25 }) });
    now = 1000;
    cpuUs = 250_000; // a quarter of a second of CPU in one second
    expect(meter.read()).toBe(25);
    now = 2000;
    cpuUs += 1_500_000; // two cores busy for three quarters of the second
    expect(meter.read()).toBe(150);
  });

  it('keeps the last figure for readings closer together than its window', () => {
    let now = 0;
    let cpuUs = 0;
    const meter = new CpuMeter({ now: () => now, cpuUsage: () => ({ user: cpuUs, system: 0 }), minWindowMs: 500 });
    now = 1000;
    cpuUs = 500_000;
    expect(meter.read()).toBe(50);
    now = 1010;
    cpuUs += 10_000; // 100 % over 10 ms: too short a window to say
    expect(meter.read()).toBe(50);
    now = 1500;
    cpuUs += 40_000;
    expect(meter.read()).toBe(10);
  });
});
