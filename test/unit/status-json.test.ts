import { describe, expect, it } from 'vitest';
import { parseStatus, type StatusJson } from '../../shared/status.ts';

const good: StatusJson = {
  server: {
    version: '0.1.0',
    startedAt: '2026-12-04T10:00:00.000Z',
    uptimeSeconds: 12,
    cpuPercent: 3.5,
    cores: 2,
    rssBytes: 80_000_000,
    connections: { rtsp: 2, rtspSessions: { tcp: 1, udp: 1 }, http: 0, viewer: 1, publishers: { rtsp: 1, websocket: 0 } },
    listening: [{ protocol: 'http', host: '127.0.0.1', port: 8090 }, { protocol: 'rtsp', host: '127.0.0.1', port: 8554 }],
  },
  streams: [
    {
      name: 'cam',
      source: 'rtsp',
      state: 'live',
      since: '2026-12-04T10:00:01.000Z',
      publisher: { protocol: 'rtsp', transport: 'tcp', since: '2026-12-04T10:00:01.000Z', remote: '127.0.0.1:50000' },
      video: { codec: 'h264', profile: 'High', width: 640, height: 360, fps: 30 },
      audio: { codec: 'opus', sampleRate: 48000, channels: 2 },
      ingestKbps: 900,
      readers: { rtspTcp: 1, rtspUdp: 0, http: 0, viewer: 1 },
      playerDrops: { skips: 0, disconnected: 0 },
      outputs: [{ url: 'rtmp://127.0.0.1:1/live/****', kind: 'rtmp', state: 'backoff', restarts: 2, lastError: 'Connection refused', retryInMs: 4000 }],
      recording: { state: 'recording', file: 'cam/a.mp4' },
    },
    { name: 'away', source: 'browser', state: 'waiting', since: '2026-12-04T10:00:02.000Z', publisher: null, ingestKbps: 0, readers: { rtspTcp: 0, rtspUdp: 0, http: 1, viewer: 0 }, playerDrops: { skips: 0, disconnected: 0 }, outputs: [] },
  ],
};

describe('GET /api/status answers, checked on the page', () => {
  it('takes a well-formed answer as it is', () => {
    expect(parseStatus(JSON.parse(JSON.stringify(good)))).toEqual({ ok: true, value: good });
  });

  it('says which field is wrong, and never throws', () => {
    const broken = (patch: (j: Record<string, any>) => void): string => {
      const j = JSON.parse(JSON.stringify(good)) as Record<string, any>;
      patch(j);
      const r = parseStatus(j);
      return r.ok ? 'ok' : r.error;
    };
    expect(broken((j) => delete j['server'])).toBe('server is not an object');
    expect(broken((j) => (j['server'].cpuPercent = 'high'))).toBe('cpuPercent is not a number');
    expect(broken((j) => (j['streams'][0].state = 'exploded'))).toBe('stream "cam": unknown state');
    expect(broken((j) => (j['streams'][0].outputs[0].state = 'backing-off'))).toBe('an output has no known state');
    expect(broken((j) => (j['streams'][1].readers.viewer = -1))).toBe('readers.viewer is not a number');
    expect(broken((j) => (j['server'].listening[0].protocol = 'gopher'))).toBe('a listener has no known protocol');
    expect(parseStatus(null)).toEqual({ ok: false, error: 'the answer is not an object' });
    expect(parseStatus([])).toEqual({ ok: false, error: 'the answer is not an object' });
  });
});
