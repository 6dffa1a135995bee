// The page when the server says no, or goes away: refusal sentences, reconnect with resume, server errors.
import { describe, expect, it } from 'vitest';
import { stateLog, waitState } from '../support/browser.ts';
import { parseUpload, usePageHarness } from '../support/page-harness.ts';

const h = usePageHarness();

describe('publisher page: refusals and reconnects', () => {
  it('shows the server sentence when the stream is refused, and does not retry', async () => {
    const message = 'stream "taken" is already live from another tab or machine; stop it there or pick another name';
    const { s, p } = await h.start('?stream=taken&source=canvas&audio=none', { answer: () => ({ refuse: { type: 'refused', code: 'in-use', message } }) });
    await p.page.getByRole('button', { name: /Go live/ }).click();
    const text = await waitState(p.page, 'error');
    expect(text).toContain(message);
    await p.page.waitForTimeout(1500);
    expect(s.connections).toHaveLength(1);
    expect(await stateLog(p.page)).toEqual(['idle', 'connecting', 'error']);
    // The form is usable again: Go live is enabled, the tracks are stopped (the preview is empty).
    await p.page.waitForSelector('#go-live:not([disabled])');
    expect(await p.page.isVisible('#preview-empty')).toBe(true);
  });

  it('shows a bad-token refusal as an error and sends the token from the URL', async () => {
    const { s, p } = await h.start('?stream=tok&source=canvas&audio=none&token=wrong', {
      answer: (hello) => (hello.token === 'right' ? { accept: true } : { refuse: { type: 'refused', code: 'bad-token', message: 'the publish token is wrong; ask the server operator for the --publish-token value' } }),
    });
    expect(await p.page.inputValue('#token')).toBe('wrong');
    // Out of the address bar (history, bookmarks, screen shares), kept in the field.
    expect(new URL(p.page.url()).search).toBe('?stream=tok&source=canvas&audio=none');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    expect(await waitState(p.page, 'error')).toContain('the publish token is wrong');
    expect(s.connections[0]!.hello?.token).toBe('wrong');
    await p.page.fill('#token', 'right');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    expect(s.connections[1]!.hello?.token).toBe('right');
  });

  it('reconnects after the server drops the socket: hello with resume:true, the init segment again, then a keyframe', async () => {
    const { s, p } = await h.start('?stream=again&source=canvas&audio=mic&preset=480p');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 30, '30 fragments');
    // Refuse the next attempt as "in use" (a server that has not noticed the drop yet), then accept.
    let attempts = 0;
    s.answer = () => (++attempts === 1 ? { refuse: { type: 'refused', code: 'in-use', message: 'in use' } } : { accept: true });
    s.connections[0]!.ws.close(1001, 'server restarting');
    const sentence = await waitState(p.page, 'reconnecting');
    expect(sentence).toMatch(/reconnecting in \d+\.\d s \(attempt 1 of 10\)/);
    await waitState(p.page, 'live', 20_000);
    expect(s.connections).toHaveLength(3);
    const c = s.connections[2]!;
    expect(c.hello).toMatchObject({ stream: 'again', resume: true });
    await s.waitFor(() => c.binaries.length > 20, '20 fragments after the reconnect');
    const before = parseUpload(s.connections[0]!);
    const after = parseUpload(c);
    expect(after.initBytes).toEqual(before.initBytes);
    const v = after.fragments.filter((f) => f.track === 'video');
    expect(v[0]!.keyframe).toBe(true);
    // The first thing after the init segment is that keyframe (audio waits for it), and time goes on from before.
    expect(after.fragments[0]!.track).toBe('video');
    const lastBefore = before.fragments.filter((f) => f.track === 'video').at(-1)!;
    expect(v[0]!.time).toBeGreaterThan(lastBefore.time);
    expect(await stateLog(p.page)).toEqual(['idle', 'connecting', 'live', 'reconnecting', 'live']);
    await p.page.getByRole('button', { name: 'Stop' }).click();
    expect((await c.closed).code).toBe(1000);
    await waitState(p.page, 'idle');
    expect(p.errors).toEqual([]);
  });

  it('stops with the server sentence when the server rejects the upload', async () => {
    const { s, p } = await h.start('?stream=bad&source=canvas&audio=none');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 5, 'a few fragments');
    const c = s.connections[0]!;
    c.send({ type: 'error', code: 'bad-fragment', message: 'a media segment was rejected: track 1 went back in time' });
    c.ws.close(1003, 'a media segment was rejected');
    expect(await waitState(p.page, 'error')).toBe('The server stopped the upload: a media segment was rejected: track 1 went back in time. Press Go live to start again.');
    await p.page.waitForTimeout(1000);
    expect(s.connections).toHaveLength(1);
  });
});
