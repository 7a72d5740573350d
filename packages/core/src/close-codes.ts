/** WebSocket close codes sente-rx uses; PROTOCOL.md says when each is sent. */
export const CloseCode = /* @__PURE__ */ Object.freeze({
  /** Client `disconnect()`/`reconnect()`, or a replaced socket. */
  NORMAL: 1000,
  /** Server `close()`. */
  GOING_AWAY: 1001,
  /** A binary frame to a text packer, or a text frame to a binary packer. */
  UNSUPPORTED_DATA: 1003,
  /** A frame that does not unpack or is not an envelope. */
  BAD_FRAME: 1007,
  /** Server side: a socket opened through the legacy `ServerCore.wsOpen` by a request the rejection pipeline refuses. */
  POLICY_VIOLATION: 1008,
  /** A frame over `maxMessageBytes`. */
  TOO_BIG: 1009,
  /** The server failed while opening the socket (`userId` or `handshakeData` threw, or the handshake did not pack). */
  INTERNAL_ERROR: 1011,
  /** Client side only: `breakConnection()` and similar test aids close with this to act like a network failure. */
  CLIENT_ABNORMAL: 3000,
  /** The server closed every socket of a uid (`send(uid, ['chsk/close'])`). */
  SERVER_CLOSE_UID: 4000,
});

export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_576; // 1 MiB
