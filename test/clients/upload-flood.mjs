// A hostile client in its own process (so its work does not share the server's event loop):
// N concurrent multipart uploads of SIZE bytes generated on the fly, without a token.
// Prints one JSON line: [{ status, code, sentBeforeAnswer }, ...].
import { Readable } from 'node:stream';

const [url, n = '5', size = String(20 * 1024 * 1024)] = process.argv.slice(2);
const boundary = 'postline-flood';
const head = Buffer.from(
  `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n` +
    '{"query":"mutation($f: Upload!) { uploadAsset(file: $f, postId: \\"x\\") { asset { id } } }","variables":{"f":null}}\r\n' +
    `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.f"]}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`,
);
const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
const chunk = Buffer.alloc(64 * 1024, 7);

async function one() {
  let sent = 0;
  const total = Number(size);
  const body = new Readable({
    read() {
      if (sent === 0) this.push(head);
      if (sent >= total) {
        this.push(tail);
        this.push(null);
        return;
      }
      const k = Math.min(chunk.length, total - sent);
      sent += k;
      this.push(k === chunk.length ? chunk : chunk.subarray(0, k));
    },
  });
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + total + tail.length),
        'apollo-require-preflight': 'true',
      },
      body: Readable.toWeb(body),
      duplex: 'half',
    });
    const sentBeforeAnswer = sent;
    const json = await res.json().catch(() => null);
    return {
      status: res.status,
      code: json?.errors?.[0]?.extensions?.code ?? null,
      sentBeforeAnswer,
    };
  } catch (err) {
    return { status: 0, code: String(err?.cause?.code ?? err), sentBeforeAnswer: sent };
  }
}

const results = await Promise.all(Array.from({ length: Number(n) }, one));
process.stdout.write(`${JSON.stringify(results)}\n`);
