/**
 * What one SDK instance shares between Auth, Phone and Websocket: its platform and logger.
 * `createConfab().configure()` replaces them; components read them when they need them.
 */
import type { Logger } from '@confab/core';
import type { Platform } from './platform.js';

export interface SdkRuntime {
  platform: Platform;
  logger: Logger;
}
