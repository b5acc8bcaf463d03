// Chat over the room's data channel: each message is the plain text typed, relayed by the
// server to everyone else (who learn the sender from the relay's `from`).

export interface ChatElements {
  log: HTMLElement;
  form: HTMLFormElement;
  input: HTMLInputElement;
  send: HTMLButtonElement;
}

/** The chat box; `onSend` delivers a typed message and throws if it cannot. */
export class Chat {
  constructor(private readonly els: ChatElements, onSend: (text: string) => void) {
    // A form: Enter in the input sends too.
    els.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = els.input.value.trim();
      if (!text) return;
      try {
        onSend(text);
        els.input.value = '';
      } catch (e) {
        this.add('', `(not sent: ${e instanceof Error ? e.message : String(e)})`);
      }
    });
    this.setEnabled(false);
  }

  /** Appends `from: text` (or just `text` for notices) and keeps the newest in view. */
  add(from: string, text: string): void {
    const line = document.createElement('div');
    line.className = from ? 'msg' : 'notice';
    line.textContent = from ? `${from}: ${text}` : text;
    this.els.log.append(line);
    this.els.log.scrollTop = this.els.log.scrollHeight;
  }

  /** Starts a new conversation (a new join). */
  clear(): void {
    this.els.log.replaceChildren();
  }

  /** Lets the user type and send, or not (out of a room). */
  setEnabled(enabled: boolean): void {
    this.els.input.disabled = !enabled;
    this.els.send.disabled = !enabled;
  }
}
