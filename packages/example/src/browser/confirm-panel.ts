/**
 * Answers the server's `example/confirm` requests: shows the question with Yes / No buttons and
 * resolves with the click. One question at a time; a newer question answers the older one "no".
 */
export class ConfirmPanel {
  #pending: ((answer: boolean) => void) | undefined;

  constructor(
    private readonly box: HTMLElement,
    private readonly question: HTMLElement,
    yes: HTMLElement,
    no: HTMLElement,
  ) {
    yes.addEventListener('click', () => this.#answer(true));
    no.addEventListener('click', () => this.#answer(false));
  }

  /** Shows `question`; resolves with the user's answer. */
  ask(question: string): Promise<boolean> {
    this.#answer(false);
    this.question.textContent = question;
    this.box.hidden = false;
    return new Promise((resolve) => (this.#pending = resolve));
  }

  #answer(answer: boolean): void {
    const pending = this.#pending;
    this.#pending = undefined;
    this.box.hidden = true;
    pending?.(answer);
  }
}
