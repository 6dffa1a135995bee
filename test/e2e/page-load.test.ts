// The publisher page at rest: it loads clean, exposes the public interface (Go live, Stop, one status element),
// applies the query string, and offers only what the browser can encode and the server can carry.
import { describe, expect, it } from 'vitest';
import { waitState, type OpenedPage } from '../support/browser.ts';
import { usePageHarness } from '../support/page-harness.ts';

const h = usePageHarness();

const options = (p: OpenedPage, id: string): Promise<string[]> => p.page.$$eval(`#${id} option`, (os) => os.map((o) => (o as HTMLOptionElement).value));

/** Make WebCodecs refuse some configurations, before the page probes them. */
const stubEncoders = (refuseVideo: string, refuseAudio: boolean) => async (p: OpenedPage) => {
  await p.page.addInitScript(
    ({ refuseVideo, refuseAudio }) => {
      const realV = VideoEncoder.isConfigSupported.bind(VideoEncoder);
      const re = new RegExp(refuseVideo);
      VideoEncoder.isConfigSupported = async (c: VideoEncoderConfig) =>
        re.test(`${c.codec} ${c.width}x${c.height}@${c.framerate ?? 0}`) ? { supported: false, config: c } : realV(c);
      if (refuseAudio) AudioEncoder.isConfigSupported = async (c: AudioEncoderConfig) => ({ supported: false, config: c });
    },
    { refuseVideo, refuseAudio },
  );
};

