/**
 * The caller's network address, for per-address limits. By default the TCP peer (the socket's
 * remote address): headers are the client's to write. Behind proxies, `TRUST_PROXY` says how
 * many there are; each appends the address it received from to `X-Forwarded-For`, so the
 * client is that many entries from the right (entries further left are the client's own
 * claims and are never used).
 */
import { isIP } from 'node:net';

/** What Node's HTTP server passes to Yoga as server context (`yoga(req, res)`). */
export interface NodeServerContext {
  req?: { socket?: { remoteAddress?: string | undefined } };
}

/**
 * The address `trustedHops` proxies away, or null when unknown (a request handed to
 * `yoga.fetch` in-process, without a socket).
 */
export function clientAddress(
  request: Request,
  server: NodeServerContext,
  trustedHops: number,
): string | null {
  const peer = server.req?.socket?.remoteAddress;
  if (!peer || !isIP(stripZone(peer))) return null;
  let address = peer;
  if (trustedHops > 0) {
    const forwarded = (request.headers.get('x-forwarded-for') ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    // Nearest first: the peer, then what each trusted proxy saw, right to left.
    for (let hop = 1; hop <= trustedHops; hop++) {
      const next = forwarded[forwarded.length - hop];
      if (!next || !isIP(stripZone(next))) break;
      address = next;
    }
  }
  return address;
}

/**
 * The key an address is limited under: an IPv4 address as is; an IPv6 address by its /64
 * network, which one subscriber usually holds whole (limiting single IPv6 addresses would
 * let one attacker rotate through billions).
 */
export function addressKey(address: string): string {
  const plain = stripZone(address);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain);
  if (mapped?.[1]) return mapped[1];
  if (isIP(plain) !== 6) return plain;
  const [head = '', tail = ''] = plain.split('::');
  // An embedded IPv4 tail (the last 32 bits) stands for two groups.
  const groupsOf = (part: string) =>
    part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : [];
  const left = groupsOf(head);
  const right = groupsOf(tail);
  const groups = plain.includes('::')
    ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

function stripZone(address: string): string {
  const zone = address.indexOf('%');
  return zone === -1 ? address : address.slice(0, zone);
}
