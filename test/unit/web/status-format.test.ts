import { describe, expect, it } from 'vitest';
import type { StatusStream } from '../../../shared/status.ts';
import {
  audioText, connectionsText, cpuText, dropsText, formatDuration, linkText, listeningUrl, outputDetail, readerRows, readerTotal,
  recordingText, rtspUrl, since, sourceText, videoText,
} from '../../../web/status/format.ts';

const stream = (o: Partial<StatusStream> = {}): StatusStream => ({
  name: 'cam',
  source: 'rtsp',
  state: 'live',
  since: '2026-12-04T10:00:00.000Z',
  publisher: { protocol: 'rtsp', transport: 'udp', since: '2026-12-04T10:00:00.000Z', remote: '192.0.2.7:40000' },
  ingestKbps: 1200,
  readers: { rtspTcp: 2, rtspUdp: 1, http: 0, viewer: 3 },
  playerDrops: { skips: 1, disconnected: 0 },
  outputs: [],
  ...o,
});

describe('status page words', () => {
  it('shows a wildcard listener with the page\'s own host, and a bound one with its address', () => {
    expect(listeningUrl({ protocol: 'http', host: '0.0.0.0', port: 8090 }, 'relay.example')).toBe('http://relay.example:8090/');
    expect(listeningUrl({ protocol: 'rtsp', host: '::', port: 8554 }, '[::1]')).toBe('rtsp://[::1]:8554/');
    expect(listeningUrl({ protocol: 'rtsp', host: '10.0.0.5', port: 554 }, 'relay.example')).toBe('rtsp://10.0.0.5:554/');
    expect(listeningUrl({ protocol: 'https', host: 'fd00::5', port: 443 }, 'x')).toBe('https://[fd00::5]:443/');
    const listening = [{ protocol: 'http' as const, host: '127.0.0.1', port: 8090 }, { protocol: 'rtsp' as const, host: '0.0.0.0', port: 8554 }];
    expect(rtspUrl(listening, 'box', 'cam')).toBe('rtsp://box:8554/cam');
    expect(rtspUrl(listening.slice(0, 1), 'box', 'cam')).toBeUndefined();
  });

  it('says durations the way people read them', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(59.9)).toBe('59 s');
    expect(formatDuration(725)).toBe('12 min 5 s');
    expect(formatDuration(3 * 3600 + 4 * 60 + 9)).toBe('3 h 4 min');
    expect(formatDuration(2 * 86_400 + 3 * 3600)).toBe('2 d 3 h');
    expect(since('2026-12-04T10:00:00.000Z', Date.parse('2026-12-04T10:01:30.000Z'))).toBe('1 min 30 s');
    expect(since('not a date', 0)).toBe('–');
  });

  it('names codecs, sizes and rates, whether the publisher was a browser or RTSP', () => {
    expect(videoText({ codec: 'h264', profile: 'High', width: 1280, height: 720, fps: 30 })).toBe('H.264 High · 1280×720 · 30 fps');
    expect(videoText({ codec: 'avc1.42e01f', width: 640, height: 480, fps: 0 })).toBe('H.264 · 640×480 · 0 fps');
    expect(videoText({ codec: 'h265' })).toBe('H.265');
    expect(videoText(undefined)).toBe('–');
    expect(audioText({ codec: 'opus', sampleRate: 48000, channels: 2 })).toBe('Opus · 48 kHz · stereo');
    expect(audioText({ codec: 'mpeg4-generic', sampleRate: 44100, channels: 1 })).toBe('AAC · 44.1 kHz · mono');
    expect(audioText({ codec: 'pcma', sampleRate: 8000, channels: 1 })).toBe('G.711 A-law · 8 kHz · mono');
    expect(audioText(undefined)).toBe('–');
  });

  it('shows the publisher\'s address only when the server gave it, and a gone publisher as gone', () => {
    expect(sourceText(stream())).toEqual({ kind: 'RTSP publisher (UDP)', address: '192.0.2.7:40000' });
    const hidden = sourceText(stream({ source: 'browser', publisher: { protocol: 'websocket', transport: 'tcp', since: '2026-12-04T10:00:00.000Z' } }));
    expect(hidden.kind).toBe('Browser');
    expect(hidden.address).toMatch(/server's own machine only/);
    expect(sourceText(stream({ publisher: null })).address).toMatch(/waiting for it to come back/);
  });

  it('counts players by how they read, and their skips and drops', () => {
    const r = stream().readers;
    expect(readerRows(r)).toEqual([['RTSP TCP', 2], ['RTSP UDP', 1], ['HTTP', 0], ['Viewer', 3]]);
    expect(readerTotal(r)).toBe(6);
    expect(dropsText({ skips: 1, disconnected: 2 })).toBe('1 skip, 2 dropped');
    expect(dropsText({ skips: 3, disconnected: 0 })).toBe('3 skips, 0 dropped');
  });

  it('gives an output\'s restarts, and its last error in words when its state does not already say it', () => {
    const url = 'rtmp://a.rtmp.youtube.com/live2/ab…34';
    expect(outputDetail({ url, kind: 'rtmp', state: 'running', restarts: 0 })).toBe('0 restarts');
    expect(outputDetail({ url, kind: 'rtmp', state: 'running', restarts: 1, lastError: 'Connection refused' })).toBe('1 restart; last error: cannot connect');
    expect(outputDetail({ url, kind: 'rtmp', state: 'backoff', restarts: 2, lastError: 'Connection refused' })).toBe('2 restarts');
  });

  it('says the recording state, the server, and whether what is shown is current', () => {
    expect(recordingText(undefined)).toBe('not recorded');
    expect(recordingText({ state: 'recording', file: 'cam/2026-12-04T10-00-00.mp4' })).toBe('recording to cam/2026-12-04T10-00-00.mp4');
    expect(recordingText({ state: 'error', error: 'the disk is full' })).toBe('stopped: the disk is full');
    expect(cpuText(12.345, 2)).toBe('12.3 % of a core (2 cores)');
    expect(connectionsText({ rtsp: 3, rtspSessions: { tcp: 2, udp: 1 }, http: 1, viewer: 0, publishers: { rtsp: 1, websocket: 1 } }))
      .toBe('RTSP 3 (sessions: 2 TCP, 1 UDP) · HTTP players 1 · viewers 0 · publishers: 1 RTSP, 1 browser');
    expect(linkText('live', 0, 0)).toMatch(/^Live/);
    expect(linkText('unreachable', 0, undefined, 'no connection')).toBe('Cannot reach the server (no connection). Trying again every second.');
    expect(linkText('unreachable', 95_000, 0, 'no connection')).toBe('Cannot reach the server (no connection). What is shown is from 1 min 35 s ago, not current. Trying again every second.');
  });
});
