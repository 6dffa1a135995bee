// bench:ingest -- --record DIR: what recording every stream adds. The same bench runs twice, each in its own process
// with its own relay: recording off, then on (--record DIR, 60 s segments); the old design is left out of both. The
// difference is what recording costs: CPU of the relay process tree per stream, and write syscalls per second per
// stream. Node writes files from its libuv thread pool and sockets from the main thread, so the write syscalls of the
// relay's other threads (/proc/PID/task/TID/io syscw) are its file writes: the recorder's, in this bench.
import { execa } from 'execa';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** Set in the child runs: "off" or "on". */
export const RECORD_PHASE_ENV = 'RELAYCAST_BENCH_RECORD_PHASE';

/** Write-family syscalls of a process so far: all its threads, and all but its main thread (Node: file writes). */
export function writeSyscalls(pid: number): { all: number; offMainThread: number } {
  const all = syscw(`/proc/${pid}/io`);
  let offMainThread = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (tid === String(pid)) continue;
    try {
      offMainThread += syscw(`/proc/${pid}/task/${tid}/io`);
    } catch {
      // the thread ended meanwhile
    }
  }
  return { all, offMainThread };
}

function syscw(file: string): number {
  const m = /^syscw:\s*(\d+)$/m.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`${file} has no syscw line`);
  return Number(m[1]);
}

type Writes = { all: number; offMainThread: number };

interface PhaseResult {
  new: { streams: number; windowSeconds: number; cpu: { percentOfOneCorePerStream: number }; writeSyscallsPerSecondPerStream: Writes; frames: { streamsWithLoss: number } };
  settings: Record<string, unknown>;
  machine: unknown;
}

/** Run bench:ingest with `args` twice (recording off, then on into `dir`), print the comparison as JSON + a table. */
export async function compareRecording(dir: string, args: readonly string[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const script = new URL('./ingest.ts', import.meta.url).pathname;
  const phase = async (p: 'off' | 'on'): Promise<PhaseResult> => {
    process.stderr.write(`bench:ingest --record: run with recording ${p}...\n`);
    const r = await execa(process.execPath, ['--import', 'tsx', script, ...args, '--old-streams', '0'], {
      env: { ...process.env, [RECORD_PHASE_ENV]: p },
      stdin: 'ignore',
      stderr: 'inherit',
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`the run with recording ${p} failed (exit ${r.exitCode})`);
    return JSON.parse(r.stdout) as PhaseResult;
  };
  const off = await phase('off');
  const on = await phase('on');
  const K = on.new.streams;
  const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.mp4'));
  const bytes = files.reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
  const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
  const addedCpu = round(on.new.cpu.percentOfOneCorePerStream - off.new.cpu.percentOfOneCorePerStream);
  const fileWrites = round(on.new.writeSyscallsPerSecondPerStream.offMainThread - off.new.writeSyscallsPerSecondPerStream.offMainThread, 2);
  const result = {
    bench: 'ingest --record',
    machine: on.machine,
    settings: { ...on.settings, recordDir: dir, recordSegmentSeconds: 60 },
    off: { cpuPercentOfOneCorePerStream: off.new.cpu.percentOfOneCorePerStream, writeSyscallsPerSecondPerStream: off.new.writeSyscallsPerSecondPerStream, streamsWithLoss: off.new.frames.streamsWithLoss },
    on: { cpuPercentOfOneCorePerStream: on.new.cpu.percentOfOneCorePerStream, writeSyscallsPerSecondPerStream: on.new.writeSyscallsPerSecondPerStream, streamsWithLoss: on.new.frames.streamsWithLoss },
    recording: {
      addedCpuPercentOfOneCorePerStream: addedCpu,
      // The recorder's writes (the relay's file writes with recording on, less those with it off).
      fileWriteSyscallsPerSecondPerStream: fileWrites,
      segmentFiles: files.length,
      bytesWrittenPerStreamPerSecond: Math.round(bytes / K / on.new.windowSeconds),
    },
    targets: { addedCpuPercentOfOneCorePerStream: 0.2 },
    met: { cpu: addedCpu <= 0.2 },
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  process.stderr.write(`\n  recording ${K} streams added ${addedCpu}% of a core per stream (≤ 0.2 %: ${result.met.cpu ? 'met' : 'NOT met'}) and ${fileWrites} file write syscalls per second per stream\n`);
}
