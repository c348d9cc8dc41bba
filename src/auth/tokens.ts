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
  async verify(token: string): Promise<Viewer | null> {
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
      return { id, role: role as Role, clientId: role === 'CLIENT' ? (cid as number) : null };
    } catch {
      return null;
    }
  }
}
