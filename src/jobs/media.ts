/** Content type by magic bytes, and pixel size of PNG, JPEG, GIF and WebP images. */

export const SUPPORTED_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
] as const;
export type SupportedType = (typeof SUPPORTED_TYPES)[number];

const startsWith = (b: Buffer, bytes: number[], at = 0) => bytes.every((v, i) => b[at + i] === v);

/** The file's type from its first bytes (16 are enough), or null when not supported. */
export function detectType(b: Buffer): SupportedType | null {
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (
    b.subarray(0, 6).toString('latin1') === 'GIF87a' ||
    b.subarray(0, 6).toString('latin1') === 'GIF89a'
  )
    return 'image/gif';
  if (
    b.subarray(0, 4).toString('latin1') === 'RIFF' &&
    b.subarray(8, 12).toString('latin1') === 'WEBP'
  )
    return 'image/webp';
  if (b.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  return null;
}

export function imageSize(
  b: Buffer,
  type: SupportedType,
): { width: number; height: number } | null {
  try {
    switch (type) {
      case 'image/png':
        return b.subarray(12, 16).toString('latin1') === 'IHDR'
          ? { width: b.readUInt32BE(16), height: b.readUInt32BE(20) }
          : null;
      case 'image/gif':
        return { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
      case 'image/webp':
        return webpSize(b);
      case 'image/jpeg':
        return jpegSize(b);
      default:
        return null;
    }
  } catch {
    return null; // truncated header
  }
}

function webpSize(b: Buffer) {
  const chunk = b.subarray(12, 16).toString('latin1');
  if (chunk === 'VP8 ')
    return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  if (chunk === 'VP8L') {
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  return null;
}

function jpegSize(b: Buffer) {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1] as number;
    if (marker === 0xff) {
      i++;
      continue;
    }
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    i += 2 + b.readUInt16BE(i + 2);
  }
  return null;
}
