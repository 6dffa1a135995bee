// The fuzzers' inputs are reproducible (a seed and a case index give the same bytes every time) and the RTSP fuzzer's
// expectation of how many answers the relay owes matches the relay's parser on known inputs.
import { describe, expect, it } from 'vitest';
import { loadRtspCorpus, rtspCase, type Target } from '../../../bench/fuzz-rtsp-inputs.ts';
import { expectedAnswers } from '../../../bench/fuzz-rtsp.ts';
import { wsCase, type WsMaterial } from '../../../bench/fuzz-ws-inputs.ts';
import { Rng } from '../../../bench/random.ts';

const target: Target = { port: 8554, liveStream: 'live', udpSink: [40000, 40001] };
const corpus = loadRtspCorpus();
const material: WsMaterial = {
  hello: (stream) => ({ type: 'hello', version: 1, stream, video: { codec: 'avc1.42c01e', width: 640, height: 360, framerate: 30, bitrate: 1e6 } }),
  // Stand-ins with box structure (ftyp+moov, moof+mdat); the mutations only need boxes to walk.
  init: Buffer.concat([Buffer.from('00000010ftypiso6', 'latin1'), Buffer.alloc(4), Buffer.from('\0\0\0\x10moov\0\0\0\x08mvex', 'latin1')]),
  fragments: [Buffer.from('\0\0\0\x10moof\0\0\0\x08traf\0\0\0\x0cmdatabcd', 'latin1')],
};
const huge = () => new Uint8Array(16);

describe('fuzz inputs', () => {
  it('the same seed and index give the same RTSP case; other seeds give others', () => {
    const a = Array.from({ length: 120 }, (_, i) => rtspCase(Rng.forCase(7, 'rtsp', i), i, corpus, target));
    const b = Array.from({ length: 120 }, (_, i) => rtspCase(Rng.forCase(7, 'rtsp', i), i, corpus, target));
    const c = Array.from({ length: 120 }, (_, i) => rtspCase(Rng.forCase(8, 'rtsp', i), i, corpus, target));
    expect(b).toEqual(a);
    expect(c.filter((x, i) => Buffer.compare(x.payload, a[i]!.payload) !== 0).length).toBeGreaterThan(90);
    // Every kind of case and every capture family comes up.
    expect(new Set(a.map((x) => x.kind))).toEqual(new Set(['single', 'session', 'head']));
    expect(new Set(a.map((x) => x.source.split('-')[0]))).toEqual(new Set(['ffmpeg', 'gstreamer']));
  });

  it('the same seed and index give the same WebSocket case', () => {
    const make = (seed: number) => Array.from({ length: 300 }, (_, i) => wsCase(Rng.forCase(seed, 'ws', i), i, material, huge));
    expect(make(3)).toEqual(make(3));
    expect([...new Set(make(3).map((x) => x.kind))]).toEqual(expect.arrayContaining(['hello-json', 'hello-bytes', 'init', 'fragments', 'order']));
  });

  it('counts the answers the relay owes', () => {
    const req = (cseq: number) => `OPTIONS rtsp://127.0.0.1/x RTSP/1.0\r\nCSeq: ${cseq}\r\n\r\n`;
    const frame = Buffer.from([0x24, 0, 0, 2, 1, 2]);
    expect(expectedAnswers(Buffer.from(req(1) + req(2)))).toEqual({ answers: 2, end: 'complete', orPipelineLimit: false });
    expect(expectedAnswers(Buffer.concat([frame, Buffer.from(req(1)), frame]))).toEqual({ answers: 1, end: 'complete', orPipelineLimit: false });
    expect(expectedAnswers(Buffer.from(req(1) + 'OPTIONS rtsp://127.0.0.1/x RTSP/1.0\r\nCSe'))).toEqual({ answers: 1, end: 'partial', orPipelineLimit: false });
    expect(expectedAnswers(Buffer.concat([Buffer.from(req(1)), Buffer.from([0x24, 0, 0xff, 0xff, 1])]))).toEqual({ answers: 1, end: 'partial', orPipelineLimit: false });
    expect(expectedAnswers(Buffer.from(req(1) + 'HELLO\0\r\n\r\n'))).toEqual({ answers: 2, end: 'error', orPipelineLimit: false });
    // More than 16 in flight: all answered, or 16 and a 400 (server/servers/rtsp/connection.ts), depending on TCP's chunks.
    expect(expectedAnswers(Buffer.from(Array.from({ length: 20 }, (_, i) => req(i)).join('')))).toEqual({ answers: 20, end: 'complete', orPipelineLimit: true });
  });
});
