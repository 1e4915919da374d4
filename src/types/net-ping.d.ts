// The part of net-ping 1.2.4 (CommonJS, no bundled types) that src/host/icmp.ts uses,
// including the internals it hooks (socket, reqs, reqRemove, onBeforeSocketSend).
declare module 'net-ping' {
  import { EventEmitter } from 'node:events';

  namespace ping {
    interface RawSocket extends EventEmitter {
      setOption(level: number, option: number, value: number): void;
      getOption(level: number, option: number, buffer: Buffer, length: number): number;
    }
    interface Request {
      id: number;
      target: string;
      callback: PingCallback;
      sent?: Date;
      [key: string]: unknown;
    }
    type PingCallback = (error: Error | null, target: string, sent?: Date, rcvd?: Date) => void;
    interface SessionOptions {
      networkProtocol?: number;
      retries?: number;
      timeout?: number;
      packetSize?: number;
      sessionId?: number;
      ttl?: number;
    }
    class Session extends EventEmitter {
      socket: RawSocket;
      reqs: Record<number, Request | undefined>;
      pingHost(target: string, callback: PingCallback): this;
      close(): this;
      reqRemove(id: number): Request | undefined;
      onBeforeSocketSend(req: Request): void;
    }
    function createSession(options?: SessionOptions): Session;
    const NetworkProtocol: { IPv4: 1; IPv6: 2 };
    class DestinationUnreachableError extends Error { source: string; constructor(source: string); }
    class PacketTooBigError extends Error { source: string; constructor(source: string); }
    class ParameterProblemError extends Error { source: string; constructor(source: string); }
    class TimeExceededError extends Error { source: string; constructor(source: string); }
  }
  export = ping;
}
