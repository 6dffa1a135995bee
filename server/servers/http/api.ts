// GET /api/streams: every stream, whether a browser or an RTSP publisher feeds it.
import { avcProfileName, parseSps } from '../../../shared/fmp4/avc.ts';
import type { OutputStatus } from '../../../shared/protocol.ts';
import type { InitInfo } from '../../../shared/fmp4/reader.ts';
import type { IngestServer } from '../ws-publish/ingest-server.ts';
import { h264SpropParameterSets } from '../../protocols/rtsp/sdp.ts';
import type { StreamRegistry } from '../../stream/registry.ts';
import type { Stream } from '../../stream/stream.ts';

export interface StreamJson {
  name: string;
  source: 'browser' | 'rtsp';
  state: string;
  since: string;
  video?: { codec: string; profile?: string; width?: number; height?: number; fps?: number };
  audio?: { codec: string; sampleRate?: number; channels?: number };
  ingestKbps: number;
  rtspPlayers: number;
  /** Players of http://HOST:8090/NAME.mp4. */
  httpPlayers: number;
  /** Relay players of this stream skipped to a keyframe for falling behind, and disconnected for staying behind. */
  playerDrops: { skips: number; disconnected: number };
  outputs: OutputStatus[];
}

/** Every stream the hub carries, whatever its source: one list. */
export function listStreams(
  registry: StreamRegistry,
  ingest: IngestServer,
  rtspPlayers: (name: string) => number,
  hubOutputs: (name: string) => OutputStatus[],
  httpPlayers: (name: string) => number = () => 0,
): StreamJson[] {
  return registry.list().flatMap((snap) => {
    const stream = registry.get(snap.name);
    if (!stream) return [];
    const browser = stream.source === 'websocket';
    return [
      {
        name: snap.name,
        source: browser ? 'browser' : 'rtsp',
        state: snap.state,
        since: new Date(snap.since).toISOString(),
        ...(browser ? browserMedia(stream, ingest.info(snap.name)) : rtspMedia(stream)),
        ingestKbps: snap.ingestKbps,
        rtspPlayers: rtspPlayers(snap.name),
        httpPlayers: httpPlayers(snap.name),
        playerDrops: { skips: snap.readerSkips, disconnected: snap.readersDropped },
        outputs: hubOutputs(snap.name),
      },
    ];
  });
}

/** A browser stream's tracks as its init segment declared them (WebCodecs codec strings), while its page is there. */
function browserMedia(stream: Stream, info: InitInfo | undefined): Pick<StreamJson, 'video' | 'audio'> {
  if (!info) return rtspMedia(stream);
  const v = info.tracks.find((t) => t.kind === 'video');
  const a = info.tracks.find((t) => t.kind === 'audio');
  return {
    ...(v ? { video: { codec: v.codec, ...opt('profile', v.profile), ...opt('width', v.width), ...opt('height', v.height), fps: stream.videoFps() } } : {}),
    ...(a ? { audio: { codec: a.codec, ...opt('sampleRate', a.sampleRate), ...opt('channels', a.channels) } } : {}),
  };
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
