// Shared by the ingest integration tests: the relay's HTTP API, the ffmpeg PIDs the egress logged, and this
// process's ffmpeg children (the relay runs in-process, so every ffmpeg it spawns is our child).
import { execa } from 'execa';
import type { StreamJson } from '../../../server/servers/http/api.ts';
import type { TestRelay } from '../../support/relay.ts';

export async function getJson<T>(port: number, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: (await res.json()) as T };
}

export async function listStreams(relay: TestRelay): Promise<StreamJson[]> {
  const r = await getJson<StreamJson[]>(relay.relay.http.port(), '/api/streams');
  if (r.status !== 200) throw new Error(`/api/streams answered ${r.status}`);
  return r.body;
}

export async function streamJson(relay: TestRelay, name: string): Promise<StreamJson | undefined> {
  return (await listStreams(relay)).find((s) => s.name === name);
}

/** PIDs of the ffmpeg processes the egress spawned for NAME (from its egress.spawn log lines), oldest first. */
export function spawnedPids(relay: TestRelay, name?: string): number[] {
  return relay.logs
    .filter((l) => l['event'] === 'egress.spawn' && (name === undefined || l['stream'] === name))
    .map((l) => l['pid'])
    .filter((p): p is number => typeof p === 'number');
}

/** ffmpeg processes whose parent is this test process (pgrep -P), i.e. the ones our in-process relay started. */
export async function ffmpegChildren(): Promise<number[]> {
  const r = await execa('pgrep', ['-P', String(process.pid), '-x', 'ffmpeg'], { reject: false });
  return String(r.stdout)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}
