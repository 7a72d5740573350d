/** The logger every package writes to. Pass your own (pino, console, …) through the `logger` option. */
export interface Logger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

const noop = (): void => undefined;

/** Drops everything: pass it as `logger` to silence the library. */
export const silentLogger: Logger = /* @__PURE__ */ Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/**
 * The default logger: warnings and errors reach the console, so failures are visible without any
 * set-up; debug and info are dropped. Pass `logger` to route them elsewhere, or `silentLogger` to
 * silence the library.
 */
export const consoleLogger: Logger = /* @__PURE__ */ Object.freeze({
  debug: noop,
  info: noop,
  warn: (msg: string, data?: Record<string, unknown>): void => {
    if (data === undefined) console.warn(msg);
    else console.warn(msg, data);
  },
  error: (msg: string, data?: Record<string, unknown>): void => {
    if (data === undefined) console.error(msg);
    else console.error(msg, data);
  },
});