describe('publisher page: at rest', () => {
  it('loads without errors, idle, with Go live and Stop buttons and one status element', async () => {
    const { s, p } = await h.start('');
    const status = p.page.getByTestId('status');
    expect(await status.count()).toBe(1);
    expect(await status.getAttribute('data-state')).toBe('idle');
    expect(await status.textContent()).toMatch(/Ready/);
    expect(await p.page.getByRole('button', { name: /Go live/ }).isEnabled()).toBe(true);
    expect(await p.page.getByRole('button', { name: 'Stop' }).isDisabled()).toBe(true);
    expect(await p.page.inputValue('#stream-name')).toBe('live');
    expect(await p.page.textContent('#rtsp-url')).toBe('rtsp://127.0.0.1:8554/live');
    // Every picker has a label (accessible name).
    for (const label of ['Stream name', 'Video source', 'Camera', 'Microphone', 'Resolution', 'Frame rate', 'Video bitrate', 'H.264 profile', 'Keyframe every (s)', 'Record a local copy']) {
      expect(await p.page.getByLabel(label, { exact: true }).count()).toBe(1);
    }
    // After the fake permission, the camera and microphone pickers list devices.
    expect((await options(p, 'camera')).length).toBeGreaterThan(0);
    expect((await options(p, 'mic')).length).toBeGreaterThan(1);
    expect(s.connections).toHaveLength(0);
    expect(p.errors).toEqual([]);
  });

  it('applies the query string to the pickers and the RTSP URL', async () => {
    const { p } = await h.start('?stream=studio.2&source=clock&audio=none&preset=480p&fps=15&profile=main&bitrate=1500&keyframe=4&record=1');
    expect(await p.page.inputValue('#stream-name')).toBe('studio.2');
    expect(await p.page.inputValue('#source')).toBe('clock');
    expect(await p.page.inputValue('#mic')).toBe('none');
    expect(await p.page.inputValue('#preset')).toBe('480p');
    expect(await p.page.inputValue('#fps')).toBe('15');
    expect(await p.page.inputValue('#profile')).toBe('main');
    expect(await p.page.inputValue('#bitrate')).toBe('1500000');
    expect(await p.page.inputValue('#keyframe')).toBe('4');
    expect(await p.page.isChecked('#record')).toBe(true);
    expect(await p.page.textContent('#ffplay-cmd')).toBe('ffplay -rtsp_transport tcp rtsp://127.0.0.1:8554/studio.2');
    await p.page.fill('#stream-name', 'other');
    expect(await p.page.textContent('#rtsp-url')).toBe('rtsp://127.0.0.1:8554/other');
  });

  it('offers only the sizes, profiles and audio that the encoders accept', async () => {
    const { p } = await h.start('?stream=x', {}, stubEncoders('^avc1\\.64|1920x1080', true));
    expect(await options(p, 'preset')).toEqual(['480p', '720p']);
    expect(await options(p, 'profile')).toEqual(['baseline', 'main']);
    expect(await options(p, 'fps')).toEqual(['15', '30', '60']);
    expect(await options(p, 'mic')).toEqual(['none']);
    expect(await p.page.textContent('#capability-notes')).toMatch(/cannot encode Opus/);
    expect(p.errors).toEqual([]);
  });

  it('offers frame rates per resolution', async () => {
    const { p } = await h.start('?stream=x&preset=720p', {}, stubEncoders('1280x720@60', false));
    expect(await options(p, 'fps')).toEqual(['15', '30']);
    await p.page.selectOption('#preset', '480p');
    expect(await options(p, 'fps')).toEqual(['15', '30', '60']);
  });

  it('offers no microphone when the server cannot carry Opus', async () => {
    const { p } = await h.start('?stream=x', { config: { audioCodecs: [] } });
    expect(await options(p, 'mic')).toEqual(['none']);
    expect(await p.page.textContent('#capability-notes')).toMatch(/server cannot carry Opus/);
  });

  it('shows a token field when the server requires one', async () => {
    const { p } = await h.start('?stream=x', { config: { tokenRequired: true } });
    expect(await p.page.getByLabel('Publish token').isVisible()).toBe(true);
  });

  it('explains a bad stream name and does not connect', async () => {
    const { s, p } = await h.start('?stream=bad/name');
    expect(await p.page.textContent('#stream-problem')).toMatch(/not a valid stream name/);
    // Go live cannot be pressed with a bad name; submitting the form (Enter in a field) does not connect either.
    expect(await p.page.getByRole('button', { name: /Go live/ }).isDisabled()).toBe(true);
    await p.page.press('#stream-name', 'Enter');
    await p.page.waitForTimeout(500);
    expect(s.connections).toHaveLength(0);
    expect(await p.page.getByTestId('status').getAttribute('data-state')).toBe('idle');
    await p.page.fill('#stream-name', '');
    expect(await p.page.textContent('#stream-problem')).toMatch(/empty/);
  });

  it('explains an insecure context (http from another machine) and how to fix it, keeping the stream name and query', async () => {
    const { s: server, p } = await h.start('?stream=x&source=canvas', {}, async (o) => {
      await o.page.addInitScript(() => Object.defineProperty(window, 'isSecureContext', { get: () => false }));
    });
    const text = await waitState(p.page, 'error');
    expect(text).toMatch(/not a secure context/);
    // The suggested address is this very page on the server's machine: same port, same query.
    expect(text).toContain(`http://localhost:${server.port}/?stream=x&source=canvas`);
    expect(text).toMatch(/--tls-cert and --tls-key/);
    expect(await p.page.getByRole('button', { name: /Go live/ }).isDisabled()).toBe(true);
    expect(await p.page.inputValue('#stream-name')).toBe('x');
    // What cannot work here is visibly off, and the preview says why.
    for (const sel of ['#stream-name', '#source', '#mic', '#preset', '#copy']) expect(await p.page.isDisabled(sel), sel).toBe(true);
    expect(await p.page.textContent('#preview-empty')).toMatch(/not a secure context/);
  });

  it('says so when this browser cannot encode H.264 at all', async () => {
    const { p } = await h.start('?stream=x', {}, stubEncoders('.', true));
    expect(await waitState(p.page, 'error')).toMatch(/cannot encode H\.264/);
    expect(await p.page.getByRole('button', { name: /Go live/ }).isDisabled()).toBe(true);
  });

  it('explains a denied camera permission and what to do', async () => {
    const { s, p } = await h.start('?stream=x&source=camera&audio=mic', {}, async (o) => {
      await o.page.addInitScript(() => {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
      });
    });
    await p.page.getByRole('button', { name: /Go live/ }).click();
    expect(await waitState(p.page, 'error')).toMatch(/not allowed to use the camera and microphone\. Allow it for this site/);
    expect(s.connections).toHaveLength(0);
    await p.page.waitForSelector('#go-live:not([disabled])');
  });

  it('explains a missing camera', async () => {
    const { p } = await h.start('?stream=x&source=camera&audio=none', {}, async (o) => {
      await o.page.addInitScript(() => {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Requested device not found', 'NotFoundError'));
      });
    });
    await p.page.getByRole('button', { name: /Go live/ }).click();
    expect(await waitState(p.page, 'error')).toMatch(/No camera was found .*choose another source/);
  });
});
