import type { ClientEvent, ServerEvent } from '../api/types';
import type { SocketLike } from '../live/useImportStream';

/** A WebSocket stand-in the test drives: open it, push server events, drop it. */
export class FakeSocket implements SocketLike {
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  readyState = 0;
  closedByClient = false;
  /** What the client sent, parsed. */
  readonly sent: ClientEvent[] = [];

  constructor(readonly url: string) {}

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  /** A server event arrives. Opens the socket first if needed, as a real one would be. */
  emit(ev: ServerEvent): void {
    if (this.readyState === 0) this.open();
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(ev) }));
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientEvent);
  }

  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent('close', { code }));
  }

  close(): void {
    this.closedByClient = true;
    this.readyState = 3;
  }
}

export class FakeSocketFactory {
  readonly sockets: FakeSocket[] = [];
  readonly create = (url: string): FakeSocket => {
    const s = new FakeSocket(url);
    this.sockets.push(s);
    return s;
  };

  get last(): FakeSocket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error('no socket was opened');
    return s;
  }
}
