/**
 * Whether a verified token may still be used: its user exists, is not deactivated, and still
 * has the token version the token carries. `users.token_version` is raised by a trigger
 * whenever role, client, password or deactivation changes, and by `logout`; deleting the user
 * removes the row. So every token issued before such a change is refused, on every instance,
 * within `recheckMs`.
 *
 * Each process keeps the status of the users it has seen for `recheckMs`: on the hot path a
 * check is a Map lookup. When a user's status is older, the next request reads it again (one
 * small indexed SQL, shared by every request of that user waiting at the time, and batched
 * with other users' reads in the same tick), so the database sees at most one read per active
 * user per interval and instance, whatever the request rate.
 */
import DataLoader from 'dataloader';
import type { Role } from '../generated/prisma/enums.ts';
import type { TokenClaims, Viewer } from './tokens.ts';

/** The pool's `query`, nothing more (the API's pool, or any pg pool in scripts). */
export interface Queryable {
  query<R extends Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[] }>;
}

/** A user's status as last read: who they are now, or null when deleted or deactivated. */
interface Status {
  viewer: Viewer | null;
  version: number;
  /** performance.now() of the read. */
  checkedAt: number;
  /** Read because a token carried a newer version than the previous status knew. */
  forNewer?: boolean;
}

interface Row extends Record<string, unknown> {
  id: number;
  role: Role;
  client_id: number | null;
  token_version: number;
  active: boolean;
}

export interface AccountRow {
  id: number;
  role: Role;
  clientId: number | null;
  tokenVersion: number;
  deactivatedAt: Date | null;
}

export class AccountStatus {
  readonly #statuses = new Map<number, Status>();
  readonly #reading = new Map<number, Promise<Status>>();
  readonly #loader: DataLoader<number, Row | null>;

  constructor(
    db: Queryable,
    /** How long a user's status is trusted before it is read again (0: every request). */
    readonly recheckMs: number,
    /** Users remembered at most; the least recently read are forgotten first. */
    readonly maxUsers = 100_000,
  ) {
    this.#loader = new DataLoader(
      async (ids: readonly number[]) => {
        const { rows } = await db.query<Row>(
          `SELECT id, role, client_id, token_version, deactivated_at IS NULL AS active
             FROM users WHERE id = ANY($1::int[])`,
          [ids],
        );
        const byId = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => byId.get(id) ?? null);
      },
      { cache: false, maxBatchSize: 500 },
    );
  }

  /**
   * The viewer the claims stand for now, or null when the token was revoked (user deleted or
   * deactivated, or its version raised since). Answers without waiting while the user's
   * status is fresh; rejects when the database cannot be read.
   */
  check(claims: TokenClaims): Viewer | null | Promise<Viewer | null> {
    const status = this.#statuses.get(claims.id);
    if (status && performance.now() - status.checkedAt < this.recheckMs) {
      // A token newer than the status (versions only grow) was issued after this process read
      // it — a sign-in elsewhere after a logout or reactivation: read again, once per interval.
      if (claims.version <= status.version || status.forNewer) return decide(status, claims);
      return this.#read(claims.id, true).then((s) => decide(s, claims));
    }
    return this.#read(claims.id, false).then((s) => decide(s, claims));
  }

  /** Records a user's status just read elsewhere (sign-in), saving the next request a read. */
  remember(user: AccountRow): void {
    this.#store(user.id, {
      viewer:
        user.deactivatedAt === null
          ? { id: user.id, role: user.role, clientId: user.clientId }
          : null,
      version: user.tokenVersion,
      checkedAt: performance.now(),
    });
  }

  /** Forgets a user's status after this process changed it: the next request reads it again. */
  forget(userId: number): void {
    this.#statuses.delete(userId);
    // A read already under way may have seen the row before the change: not joined, not kept.
    this.#reading.delete(userId);
    this.#generation += 1;
  }

  #generation = 0;

  #read(id: number, forNewer: boolean): Promise<Status> {
    let reading = this.#reading.get(id);
    if (!reading) {
      const generation = this.#generation;
      const current: Promise<Status> = this.#loader
        .load(id)
        .then((row) => {
          const status: Status = {
            viewer:
              row?.active === true ? { id: row.id, role: row.role, clientId: row.client_id } : null,
            version: row?.token_version ?? -1,
            checkedAt: performance.now(),
            forNewer,
          };
          if (generation === this.#generation) this.#store(id, status);
          return status;
        })
        .finally(() => {
          if (this.#reading.get(id) === current) this.#reading.delete(id);
        });
      this.#reading.set(id, current);
      reading = current;
    }
    return reading;
  }

  #store(id: number, status: Status): void {
    this.#statuses.delete(id);
    this.#statuses.set(id, status);
    if (this.#statuses.size > this.maxUsers) {
      const oldest = this.#statuses.keys().next().value;
      if (oldest !== undefined) this.#statuses.delete(oldest);
    }
  }
}

function decide(status: Status, claims: TokenClaims): Viewer | null {
  return status.viewer && status.version === claims.version ? status.viewer : null;
}
