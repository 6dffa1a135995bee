// A microphone-only page: the ingest accepts it and the relay carries Opus (the egress maps no video).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../../support/ffmpeg.ts';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';
import { loadPublisherMedia, WsPublisher } from '../../support/ws-publisher.ts';

let t: TestRelay;
let pub: WsPublisher;
beforeAll(async () => {
  t = await startTestRelay();
  pub = new WsPublisher({ port: t.relay.http.port(), stream: 'mic', media: await loadPublisherMedia(), video: false });
});
afterAll(async () => {
  await pub?.dispose();
  await t?.close();
});

describe('audio-only publisher', () => {
  it('reaches RTSP as Opus', async () => {
    await pub.connectOrThrow();
    pub.start();
    let codecs: string[] = [];
    for (const until = Date.now() + 15_000; Date.now() < until && codecs.length === 0; ) {
      codecs = await ffprobe(t.url('mic'), { args: ['-rtsp_transport', 'tcp'], timeoutMs: 8000 })
        .then((r) => r.streams.map((s) => s.codec_name ?? ''))
        .catch(() => []);
      if (codecs.length === 0) await new Promise((r) => setTimeout(r, 300));
    }
    expect(codecs).toEqual(['opus']);
    expect(t.logs.some((l) => typeof l.message === 'string' && l.message.includes('matches no streams'))).toBe(false);
  });
});
