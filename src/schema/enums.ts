import { builder } from '../builder.ts';
import {
  ClientStatus,
  DeliverableStatus,
  Platform,
  PostStatus,
  ProjectStatus,
  Role,
} from '../generated/prisma/enums.ts';

export const RoleEnum = builder.enumType(Role, {
  name: 'Role',
  description: 'What a user may see and do. Changed by an ADMIN with `updateUser`.',
  values: {
    ADMIN: { description: 'Agency staff: reads and writes everything, manages users.' },
    MANAGER: { description: 'Agency staff: reads and writes everything but users.' },
    EDITOR: {
      description:
        'Agency staff: reads everything; writes posts and deliverables, starts jobs and uploads files.',
    },
    CLIENT: {
      description:
        "A client's user: reads only that client's data; may approve posts and deliverables that are IN_REVIEW.",
    },
  },
});

export const ClientStatusEnum = builder.enumType(ClientStatus, {
  name: 'ClientStatus',
  description: 'Whether a client is current.',
  values: {
    ACTIVE: { description: 'Current (the default).' },
    ARCHIVED: { description: 'Archived with `archiveClient`; it takes no new projects.' },
  },
});

export const ProjectStatusEnum = builder.enumType(ProjectStatus, {
  name: 'ProjectStatus',
  description:
    'Where a project stands. Changes follow a workflow (see each value); any other change is BAD_USER_INPUT on `input.status`.',
  values: {
    PLANNING: { description: 'Not started (the default). Next: ACTIVE, ON_HOLD or ARCHIVED.' },
    ACTIVE: { description: 'Under way. Next: ON_HOLD, COMPLETED or ARCHIVED.' },
    ON_HOLD: { description: 'Paused. Next: ACTIVE or ARCHIVED.' },
    COMPLETED: { description: 'Finished. Next: ACTIVE or ARCHIVED.' },
    ARCHIVED: {
      description: 'Put away; it takes no new posts. Next: PLANNING.',
    },
  },
});

export const PlatformEnum = builder.enumType(Platform, {
  name: 'Platform',
  description: 'Where a post is published.',
  values: {
    BLOG: { description: "The client's blog." },
    FACEBOOK: { description: 'Facebook.' },
    INSTAGRAM: { description: 'Instagram.' },
    LINKEDIN: { description: 'LinkedIn.' },
    TIKTOK: { description: 'TikTok.' },
    X: { description: 'X (formerly Twitter).' },
  },
});

export const PostStatusEnum = builder.enumType(PostStatus, {
  name: 'PostStatus',
  description:
    'Where a post stands. Changes follow a workflow (see each value); any other change is BAD_USER_INPUT on `input.status`.',
  values: {
    DRAFT: { description: 'Being written (the default). Next: IN_REVIEW or ARCHIVED.' },
    IN_REVIEW: {
      description:
        "Waiting for approval; the client's users may approve it. Next: DRAFT, APPROVED or ARCHIVED.",
    },
    APPROVED: {
      description:
        'Approved; the author is e-mailed. Next: IN_REVIEW, DRAFT, SCHEDULED, PUBLISHED or ARCHIVED.',
    },
    SCHEDULED: {
      description:
        'Planned for `scheduledAt`, which it needs. Next: APPROVED, PUBLISHED or ARCHIVED.',
    },
    PUBLISHED: { description: 'Out; `publishedAt` is set on the change. Next: ARCHIVED.' },
    ARCHIVED: { description: 'Put away. Next: DRAFT.' },
  },
});

export const DeliverableStatusEnum = builder.enumType(DeliverableStatus, {
  name: 'DeliverableStatus',
  description:
    'Where a deliverable stands: TODO → IN_PROGRESS → IN_REVIEW → APPROVED → DELIVERED, one step back allowed before DELIVERED. Other changes are BAD_USER_INPUT on `input.status`.',
  values: {
    TODO: { description: 'Not started (the default).' },
    IN_PROGRESS: { description: 'Being worked on.' },
    IN_REVIEW: {
      description: "Waiting for the client's approval; the client's users are e-mailed.",
    },
    APPROVED: { description: 'Approved by the client or by staff.' },
    DELIVERED: { description: 'Handed over; final.' },
  },
});
