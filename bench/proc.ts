// Process CPU and memory from /proc (Linux): what a benchmark reads of the server it started.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const TICKS = 100; // USER_HZ on Linux

/** User+system CPU seconds a process has used so far. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** User and system (kernel, e.g. sending datagrams) CPU seconds a process has used so far. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS };
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** /proc/PID/status: resident anonymous memory (heaps, stacks) and resident file pages (the node binary, libraries). */
export function rssParts(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

export function machine(): { cpus: number; model: string; node: string; platform: string } {
  const cpus = os.cpus();
  return { cpus: cpus.length, model: cpus[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()}` };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

interface Stat {
  ppid: number;
  /** utime + stime of the process itself, seconds. */
  own: number;
  /** cutime + cstime: children it has waited for (an ffmpeg that exited during the window), seconds. */
  reaped: number;
}

function readStat(pid: number): Stat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited between the directory listing and the read
  }
  // proc(5): fields after "(comm)": state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), own: (Number(f[11]) + Number(f[12])) / TICKS, reaped: (Number(f[13]) + Number(f[14])) / TICKS };
}

/** Every live process below `pid` (children, grandchildren ...), found by walking /proc for parent PIDs. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) parent.set(Number(name), s.ppid);
  }
  const out: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [child, ppid] of parent) if (frontier.includes(ppid)) next.push(child);
    out.push(...next);
    frontier = next;
  }
  return out;
}

export function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s.length > 0);
  } catch {
    return [];
  }
}

export interface TreeCpu {
  /** The root process alone (utime + stime). */
  root: number;
  /** Children the root has waited for (exited ones, e.g. an ffmpeg that restarted). */
  reaped: number;
  /** Each live descendant, keyed by PID. */
  children: Map<number, number>;
  total: number;
}

/**
 * CPU seconds used so far by `pid` and everything below it. Children that exited are still counted, through the
 * root's cutime/cstime (the kernel adds a child's times there when its parent waits for it; Node reaps at once), so
 * the difference of two readings is the tree's CPU over the interval even when ffmpegs restart in between.
 */
export function treeCpuSeconds(pid: number): TreeCpu {
  const root = readStat(pid);
  const children = new Map<number, number>();
  let total = (root?.own ?? 0) + (root?.reaped ?? 0);
  for (const child of descendants(pid)) {
    const s = readStat(child);
    if (!s) continue;
    // A live child's own time; its reaped children too (ffmpeg has none, but a shell wrapper would).
    children.set(child, s.own + s.reaped);
    total += s.own + s.reaped;
  }
  return { root: root?.own ?? 0, reaped: root?.reaped ?? 0, children, total };
}

/** RSS of `pid` and each live descendant, bytes. */
export function treeRssBytes(pid: number): { root: number; children: Map<number, number> } {
  const children = new Map<number, number>();
  for (const child of descendants(pid)) {
    try {
      children.set(child, rssBytes(child));
    } catch {
      // exited meanwhile
    }
  }
  return { root: rssBytes(pid), children };
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  // Nearest rank (no interpolation): the value a reader of the table can find in the data.
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1] ?? 0;
}

/** Whole-machine CPU ticks so far (/proc/stat "cpu" line): busy and total, to tell when the box itself was full. */
export function systemTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/**
 * Proportional set size: private pages plus each shared page divided by the processes sharing it. Sums across
 * processes without counting ffmpeg's shared libraries once per process, as a sum of RSS would.
 */
export function pssBytes(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
