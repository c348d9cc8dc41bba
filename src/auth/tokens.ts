import { jwtVerify, SignJWT } from 'jose';
import type { Role } from '../generated/prisma/enums.ts';

/** Who is calling, as proven by a verified token. */
export interface Viewer {
  id: number;
  role: Role;
  /** The client a CLIENT user belongs to; null for agency staff. */
  clientId: number | null;
}

const ISSUER = 'postline';
const ROLES = new Set<string>(['ADMIN', 'MANAGER', 'EDITOR', 'CLIENT']);

export class TokenService {
  readonly #key: Uint8Array;
  constructor(
    secret: string,
    readonly ttlS: number,
  ) {
    this.#key = new TextEncoder().encode(secret);
  }

  sign(viewer: Viewer): Promise<string> {
    return new SignJWT({ role: viewer.role, cid: viewer.clientId })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(viewer.id))
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlS}s`)
      .sign(this.#key);
  }

  /** Returns the viewer, or null when the token is invalid, expired or malformed. */
  /**
   * Verified tokens, kept until they expire (bounded): a client sends the same token on every
   * request, and HMAC verification is a measurable share of a cached response's cost.
   * Only tokens that passed verification are kept, so a forged token is always checked.
   */
  readonly #verified = new Map<string, { viewer: Viewer; expiresAt: number }>();

  async verify(token: string): Promise<Viewer | null> {
    const known = this.#verified.get(token);
    if (known) {
      if (known.expiresAt > Date.now()) return known.viewer;
      this.#verified.delete(token);
    }
    const viewer = await this.#verify(token);
    return viewer;
  }

  async #verify(token: string): Promise<Viewer | null> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        issuer: ISSUER,
        algorithms: ['HS256'],
      });
      const id = Number(payload.sub);
      const role = payload.role;
      const cid = payload.cid;
      if (!Number.isSafeInteger(id) || typeof role !== 'string' || !ROLES.has(role)) return null;
      if (role === 'CLIENT' && typeof cid !== 'number') return null;
      const viewer = {
        id,
        role: role as Role,
        clientId: role === 'CLIENT' ? (cid as number) : null,
      };
      if (typeof payload.exp === 'number') {
        if (this.#verified.size >= 10_000) this.#verified.clear();
        this.#verified.set(token, { viewer, expiresAt: payload.exp * 1000 });
      }
      return viewer;
    } catch {
      return null;
    }
  }
}
