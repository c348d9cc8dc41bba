/**
 * Outgoing mail: nodemailer over SMTP_URL, or, without SMTP, a transport that writes each
 * message as an .eml file under MAIL_DIR (open it in any mail client).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../config.ts';

export interface OutgoingMessage {
  to: string;
  subject: string;
  text: string;
  /** Stable per outbox row, so a receiver can spot a repeat. */
  messageId: string;
}

export interface Mailer {
  send(message: OutgoingMessage): Promise<void>;
  close(): void;
}

export function createMailer(config: Config): Mailer {
  const { smtpUrl, mailFrom, mailDir } = config.jobs;
  if (smtpUrl) {
    const transport = nodemailer.createTransport(smtpUrl);
    return {
      async send(m) {
        await transport.sendMail({
          from: mailFrom,
          to: m.to,
          subject: m.subject,
          text: m.text,
          messageId: m.messageId,
        });
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'unix',
  });
  return {
    async send(m) {
      const info = await transport.sendMail({
        from: mailFrom,
        to: m.to,
        subject: m.subject,
        text: m.text,
        messageId: m.messageId,
      });
      await mkdir(mailDir, { recursive: true });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${m.messageId.replace(/[^a-zA-Z0-9.-]/g, '_')}.eml`;
      await writeFile(path.join(mailDir, name), info.message as Buffer);
    },
    close: () => transport.close(),
  };
}
