// The publisher page's Watch panel: every way to watch the stream, each with a Copy button. The RTSP URL comes from the
// server (its port, the stream's path); the HTTP URL and the viewer page are on this page's own origin.
export interface WatchWays {
  viewer: string;
  rtsp: string;
  http: string;
  ffplay: string;
  vlc: string;
  gstreamer: string;
  opencv: string;
}

/** The ways to watch the stream at RTSP URL `rtsp` (rtsp://HOST:PORT/NAME), for a page served from `origin`. */
export function watchWays(rtsp: string, origin: string): WatchWays {
  const name = rtsp.slice(rtsp.lastIndexOf('/') + 1);
  return {
    viewer: `${origin}/watch/${name}`,
    rtsp,
    http: `${origin}/${name}.mp4`,
    ffplay: `ffplay -rtsp_transport tcp ${rtsp}`,
    vlc: `vlc ${rtsp}`,
    gstreamer: `gst-launch-1.0 rtspsrc location=${rtsp} latency=100 ! rtph264depay ! h264parse ! avdec_h264 ! autovideosink`,
    opencv: `cv2.VideoCapture("${rtsp}")`,
  };
}

/** Element ids of the panel's rows (web/index.html), by way; ffplay's row is ui.ts's own (#ffplay-cmd). */
const ROWS: ReadonlyArray<[keyof WatchWays, string]> = [
  ['rtsp', 'rtsp-url'],
  ['http', 'http-url'],
  ['vlc', 'vlc-cmd'],
  ['gstreamer', 'gst-cmd'],
  ['opencv', 'opencv-cmd'],
];

/** Fill the panel for `rtsp`; undefined (an invalid stream name) shows no URL that cannot work. */
export function showWatchWays(doc: Document, rtsp: string | undefined): void {
  const ways = rtsp === undefined ? undefined : watchWays(rtsp, doc.location.origin);
  for (const [way, id] of ROWS) {
    const e = doc.getElementById(id);
    if (e) e.textContent = ways ? ways[way] : '–';
  }
  const link = doc.getElementById('viewer-link');
  if (link instanceof HTMLAnchorElement) {
    link.textContent = ways ? ways.viewer : '–';
    if (ways) link.href = ways.viewer;
    else link.removeAttribute('href');
  }
  for (const b of doc.querySelectorAll<HTMLButtonElement>('button[data-copy]')) b.disabled = ways === undefined;
}

/** Every `<button data-copy="ID">` copies the text of #ID. */
export function bindCopyButtons(doc: Document): void {
  for (const b of doc.querySelectorAll<HTMLButtonElement>('button[data-copy]')) {
    const source = doc.getElementById(b.dataset['copy'] ?? '');
    if (source) b.addEventListener('click', () => void copyText(doc, b, source));
  }
}

/** Copy `source`'s text and say so on `button`; without clipboard access, select it so Ctrl+C works. */
export async function copyText(doc: Document, button: HTMLButtonElement, source: HTMLElement): Promise<void> {
  const text = source.textContent ?? '';
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    // No clipboard permission (or not a secure context): select the text so Ctrl+C works.
    const range = doc.createRange();
    range.selectNodeContents(source);
    const sel = doc.getSelection();
    sel?.removeAllRanges();
    sel?.addRange(range);
    button.textContent = 'Press Ctrl+C';
  }
  setTimeout(() => (button.textContent = 'Copy'), 2000);
}

