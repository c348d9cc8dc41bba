/**
 * Notification e-mails. The recipients and text are worked out when the job runs; each
 * message is first written to `email_outbox` under a unique key (`<job>:<template>:<to>`) and
 * marked sent after the SMTP server accepted it, so a job that runs twice sends each message
 * once. (A crash between the server's acceptance and the mark can still repeat one message;
 * its Message-ID is the same both times so mail clients can collapse it.)
 */
import { z } from 'zod';
import { createMailer, type Mailer } from '../mail.ts';
import { pgSql } from '../queue.ts';
import { defineTask, PermanentJobError } from '../task.ts';

export const sendEmailPayload = z.discriminatedUnion('template', [
  z.object({ template: z.literal('postApproved'), postId: z.number().int().positive() }),
  z.object({
    template: z.literal('deliverableInReview'),
    deliverableId: z.number().int().positive(),
  }),
]);
export type SendEmailPayload = z.infer<typeof sendEmailPayload>;

let mailer: Mailer | null = null;
let mailerKey = '';

export default defineTask({
  kind: 'sendEmail',
  payload: sendEmailPayload,
  async run(p, { services, job, progress }) {
    const sql = pgSql(services.pool);
    const key = `${services.config.jobs.smtpUrl ?? ''}|${services.config.jobs.mailDir}`;
    if (!mailer || key !== mailerKey) {
      mailer?.close();
      mailer = createMailer(services.config);
      mailerKey = key;
    }
    let messages: { to: string; subject: string; body: string }[];
    if (p.template === 'postApproved') {
      const [post] = await sql<{ title: string; email: string; name: string; project: string }>(
        `SELECT po.title, u.email, u.name, pr.name AS project FROM posts po
         JOIN users u ON u.id = po.author_id JOIN projects pr ON pr.id = po.project_id
         WHERE po.id = $1`,
        [p.postId],
      );
      if (!post) throw new PermanentJobError(`Post ${p.postId} no longer exists`);
      messages = [
        {
          to: post.email,
          subject: `Approved: ${post.title}`.slice(0, 300),
          body: `Hello ${post.name},\n\nYour post "${post.title}" in project ${post.project} was approved.\n\n— Postline\n`,
        },
      ];
    } else {
      const [d] = await sql<{ title: string; client_id: number; project: string }>(
        `SELECT d.title, d.client_id, pr.name AS project FROM deliverables d
         JOIN projects pr ON pr.id = d.project_id WHERE d.id = $1`,
        [p.deliverableId],
      );
      if (!d) throw new PermanentJobError(`Deliverable ${p.deliverableId} no longer exists`);
      const users = await sql<{ email: string; name: string }>(
        `SELECT email, name FROM users WHERE client_id = $1 AND role = 'CLIENT' ORDER BY id`,
        [d.client_id],
      );
      messages = users.map((u) => ({
        to: u.email,
        subject: `Ready for your review: ${d.title}`.slice(0, 300),
        body: `Hello ${u.name},\n\n"${d.title}" in project ${d.project} is ready for your review.\n\n— Postline\n`,
      }));
    }
    for (const m of messages) {
      await sql(
        `INSERT INTO email_outbox (key, job_id, recipient, subject, body) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key) DO NOTHING`,
        [`${job.id}:${p.template}:${m.to}`, job.id, m.to, m.subject, m.body],
      );
    }
    const pending = await sql<{ id: number; recipient: string; subject: string; body: string }>(
      'SELECT id, recipient, subject, body FROM email_outbox WHERE job_id = $1 AND sent_at IS NULL ORDER BY id',
      [job.id],
    );
    let sent = 0;
    for (const row of pending) {
      const messageId = `<outbox-${row.id}@postline>`;
      await mailer.send({ to: row.recipient, subject: row.subject, text: row.body, messageId });
      await sql('UPDATE email_outbox SET sent_at = now(), message_id = $2 WHERE id = $1', [
        row.id,
        messageId,
      ]);
      sent++;
      await progress((sent * 100) / pending.length);
    }
    return { recipients: messages.map((m) => m.to), sentThisRun: sent };
  },
});
