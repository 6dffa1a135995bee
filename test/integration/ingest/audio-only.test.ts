// A microphone-only page: the ingest accepts it, the relay carries Opus, and an RTMP destination gets AAC (the egress
// maps no video, so ffmpeg never complains that a map matches no streams).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../../support/ffmpeg.ts';
import { startNginxRtmp, type NginxRtmp } from '../../support/nginx-rtmp.ts';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';
import { loadPublisherMedia, WsPublisher } from '../../support/ws-publisher.ts';

let t: TestRelay;
let nginx: NginxRtmp;
let pub: WsPublisher;
beforeAll(async () => {
  nginx = await startNginxRtmp();
  t = await startTestRelay(['--output', nginx.url('{stream}')]);
  pub = new WsPublisher({ port: t.relay.http.port(), stream: 'mic', media: await loadPublisherMedia(), video: false });
});
afterAll(async () => {
  await pub?.dispose();
  await t?.close();
  await nginx?.stop();
});

/** The codecs ffprobe finds at `url`, retried until there are some (the stream needs a moment to get there). */
async function codecsAt(url: string, args: string[]): Promise<string[]> {
  let codecs: string[] = [];
  for (const until = Date.now() + 15_000; Date.now() < until && codecs.length === 0; ) {
    codecs = await ffprobe(url, { args, timeoutMs: 8000 })
      .then((r) => r.streams.map((s) => s.codec_name ?? ''))
      .catch(() => []);
    if (codecs.length === 0) await new Promise((r) => setTimeout(r, 300));
  }
  return codecs;
}

describe('audio-only publisher', () => {
  it('reaches RTSP as Opus and the RTMP destination as AAC', async () => {
    await pub.connectOrThrow();
    pub.start();
    expect(await codecsAt(t.url('mic'), ['-rtsp_transport', 'tcp'])).toEqual(['opus']);
    expect(await codecsAt(nginx.url('mic'), ['-rw_timeout', '10000000'])).toEqual(['aac']);
    // The RTMP ffmpeg ran, and never said a -map matched nothing.
    expect(t.logs.some((l) => l['event'] === 'egress.running' && l['stream'] === 'mic')).toBe(true);
    expect(t.logs.filter((l) => l['event'] === 'egress.ffmpeg' && String(l['line']).includes('matches no streams'))).toEqual([]);
  });
});
