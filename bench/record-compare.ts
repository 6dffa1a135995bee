// bench:ingest -- --record DIR: what recording every stream adds. The same bench runs twice, each in its own process
// with its own relay: recording off, then on (--record DIR/round-N, 60 s segments); the old design is left out of
// both. The difference is what recording costs: CPU per stream of the relay process (where the recorder runs) and of
// the whole tree (the RTMP ffmpegs too, which recording does not touch but whose noise the tree figure carries), and
// write syscalls per second per stream. --record-rounds N runs N off/on pairs back to back and reports each pair's
// difference and their median: on a shared machine one pair is not a stable number. Node writes files from its libuv thread pool and sockets from the main thread, so the write syscalls of the
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
  new: {
    streams: number;
    windowSeconds: number;
    cpu: { percentOfOneCorePerStream: number; perStreamBreakdown: { relayNode: number } };
    writeSyscallsPerSecondPerStream: Writes;
    frames: { streamsWithLoss: number };
    machineBusyPercent: number;
  };
  settings: Record<string, unknown>;
  machine: unknown;
}

/** One off/on pair: what recording added. */
interface Round {
  off: { treeCpu: number; relayCpu: number; writes: Writes; streamsWithLoss: number; machineBusyPercent: number };
  on: { treeCpu: number; relayCpu: number; writes: Writes; streamsWithLoss: number; machineBusyPercent: number };
  addedTreeCpu: number;
  addedRelayCpu: number;
  fileWriteSyscalls: number;
  segmentFiles: number;
  bytesPerStreamPerSecond: number;
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** `args` without --record DIR / --record=DIR and --record-rounds N (the child runs get their own). */
function withoutRecordFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--record' || a === '--record-rounds') i++;
    else if (!a.startsWith('--record=') && !a.startsWith('--record-rounds=')) out.push(a);
  }
  return out;
}

/**
 * Run bench:ingest with `args` `rounds` times as an off/on pair (recording into DIR/round-N), print the comparison as
 * JSON + a table.
 */
export async function compareRecording(dir: string, args: readonly string[], rounds = 1): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const script = new URL('./ingest.ts', import.meta.url).pathname;
  const base = withoutRecordFlags(args);
  const phase = async (p: 'off' | 'on', recordDir: string): Promise<PhaseResult> => {
    process.stderr.write(`bench:ingest --record: run with recording ${p}...\n`);
    const r = await execa(process.execPath, ['--import', 'tsx', script, ...base, '--record', recordDir, '--old-streams', '0'], {
      env: { ...process.env, [RECORD_PHASE_ENV]: p },
      stdin: 'ignore',
      stderr: 'inherit',
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`the run with recording ${p} failed (exit ${r.exitCode})`);
    return JSON.parse(r.stdout) as PhaseResult;
  };
  const results: Round[] = [];
  let last: PhaseResult | undefined;
  for (let n = 1; n <= rounds; n++) {
    const recordDir = path.join(dir, `round-${n}`);
    mkdirSync(recordDir, { recursive: true });
    const off = await phase('off', recordDir);
    const on = await phase('on', recordDir);
    last = on;
    const K = on.new.streams;
    const files = readdirSync(recordDir, { recursive: true }).map(String).filter((f) => f.endsWith('.mp4'));
    const bytes = files.reduce((b, f) => b + statSync(path.join(recordDir, f)).size, 0);
    const side = (r: PhaseResult): Round['off'] => ({
      treeCpu: r.new.cpu.percentOfOneCorePerStream,
      relayCpu: r.new.cpu.perStreamBreakdown.relayNode,
      writes: r.new.writeSyscallsPerSecondPerStream,
      streamsWithLoss: r.new.frames.streamsWithLoss,
      machineBusyPercent: r.new.machineBusyPercent,
    });
    const result: Round = {
      off: side(off),
      on: side(on),
      addedTreeCpu: round(on.new.cpu.percentOfOneCorePerStream - off.new.cpu.percentOfOneCorePerStream),
      addedRelayCpu: round(on.new.cpu.perStreamBreakdown.relayNode - off.new.cpu.perStreamBreakdown.relayNode),
      // The recorder's writes: the relay's file writes (off its main thread) with recording on, less those with it off.
      fileWriteSyscalls: round(on.new.writeSyscallsPerSecondPerStream.offMainThread - off.new.writeSyscallsPerSecondPerStream.offMainThread, 2),
      segmentFiles: files.length,
      // The files hold the warm-up and the drain too, so this is a little above the stream's rate.
      bytesPerStreamPerSecond: Math.round(bytes / K / on.new.windowSeconds),
    };
    results.push(result);
    process.stderr.write(`  round ${n}: recording added ${result.addedRelayCpu}% (relay process) / ${result.addedTreeCpu}% (process tree) of a core per stream, ${result.fileWriteSyscalls} file writes/s per stream\n`);
  }
  const K = last!.new.streams;
  const addedRelay = round(median(results.map((r) => r.addedRelayCpu)));
  const addedTree = round(median(results.map((r) => r.addedTreeCpu)));
  const fileWrites = round(median(results.map((r) => r.fileWriteSyscalls)), 2);
  const result = {
    bench: 'ingest --record',
    machine: last!.machine,
    settings: { ...last!.settings, recordDir: dir, recordSegmentSeconds: 60, rounds },
    rounds: results,
    recording: {
      // The recorder runs in the relay process: this is its cost. The tree adds the RTMP ffmpegs' noise.
      addedRelayCpuPercentOfOneCorePerStream: addedRelay,
      addedTreeCpuPercentOfOneCorePerStream: addedTree,
      fileWriteSyscallsPerSecondPerStream: fileWrites,
      streams: K,
    },
    targets: { addedCpuPercentOfOneCorePerStream: 0.2 },
    met: { relayCpu: addedRelay <= 0.2, treeCpu: addedTree <= 0.2 },
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  const yes = (b: boolean) => (b ? 'met' : 'NOT met');
  process.stderr.write(
    `\n  recording ${K} streams (median of ${rounds} off/on pair${rounds > 1 ? 's' : ''}) added ${addedRelay}% of a core per stream to the relay process (≤ 0.2 %: ${yes(result.met.relayCpu)}), ` +
      `${addedTree}% to the process tree (≤ 0.2 %: ${yes(result.met.treeCpu)}), and ${fileWrites} file write syscalls per second per stream\n`,
  );
}
