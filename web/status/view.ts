// The status page's DOM: the link line (data-testid="status-link", data-state connecting | live | unreachable), the
// server block, and one row per stream (tr[data-stream=NAME]) that comes and goes with the stream. Text only, from
// format.ts; nothing here fetches.
import type { StatusJson, StatusStream } from '../../shared/status.ts';
import { destinationName, outputStateWords } from '../outputs-text.ts';
import { formatBitrate, formatBytes } from '../ui.ts';
import { copyText } from '../watch-panel.ts';
import {
  audioText, connectionsText, cpuText, dropsText, formatDuration, linkText, listeningUrl, outputDetail, readerRows, readerTotal,
  recordingText, rtspUrl, since, sourceText, videoText, type LinkState,
} from './format.ts';

function byId(doc: Document, id: string): HTMLElement {
  const e = doc.getElementById(id);
  if (!e) throw new Error(`the status page has no #${id}`);
  return e;
}

/** An element with a class and text. */
function el<K extends keyof HTMLElementTagNameMap>(doc: Document, tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = doc.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Column labels, also shown beside each cell on narrow screens (status.css). */
const COLUMNS = ['Stream', 'Source', 'Video', 'Audio', 'Ingest', 'Players', 'Destinations', 'Recording'] as const;
type Column = (typeof COLUMNS)[number];

interface Row {
  tr: HTMLTableRowElement;
  cells: Record<Column, HTMLTableCellElement>;
  /** The part of the Stream cell refreshed each second (the links are made once, so a "Copied" stays). */
  since: HTMLElement;
  rtsp: HTMLElement;
  copy: HTMLButtonElement;
}

export class StatusView {
  private readonly rows = new Map<string, Row>();
  private readonly body: HTMLElement;
  private readonly link: HTMLElement;

  constructor(private readonly doc: Document) {
    this.body = byId(doc, 'stream-rows');
    this.link = byId(doc, 'link');
  }

  /** A current answer: everything is redrawn from it, and rows of streams that ended go. */
  show(status: StatusJson, nowMs: number, pageHostname: string): void {
    this.setLink('live', linkText('live', nowMs, nowMs));
    this.showServer(status, pageHostname);
    const names = new Set(status.streams.map((s) => s.name));
    for (const [name, row] of this.rows) {
      if (names.has(name)) continue;
      row.tr.remove();
      this.rows.delete(name);
    }
    for (const s of status.streams) {
      const rtsp = rtspUrl(status.server.listening, pageHostname, s.name);
      const row = this.row(s.name);
      // A server restarted on another port while the page stayed open: the URL follows.
      row.rtsp.textContent = rtsp ?? '–';
      row.copy.disabled = rtsp === undefined;
      this.fillRow(row, s, nowMs);
    }
    byId(this.doc, 'stream-count').textContent = `(${status.streams.length})`;
    const empty = byId(this.doc, 'no-streams');
    empty.hidden = status.streams.length > 0;
    byId(this.doc, 'publish-url').textContent = rtspUrl(status.server.listening, pageHostname, 'NAME') ?? 'rtsp://HOST:8554/NAME';
  }

  /** The server did not answer (or answered nonsense): the last figures stay, greyed, and the line says they are old. */
  unreachable(nowMs: number, lastOkAt: number | undefined, problem: string): void {
    this.setLink('unreachable', linkText('unreachable', nowMs, lastOkAt, problem));
  }

  private setLink(state: LinkState, text: string): void {
    this.link.dataset['state'] = state;
    this.link.textContent = text;
    // Greyed while not current (status.css); a screen reader hears it from the status line.
    this.doc.body.dataset['stale'] = String(state === 'unreachable');
  }

  private showServer(status: StatusJson, pageHostname: string): void {
    const s = status.server;
    const set = (id: string, text: string): void => void (byId(this.doc, id).textContent = text);
    set('srv-version', s.version);
    set('srv-uptime', `${formatDuration(s.uptimeSeconds)} (since ${new Date(s.startedAt).toLocaleString()})`);
    set('srv-cpu', cpuText(s.cpuPercent, s.cores));
    set('srv-rss', formatBytes(s.rssBytes));
    set('srv-connections', connectionsText(s.connections));
    const list = byId(this.doc, 'srv-listening');
    list.replaceChildren(...s.listening.map((l) => el(this.doc, 'code', 'listener', listeningUrl(l, pageHostname))));
  }

  /** The row of stream NAME, made on its first appearance with its links. */
  private row(name: string): Row {
    const existing = this.rows.get(name);
    if (existing) return existing;
    const doc = this.doc;
    const tr = el(doc, 'tr', 'stream');
    tr.dataset['stream'] = name;
    const cells = Object.fromEntries(
      COLUMNS.map((c) => {
        const td = el(doc, 'td', '');
        td.dataset['label'] = c;
        td.dataset['field'] = c.toLowerCase();
        tr.append(td);
        return [c, td];
      }),
    ) as Record<Column, HTMLTableCellElement>;
    const since = el(doc, 'span', 'sub');
    const rtspCode = el(doc, 'code', 'rtsp-url');
    const watch = el(doc, 'a', 'watch', 'Watch');
    watch.href = `/watch/${encodeURIComponent(name)}`;
    watch.target = '_blank';
    watch.rel = 'noopener';
    const copy = el(doc, 'button', 'copy', 'Copy');
    copy.type = 'button';
    copy.setAttribute('aria-label', `Copy the RTSP URL of ${name}`);
    copy.addEventListener('click', () => void copyText(doc, copy, rtspCode));
    const links = el(doc, 'div', 'links');
    links.append(watch, rtspCode, copy);
    cells.Stream.append(el(doc, 'strong', 'name', name), since, links);
    const row: Row = { tr, cells, since, rtsp: rtspCode, copy };
    this.rows.set(name, row);
    // Streams in name order, whatever order they started in.
    const after = [...this.rows.keys()].sort().find((n) => n > name);
    this.body.insertBefore(tr, after === undefined ? null : (this.rows.get(after)?.tr ?? null));
    return row;
  }

  private fillRow(row: Row, s: StatusStream, nowMs: number): void {
    const doc = this.doc;
    const c = row.cells;
    row.tr.dataset['state'] = s.state;
    row.since.textContent = s.state === 'live' ? `live for ${since(s.since, nowMs)}` : 'publisher gone; waiting for it to return';

    const source = sourceText(s);
    const sourceParts: Node[] = [el(doc, 'span', '', source.kind), el(doc, 'span', 'sub address', source.address)];
    if (s.publisher) sourceParts.push(el(doc, 'span', 'sub', `connected for ${since(s.publisher.since, nowMs)}`));
    c.Source.replaceChildren(...sourceParts);

    c.Video.textContent = videoText(s.video);
    c.Audio.textContent = audioText(s.audio);
    c.Ingest.textContent = s.publisher ? formatBitrate(s.ingestKbps * 1000) : '–';

    const total = el(doc, 'span', 'total', String(readerTotal(s.readers)));
    total.dataset['field'] = 'players-total';
    const list = el(doc, 'dl', 'readers');
    for (const [label, n] of readerRows(s.readers)) list.append(el(doc, 'dt', '', label), el(doc, 'dd', '', String(n)));
    c.Players.replaceChildren(total, list, el(doc, 'span', 'sub', dropsText(s.playerDrops)));

    if (s.outputs.length === 0) {
      c.Destinations.replaceChildren(el(doc, 'span', 'sub', 'none'));
    } else {
      const ul = el(doc, 'ul', 'outputs');
      for (const o of s.outputs) {
        const li = el(doc, 'li', '');
        li.dataset['state'] = o.state;
        const state = el(doc, 'span', `state-${o.state}`, outputStateWords(o));
        state.dataset['field'] = 'output-state';
        li.append(el(doc, 'strong', '', destinationName(o.url)), ' ', state, el(doc, 'code', 'sub', o.url), el(doc, 'span', 'sub', outputDetail(o)));
        ul.append(li);
      }
      c.Destinations.replaceChildren(ul);
    }
    c.Recording.textContent = recordingText(s.recording);
  }
}
