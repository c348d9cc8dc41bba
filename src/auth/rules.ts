/**
 * Who may see and change what. Every resolver goes through these helpers, so the rules hold
 * on every path: lists, nested connections and `node(id:)`.
 *
 * - ADMIN, MANAGER: read and write everything.
 * - EDITOR: reads everything; writes posts and deliverables.
 * - CLIENT: reads only its own client's data; may approve posts and deliverables in review.
 */

import { forbidden, unauthenticated } from '../errors.ts';
import type { Role } from '../generated/prisma/enums.ts';
import type { Viewer } from './tokens.ts';

export interface HasViewer {
  viewer: Viewer | null;
}

export function requireViewer(ctx: HasViewer): Viewer {
  if (!ctx.viewer) throw unauthenticated();
  return ctx.viewer;
}

export function requireRole(ctx: HasViewer, roles: readonly Role[], action: string): Viewer {
  const viewer = requireViewer(ctx);
  if (!roles.includes(viewer.role)) {
    throw forbidden(`Your role (${viewer.role}) may not ${action}`);
  }
  return viewer;
}

export const STAFF: readonly Role[] = ['ADMIN', 'MANAGER', 'EDITOR'];
export const MANAGERS: readonly Role[] = ['ADMIN', 'MANAGER'];

/** The client a viewer is confined to, or null for staff who see every client. */
export function clientScope(viewer: Viewer): number | null {
  return viewer.role === 'CLIENT' ? viewer.clientId : null;
}

/** Whether a row that belongs to `clientId` is visible to the viewer. */
export function canSeeClient(viewer: Viewer, clientId: number): boolean {
  return viewer.role !== 'CLIENT' || viewer.clientId === clientId;
}

/** Cache scope: callers who may see the same data share cached responses. */
export function visibilityScope(viewer: Viewer | null): string {
  if (!viewer) return 'anonymous';
  return viewer.role === 'CLIENT' ? `client:${viewer.clientId}` : 'staff';
}

export interface VisibleRow {
  id: number;
  clientId?: number | null;
  role?: string;
}

/** Whether a loaded row of `typename` may be shown to the viewer (used by `node(id:)`). */
export function rowVisible(viewer: Viewer, typename: string, row: VisibleRow): boolean {
  if (viewer.role !== 'CLIENT') return true;
  switch (typename) {
    case 'Client':
      return row.id === viewer.clientId;
    case 'User':
      // Staff appear as authors and assignees; other clients' users never.
      return row.role !== 'CLIENT' || row.clientId === viewer.clientId;
    case 'BackgroundJob':
      // Jobs are the agency's own machinery; client users never see them.
      return false;
    default:
      return row.clientId === viewer.clientId;
  }
}
