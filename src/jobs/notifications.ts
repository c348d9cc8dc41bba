/**
 * Jobs that mutations start as a side effect, enqueued in the mutation's own transaction
 * (pass a `Sql` runner bound to it): a rolled-back write leaves no job.
 */
import type { Config } from '../config.ts';
import { enqueueJob, type Sql, scheduleAnalytics } from './queue.ts';

/** A post changed status: refresh analytics soon; e-mail its author when it was approved. */
export async function afterPostStatusChange(
  sql: Sql,
  config: Config,
  post: { id: number; clientId: number; status: string },
  startedById: number,
): Promise<void> {
  if (post.status === 'APPROVED') {
    await enqueueJob(sql, {
      kind: 'sendEmail',
      payload: { template: 'postApproved', postId: post.id },
      startedById,
      clientId: post.clientId,
    });
  }
  await scheduleAnalytics(sql, config.jobs.analyticsDebounceMs);
}

/** A deliverable moved to IN_REVIEW: e-mail the client's users. */
export async function afterDeliverableStatusChange(
  sql: Sql,
  deliverable: { id: number; clientId: number; status: string },
  startedById: number,
): Promise<void> {
  if (deliverable.status !== 'IN_REVIEW') return;
  await enqueueJob(sql, {
    kind: 'sendEmail',
    payload: { template: 'deliverableInReview', deliverableId: deliverable.id },
    startedById,
    clientId: deliverable.clientId,
  });
}
