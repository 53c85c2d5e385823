/**
 * SIP message serialization (RFC 3261 §7): start line, one `Name: value` line per header value,
 * CRLF line endings, an empty line, the body.
 *
 * Content-Length is always written from the body's byte length (mandatory on streams, §18.3,
 * §20.14), at the position of the first Content-Length entry if the message has one (so that a
 * parsed message is written back in its original order) or after the other headers.
 */
import { isRequest } from './message.js';
import type { SipMessage } from './message.js';
import { formatUri, isToken } from './uri-parser.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function hasLineBreak(text: string): boolean {
  return text.includes('\n') || text.includes('\r');
}

function startLine(m: SipMessage): string {
  if (isRequest(m)) {
    if (!isToken(m.method)) {
      throw new TypeError(`invalid SIP method ${JSON.stringify(m.method)}`);
    }
    return `${m.method} ${formatUri(m.uri)} SIP/2.0\r\n`;
  }
  if (!Number.isInteger(m.status) || m.status < 100 || m.status > 699) {
    throw new TypeError(`invalid SIP status code ${m.status}`);
  }
  if (hasLineBreak(m.reason)) {
    throw new TypeError('a Reason-Phrase cannot contain CR or LF');
  }
  return `SIP/2.0 ${m.status} ${m.reason}\r\n`;
}

function serializeHead(m: SipMessage): string {
  let out = startLine(m);
  let lengthWritten = false;
  for (const { name, value } of m.headers) {
    if (name === 'Content-Length') {
      if (!lengthWritten) {
        out += `Content-Length: ${m.body.length}\r\n`;
        lengthWritten = true;
      }
      continue;
    }
    // A header value with a line break would inject header lines (or a body): refuse it.
    if (!isToken(name) || hasLineBreak(value)) {
      throw new TypeError(`invalid header field ${JSON.stringify(name)}`);
    }
    out += value.length === 0 ? `${name}:\r\n` : `${name}: ${value}\r\n`;
  }
  if (!lengthWritten) {
    out += `Content-Length: ${m.body.length}\r\n`;
  }
  return `${out}\r\n`;
}

/**
 * Serializes a message to bytes, ready for a datagram, a stream or a WebSocket binary frame.
 *
 * @throws TypeError when the message cannot be written as valid SIP (a method that is not a
 *   token, a status outside 100–699, a header name that is not a token, or a header value or
 *   reason phrase containing CR/LF). Messages from `parseMessage` always serialize.
 */
export function serializeMessage(m: SipMessage): Uint8Array {
  const head = encoder.encode(serializeHead(m));
  if (m.body.length === 0) {
    return head;
  }
  const out = new Uint8Array(head.length + m.body.length);
  out.set(head, 0);
  out.set(m.body, head.length);
  return out;
}

/**
 * Serializes a message to a string (logs, tests, WebSocket text frames). The body is decoded as
 * UTF-8, so use {@link serializeMessage} for binary bodies.
 *
 * @throws TypeError as {@link serializeMessage}.
 */
export function serializeMessageToString(m: SipMessage): string {
  return m.body.length === 0 ? serializeHead(m) : serializeHead(m) + decoder.decode(m.body);
}
