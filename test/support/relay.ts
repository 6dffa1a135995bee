// Start a real relay on port 0 and real ffmpeg publishers against it, for integration tests.
import { execa, type ResultPromise } from 'execa';
import { readFileSync } from 'node:fs';
import { parseConfig, type Config } from '../../server/config.ts';
import { createLogger } from '../../server/log.ts';
import { startRelay, type Relay, type RelayOverrides } from '../../server/main.ts';
import { loadPublisherMedia, WsPublisher } from './ws-publisher.ts';

export interface TestRelay {
  relay: Relay;
  rtspPort: number;
  /** This relay's UDP port range (each relay in a run gets its own slice). */
  udpPorts: { min: number; max: number };
  url(name: string): string;
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

let udpBase = 30000 + (process.pid % 100) * 200;

/** flags: the CLI flags of server/config.ts; overrides: settings without a flag (timeouts, reader policy, auth). */
export async function startTestRelay(flags: string[] = [], overrides: RelayOverrides = {}): Promise<TestRelay> {
  // Each relay in a test run gets its own slice of UDP ports, so parallel relays never fight over a pair.
  const udp = `${udpBase}-${udpBase + 199}`;
  udpBase = udpBase + 200 > 60000 ? 30000 : udpBase + 200;
  // --config FILE works too (per-stream outputs need it).
  const parsed = parseConfig(['--host', '127.0.0.1', '--rtsp-port', '0', '--http-port', '0', '--udp-ports', udp, ...flags], {}, (p) => readFileSync(p, 'utf8'));
  if (parsed.ok !== true) throw new Error(`bad test flags: ${JSON.stringify(parsed)}`);
  const config: Config = parsed.config;
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', sink: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  const relay = await startRelay(config, logger, { skipWebCheck: true, ...overrides });
  const rtspPort = relay.rtsp.port();
  return { relay, rtspPort, udpPorts: config.udpPorts, logs, url: (name) => `rtsp://127.0.0.1:${rtspPort}/${name}`, close: () => relay.close() };
}

export interface PublishOptions {
  url: string;
  transport?: 'tcp' | 'udp';
  audio?: 'opus' | 'aac' | 'pcma' | 'none';
  video?: 'h264' | 'h265';
  /** B-frames (libx264 -bf N, without -tune zerolatency): DTS differs from PTS, as from most IP cameras. */
  bframes?: number;
  /** GOP in frames at 30 fps (60 = 2 s). */
  gop?: number;
  size?: string;
  bitrate?: string;
  /** Seconds of stream; default: until stopped. */
  duration?: number;
}

export const PUBLISH_OPTIONS = { reject: false, stdin: 'ignore', buffer: true, cleanup: true } as const;
export type Publisher = ResultPromise<typeof PUBLISH_OPTIONS>;

/** A real ffmpeg publishing testsrc2 (+ sine) in real time with ANNOUNCE/RECORD. */
export function publish(o: PublishOptions): Publisher {
  const audio = o.audio ?? 'opus';
  const args = [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${o.size ?? '640x360'}:rate=30`,
    ...(audio === 'none' ? [] : ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${audio === 'pcma' ? 8000 : 48000}`]),
    ...(o.duration ? ['-t', String(o.duration)] : []),
    ...(o.video === 'h265'
      ? ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', `keyint=${o.gop ?? 60}:scenecut=0:bframes=${o.bframes ?? 0}:log-level=error`]
      : o.bframes
        ? ['-c:v', 'libx264', '-preset', 'veryfast', '-bf', String(o.bframes), '-g', String(o.gop ?? 60), '-sc_threshold', '0']
        : ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(o.gop ?? 60)]),
    '-pix_fmt', 'yuv420p',
    ...(o.bitrate ? ['-b:v', o.bitrate, '-maxrate', o.bitrate, '-bufsize', o.bitrate] : []),
    ...(audio === 'opus' ? ['-c:a', 'libopus', '-b:a', '64k'] : audio === 'aac' ? ['-c:a', 'aac', '-b:a', '64k'] : audio === 'pcma' ? ['-c:a', 'pcm_alaw', '-ar', '8000', '-ac', '1'] : []),
    '-f', 'rtsp', '-rtsp_transport', o.transport ?? 'tcp', o.url,
  ];
  return execa('ffmpeg', args, PUBLISH_OPTIONS);
}

/** A live stream whose video is noise at 16 Mbit/s with a keyframe every 0.5 s: a player that stops reading backs up in seconds. */
export function publishFast(target: string): Publisher {
  return execa('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30,noise=alls=30:allf=t', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '15', '-b:v', '16M', '-maxrate', '16M', '-bufsize', '4M', '-pix_fmt', 'yuv420p',
    '-c:a', 'libopus', '-b:a', '64k',
    '-f', 'rtsp', '-rtsp_transport', 'tcp', target,
  ], PUBLISH_OPTIONS);
}

/** A WsPublisher of NAME on `relay` (1 s groups), accepted, uploading and live; pushed to `into` for disposal. */
export async function startWsPublisher(relay: TestRelay, stream: string, into: WsPublisher[]): Promise<WsPublisher> {
  const p = new WsPublisher({ port: relay.relay.http.port(), stream, media: await loadPublisherMedia({ gop: 30 }) });
  into.push(p);
  await p.connectOrThrow();
  p.start();
  await waitLive(relay.relay, stream);
  return p;
}

/** Resolve when NAME is live on the relay (the publisher's RECORD succeeded and media flows). */
export async function waitLive(relay: Relay, name: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = relay.registry.get(name);
    if (s && s.state === 'live' && s.snapshot().gopUnits > 0) return;
    if (Date.now() > until) throw new Error(`stream ${name} did not go live within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What stopProcess needs of an execa child, whatever options it was started with. */
export interface ChildLike extends PromiseLike<unknown> {
  readonly exitCode: number | null;
  readonly pid?: number | undefined;
  kill(signal: 'SIGINT' | 'SIGKILL'): boolean;
}

/** Stop a process we started, by its PID, and wait for it. */
export async function stopProcess(p: ChildLike): Promise<void> {
  if (p.exitCode === null && p.pid !== undefined) p.kill('SIGINT');
  const timer = setTimeout(() => p.kill('SIGKILL'), 3000);
  await Promise.resolve(p).catch(() => undefined);
  clearTimeout(timer);
}
