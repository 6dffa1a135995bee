// A browser publisher that drops and comes back within --publisher-grace continues the same stream (same codecs):
// its recording starts a new segment at its first keyframe, and the one before stays whole.
import { afterAll, expect, it } from 'vitest';
import { waitFor } from '../../support/ffmpeg.ts';
import { startTestRelay, waitLive, type TestRelay } from '../../support/relay.ts';
import { freshRecordDir, probeMp4, removeRecordDirs, segmentFilesOf } from '../../support/recordings.ts';
import { loadPublisherMedia, WsPublisher } from '../../support/ws-publisher.ts';

let relay: TestRelay | undefined;
let publisher: WsPublisher | undefined;

afterAll(async () => {
  await publisher?.dispose();
  await relay?.close();
  removeRecordDirs();
});

it('a returning publisher starts a new segment; both files start on a keyframe and play', async () => {
  const dir = freshRecordDir();
  relay = await startTestRelay(['--record', dir, '--record-segment', '60', '--publisher-grace', '5']);
  publisher = new WsPublisher({ port: relay.relay.http.port(), stream: 'web', media: await loadPublisherMedia({ gop: 30 }) });
  await publisher.connectOrThrow();
  publisher.start();
  await waitLive(relay.relay, 'web');
  await new Promise((r) => setTimeout(r, 2500));
  await publisher.drop();
  expect(relay.relay.registry.get('web')?.state).toBe('waiting'); // the recorder is a reader: the grace period holds
  const back = await publisher.reconnect();
  expect(back.kind).toBe('accepted');
  expect(await waitFor(() => segmentFilesOf(dir, 'web').length === 2, 10_000)).toBe(true);
  await new Promise((r) => setTimeout(r, 2000));
  await publisher.stop();
  expect(await waitFor(() => relay!.relay.registry.get('web') === undefined, 10_000)).toBe(true);
  await relay.close();
  relay = undefined;
  const files = segmentFilesOf(dir, 'web');
  expect(files).toHaveLength(2);
  for (const f of files) {
    const p = await probeMp4(f);
    expect(p).toMatchObject({ video: true, audio: true, startsOnKeyframe: true });
    expect(p.duration).toBeGreaterThan(1.5);
  }
}, 60_000);
