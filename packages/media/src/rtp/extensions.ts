/**
 * RFC 8285 RTP header extension elements (one-byte and two-byte forms) and the RFC 6464
 * client-to-mixer audio level.
 *
 * IDs are negotiated per leg with `a=extmap` (RFC 8285 §5); these functions take the ID as a
 * parameter and never assume one.
 */
import type { RtpHeaderExtension } from './packet.js';

/** "Defined by profile" value of the one-byte form (RFC 8285 §4.2). */
export const ONE_BYTE_PROFILE = 0xbede;
/** "Defined by profile" value of the two-byte form, low 4 bits "appbits" zero (RFC 8285 §4.3). */
export const TWO_BYTE_PROFILE = 0x1000;

/** One header extension element. `data` is a view of the packet, not a copy. */
export interface HeaderExtensionElement {
  id: number;
  data: Uint8Array;
}

const FORM_NONE = 0;
const FORM_ONE_BYTE = 1;
const FORM_TWO_BYTE = 2;

function formOf(extension: RtpHeaderExtension): number {
  if (extension.profile === ONE_BYTE_PROFILE) {
    return FORM_ONE_BYTE;
  }
  // RFC 8285 §4.3: 0x100 in the top 12 bits, 4 application bits below.
  if ((extension.profile & 0xfff0) === TWO_BYTE_PROFILE) {
    return FORM_TWO_BYTE;
  }
  return FORM_NONE;
}

/**
 * Walks the elements of `extension`, calling `visit(id, offset, length)` for each; stops early
 * when `visit` returns true. Returns false if the extension is not RFC 8285 or is malformed.
 */
function walk(
  extension: RtpHeaderExtension,
  visit: (id: number, offset: number, length: number) => boolean,
): boolean {
  const form = formOf(extension);
  if (form === FORM_NONE) {
    return false;
  }
  const data = extension.data;
  let at = 0;
  while (at < data.length) {
    const first = data[at]!;
    if (form === FORM_ONE_BYTE) {
      if (first === 0) {
        at++; // RFC 8285 §4.2: padding octet
        continue;
      }
      const id = first >> 4;
      if (id === 15) {
        return true; // RFC 8285 §4.2: ID 15 ends processing of the extension
      }
      const length = (first & 0x0f) + 1;
      if (at + 1 + length > data.length) {
        return false;
      }
      if (visit(id, at + 1, length)) {
        return true;
      }
      at += 1 + length;
    } else {
      if (first === 0) {
        at++; // RFC 8285 §4.3: padding octet
        continue;
      }
      if (at + 2 > data.length) {
        return false;
      }
      const length = data[at + 1]!;
      if (at + 2 + length > data.length) {
        return false;
      }
      if (visit(first, at + 2, length)) {
        return true;
      }
      at += 2 + length;
    }
  }
  return true;
}

/**
 * Parses all elements. `undefined` if the extension is not in an RFC 8285 form or an element
 * overruns the data.
 */
export function parseHeaderExtensions(
  extension: RtpHeaderExtension,
): HeaderExtensionElement[] | undefined {
  const elements: HeaderExtensionElement[] = [];
  const data = extension.data;
  const ok = walk(extension, (id, offset, length) => {
    elements.push({ id, data: data.subarray(offset, offset + length) });
    return false;
  });
  return ok ? elements : undefined;
}

/** The data of element `id`, or `undefined` if absent, not RFC 8285, or malformed. */
export function findHeaderExtension(
  extension: RtpHeaderExtension | undefined,
  id: number,
): Uint8Array | undefined {
  if (extension === undefined) {
    return undefined;
  }
  const offset = findElement(extension, id);
  if (offset < 0) {
    return undefined;
  }
  const data = extension.data;
  const length =
    formOf(extension) === FORM_ONE_BYTE ? (data[offset - 1]! & 0x0f) + 1 : data[offset - 1]!;
  return data.subarray(offset, offset + length);
}

