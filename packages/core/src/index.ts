export { TypedEmitter } from './emitter.js';
export type { EventMap, Listener, EmitterBaseEvents } from './emitter.js';
export {
  ConfabError,
  InvalidStateError,
  UnsupportedError,
  isConfabError,
  isInvalidStateError,
} from './errors.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';
