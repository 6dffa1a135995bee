// UDP port pairs for RTP/RTCP (RFC 3550 §11: RTP on an even port, RTCP on the next odd one), taken from a
// configurable range. Each SETUP over UDP gets its own pair, so a packet's socket tells which session it belongs to
// and its source address tells whether it is welcome.
import dgram from 'node:dgram';
import { once } from 'node:events';

export interface UdpPair {
  readonly rtpPort: number;
  /** How to address `peer` (as the RTSP connection saw it, IPv4-mapped addresses unwrapped) from these sockets. */
  addressFor(peer: string): string;
  readonly rtp: dgram.Socket;
  readonly rtcp: dgram.Socket;
  /**
   * A player's pair: connect the RTP socket to the player's RTP port, so each datagram is sent without an address
   * (no lookup, no per-packet address handling) and only the player's own datagrams are received on it. RTCP stays
   * unconnected: players send receiver reports from ports of their choosing.
   */
  connectRtp(peer: string, port: number): Promise<void>;
  close(): void;
}

export class UdpPortPool {
  private next: number;
  private readonly inUse = new Set<number>();
  private readonly o: { host: string; min: number; max: number };

  constructor(o: { host: string; min: number; max: number }) {
    // RTP takes the even port of each pair.
    this.o = { ...o, min: o.min + (o.min % 2) };
    this.next = this.o.min;
  }

  /** Bind the next free pair, skipping ports something else holds. Fails when the whole range is busy. */
  async allocate(): Promise<UdpPair> {
    const span = Math.floor((this.o.max - this.o.min + 1) / 2);
    for (let tried = 0; tried < span; tried++) {
      const port = this.next;
      this.next = port + 2 > this.o.max - 1 ? this.o.min : port + 2;
      if (this.inUse.has(port)) continue;
      const pair = await this.tryBind(port);
      if (pair) return pair;
    }
    throw new Error(`no free UDP port pair in ${this.o.min}-${this.o.max}`);
  }

  private async tryBind(port: number): Promise<UdpPair | undefined> {
    const type = this.o.host.includes(':') ? 'udp6' : 'udp4';
    const rtp = dgram.createSocket(type);
    const rtcp = dgram.createSocket(type);
    try {
      rtp.bind(port, this.o.host);
      await once(rtp, 'listening');
      rtcp.bind(port + 1, this.o.host);
      await once(rtcp, 'listening');
    } catch {
      rtp.close();
      rtcp.close();
      return undefined;
    }
    this.inUse.add(port);
    // A send to a player that went away yields ICMP errors as 'error' events: they must not crash the server.
    rtp.on('error', () => {});
    rtcp.on('error', () => {});
    let closed = false;
    return {
      rtpPort: port,
      // A dual-stack IPv6 socket (--host ::) reaches an IPv4 client only at its IPv4-mapped address.
      addressFor: (peer) => (type === 'udp6' && !peer.includes(':') ? `::ffff:${peer}` : peer),
      rtp,
      rtcp,
      connectRtp: (peer, peerPort) =>
        new Promise<void>((resolve, reject) => {
          try {
            rtp.connect(peerPort, peer, () => resolve());
          } catch (err) {
            reject(err as Error);
          }
        }),
      close: () => {
        if (closed) return;
        closed = true;
        // dgram.send looks the address up first, even an IP literal (dns.lookup answers on process.nextTick), and
        // drops the datagram if the socket is closed by then: the RTCP BYE sent to a UDP player just before its
        // session closes would never leave. Close after this turn, once those sends are on the wire.
        setImmediate(() => {
          rtp.close();
          rtcp.close();
          this.inUse.delete(port);
        });
      },
    };
  }
}