/**
 * Offset of element `id`'s data within `extension.data`, or −1. Allocation-free scan for hot
 * paths (the mixer reads the audio level of every packet).
 */
function findElement(extension: RtpHeaderExtension, id: number): number {
  const form = formOf(extension);
  if (form === FORM_NONE || id <= 0) {
    return -1;
  }
  const data = extension.data;
  let at = 0;
  while (at < data.length) {
    const first = data[at]!;
    if (first === 0) {
      at++;
      continue;
    }
    let elementId: number;
    let length: number;
    let start: number;
    if (form === FORM_ONE_BYTE) {
      elementId = first >> 4;
      if (elementId === 15) {
        return -1;
      }
      length = (first & 0x0f) + 1;
      start = at + 1;
    } else {
      if (at + 2 > data.length) {
        return -1;
      }
      elementId = first;
      length = data[at + 1]!;
      start = at + 2;
    }
    if (start + length > data.length) {
      return -1;
    }
    if (elementId === id) {
      return start;
    }
    at = start + length;
  }
  return -1;
}

/**
 * Serializes elements into an extension, in the one-byte form when every element allows it
 * (IDs 1–14, 1–16 octets) and the two-byte form otherwise (IDs 1–255, 0–255 octets), padded
 * with zero octets to a 32-bit boundary (RFC 8285 §4).
 * @throws RangeError for an ID or length neither form can carry.
 */
export function serializeHeaderExtensions(
  elements: readonly HeaderExtensionElement[],
): RtpHeaderExtension {
  let oneByte = true;
  let size = 0;
  for (const { id, data } of elements) {
    if (!Number.isInteger(id) || id < 1 || id > 255 || data.length > 255) {
      throw new RangeError(`header extension element ${id} of ${data.length} octets`);
    }
    if (id > 14 || data.length === 0 || data.length > 16) {
      oneByte = false;
    }
    size += data.length;
  }
  size += elements.length * (oneByte ? 1 : 2);
  const out = new Uint8Array((size + 3) & ~3);
  let at = 0;
  for (const { id, data } of elements) {
    if (oneByte) {
      out[at++] = (id << 4) | (data.length - 1);
    } else {
      out[at++] = id;
      out[at++] = data.length;
    }
    out.set(data, at);
    at += data.length;
  }
  return { profile: oneByte ? ONE_BYTE_PROFILE : TWO_BYTE_PROFILE, data: out };
}

/** RFC 6464 §3 audio level: voice activity flag and level in −dBov (0 loudest, 127 silence). */
export interface AudioLevel {
  voiceActivity: boolean;
  /** 0–127, in −dBov: 0 is full scale, 127 is digital silence or below −127 dBov. */
  level: number;
}

/**
 * The raw RFC 6464 octet of element `id` (V flag in bit 7, level in bits 0–6), or −1 if
 * absent. Allocation-free.
 */
export function audioLevelOctet(extension: RtpHeaderExtension | undefined, id: number): number {
  if (extension === undefined) {
    return -1;
  }
  const offset = findElement(extension, id);
  return offset < 0 ? -1 : extension.data[offset]!;
}

/** The RFC 6464 audio level of element `id`, or `undefined` if absent. */
export function readAudioLevel(
  extension: RtpHeaderExtension | undefined,
  id: number,
): AudioLevel | undefined {
  const octet = audioLevelOctet(extension, id);
  if (octet < 0) {
    return undefined;
  }
  return { voiceActivity: (octet & 0x80) !== 0, level: octet & 0x7f };
}

/** An RFC 6464 element payload (one octet) for `level` −dBov. */
export function audioLevelElement(
  id: number,
  level: number,
  voiceActivity: boolean,
): HeaderExtensionElement {
  const clamped = Math.min(Math.max(Math.round(level), 0), 127);
  return { id, data: Uint8Array.of((voiceActivity ? 0x80 : 0) | clamped) };
}
