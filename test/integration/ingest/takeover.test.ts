// A page that reconnects before the server noticed its old socket die takes the stream over with resume: true;
// without resume, the name stays in use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';
import { loadPublisherMedia, WsPublisher, type PublisherMedia } from '../../support/ws-publisher.ts';

describe('publisher takeover', () => {
  let t: TestRelay;
  let media: PublisherMedia;
  const pubs: WsPublisher[] = [];
  beforeAll(async () => {
    media = await loadPublisherMedia();
    t = await startTestRelay(['--publisher-grace', '3']);
  });
  afterAll(async () => {
    await Promise.all(pubs.map((p) => p.dispose()));
    await t.close();
  });

  it('a second hello without resume is refused in-use; with resume from the same host it takes over', async () => {
    const port = t.relay.http.port();
    const first = new WsPublisher({ port, stream: 'takeover', media });
    pubs.push(first);
    await first.connectOrThrow();
    first.start();

    const rival = new WsPublisher({ port, stream: 'takeover', media });
    pubs.push(rival);
    const refused = await rival.connect(false);
    expect(refused.kind).toBe('refused');
    expect(refused.kind === 'refused' && refused.message.code).toBe('in-use');

    const again = new WsPublisher({ port, stream: 'takeover', media });
    pubs.push(again);
    const accepted = await again.connect(true);
    expect(accepted.kind).toBe('accepted');
    // The stale socket was cut by the server.
    await new Promise((r) => setTimeout(r, 200));
    expect(first.closes.length).toBe(1);
    expect(t.logs.some((l) => l.event === 'publisher-takeover')).toBe(true);
  });
});
