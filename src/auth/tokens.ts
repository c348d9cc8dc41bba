import { jwtVerify, SignJWT } from 'jose';
import type { Role } from '../generated/prisma/enums.ts';

/** Who is calling, as proven by a verified token. */
export interface Viewer {
  id: number;
  role: Role;
  /** The client a CLIENT user belongs to; null for agency staff. */
  clientId: number | null;
}

/** A verified token's claims: the viewer it was issued to, and that user's token version then. */
export interface TokenClaims extends Viewer {
  /** `users.token_version` when the token was issued; see accounts.ts. */
  version: number;
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

  sign(claims: TokenClaims): Promise<string> {
    return new SignJWT({ role: claims.role, cid: claims.clientId, ver: claims.version })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(claims.id))
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlS}s`)
      .sign(this.#key);
  }

  /**
   * Verified tokens, kept until they expire (bounded): a client sends the same token on every
   * request, and HMAC verification is a measurable share of a cached response's cost.
   * Only tokens that passed verification are kept, so a forged token is always checked.
   * Whether the token was revoked since is not decided here but by AccountStatus.
   */
  readonly #verified = new Map<string, { claims: TokenClaims; expiresAt: number }>();

  /** Returns the token's claims, or null when the token is invalid, expired or malformed. */
  async verify(token: string): Promise<TokenClaims | null> {
    const known = this.#verified.get(token);
    if (known) {
      if (known.expiresAt > Date.now()) return known.claims;
      this.#verified.delete(token);
    }
    return this.#verify(token);
  }

  async #verify(token: string): Promise<TokenClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        issuer: ISSUER,
        algorithms: ['HS256'],
      });
      const id = Number(payload.sub);
      const role = payload.role;
      const cid = payload.cid;
      // Tokens issued before versions existed carry none: version 0, every user's first.
      const version = payload.ver ?? 0;
      if (!Number.isSafeInteger(id) || typeof role !== 'string' || !ROLES.has(role)) return null;
      if (role === 'CLIENT' && typeof cid !== 'number') return null;
      if (typeof version !== 'number' || !Number.isSafeInteger(version)) return null;
      const claims: TokenClaims = {
        id,
        role: role as Role,
        clientId: role === 'CLIENT' ? (cid as number) : null,
        version,
      };
      if (typeof payload.exp === 'number') {
        if (this.#verified.size >= 10_000) this.#verified.clear();
        this.#verified.set(token, { claims, expiresAt: payload.exp * 1000 });
      }
      return claims;
    } catch {
      return null;
    }
  }
}
