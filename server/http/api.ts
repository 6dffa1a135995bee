// GET /api/streams: every stream, whether a browser or an RTSP publisher feeds it.
import { avcProfileName, parseSps } from '../../shared/fmp4/avc.ts';
import type { OutputStatus } from '../../shared/protocol.ts';
import type { IngestServer } from '../ingest/ingest-server.ts';
import { h264SpropParameterSets } from '../rtsp/sdp.ts';
import type { StreamRegistry } from '../stream/registry.ts';
import type { Stream } from '../stream/stream.ts';

export interface StreamJson {
  name: string;
  source: 'browser' | 'rtsp';
  state: string;
  since: string;
  video?: { codec: string; profile?: string; width?: number; height?: number; fps?: number };
  audio?: { codec: string; sampleRate?: number; channels?: number };
  ingestKbps: number;
  rtspPlayers: number;
  /** Relay players of this stream skipped to a keyframe for falling behind, and disconnected for staying behind. */
  playerDrops: { skips: number; disconnected: number };
  outputs: OutputStatus[];
}

export function listStreams(
  registry: StreamRegistry,
  ingest: IngestServer,
  rtspPlayers: (name: string) => number,
  hubOutputs: (name: string) => OutputStatus[],
): StreamJson[] {
  const out = new Map<string, StreamJson>();
  const drops = (name: string) => {
    const snap = registry.get(name)?.snapshot();
    return { skips: snap?.readerSkips ?? 0, disconnected: snap?.readersDropped ?? 0 };
  };
  for (const s of ingest.list()) {
    const v = s.track('video');
    const a = s.track('audio');
    out.set(s.name, {
      name: s.name,
      source: 'browser',
      state: s.state,
      since: new Date(s.since).toISOString(),
      ...(v ? { video: { codec: v.codec, ...opt('profile', v.profile), ...opt('width', v.width), ...opt('height', v.height), fps: s.fps() } } : {}),
      ...(a ? { audio: { codec: a.codec, ...opt('sampleRate', a.sampleRate), ...opt('channels', a.channels) } } : {}),
      ingestKbps: Math.round(s.ingestKbps()),
      rtspPlayers: rtspPlayers(s.name),
      playerDrops: drops(s.name),
      outputs: s.outputStatus(),
    });
  }
  for (const snap of registry.list()) {
    if (out.has(snap.name)) continue;
    const stream = registry.get(snap.name);
    out.set(snap.name, {
      name: snap.name,
      source: 'rtsp',
      state: snap.state,
      since: new Date(snap.since).toISOString(),
      ...(stream ? rtspMedia(stream) : {}),
      ingestKbps: snap.ingestKbps,
      rtspPlayers: rtspPlayers(snap.name),
      playerDrops: { skips: snap.readerSkips, disconnected: snap.readersDropped },
      outputs: hubOutputs(snap.name),
    });
  }
  return [...out.values()];
}

function rtspMedia(stream: Stream): Pick<StreamJson, 'video' | 'audio'> {
  const r: Pick<StreamJson, 'video' | 'audio'> = {};
  for (const t of stream.tracks) {
    if (t.codec.kind === 'video' && !r.video) {
      r.video = { codec: t.codec.codec.toLowerCase(), fps: stream.videoFps() };
      if (t.codec.codec === 'H264') {
        // RFC 6184 §8.1: the SPS in sprop-parameter-sets gives profile and size without decoding anything.
        const sps = h264SpropParameterSets(t.media.fmtp).find((n) => ((n[0] ?? 0) & 0x1f) === 7);
        const info = sps ? parseSps(sps) : undefined;
        if (info?.ok) r.video = { ...r.video, profile: avcProfileName(info.value.profileIdc, info.value.constraintFlags), width: info.value.width, height: info.value.height };
      }
    } else if (t.codec.kind === 'audio' && !r.audio) {
      r.audio = { codec: t.codec.codec.toLowerCase(), sampleRate: t.codec.clockRate, ...opt('channels', t.codec.channels) };
    }
  }
  return r;
}

function opt<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}
