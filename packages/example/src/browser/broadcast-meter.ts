/**
 * Shows a test broadcast arriving: one cell per event, lit in arrival order, and a status line
 * that says whether every event came, and in the order the server sent them.
 */
export class BroadcastMeter {
  readonly #cells: HTMLSpanElement[] = [];
  readonly #status: HTMLElement;
  #run = -1;
  #received = 0;
  #expected = 0;
  #inOrder = true;

  constructor(grid: HTMLElement, status: HTMLElement, size: number) {
    this.#status = status;
    for (let i = 0; i < size; i++) this.#cells.push(document.createElement('span'));
    grid.replaceChildren(...this.#cells);
  }

  /** Records event `i` of `of` in broadcast `run`; a new run resets the meter. */
  receive(run: number, i: number, of: number): void {
    if (run !== this.#run) {
      this.#run = run;
      this.#received = 0;
      this.#expected = 0;
      this.#inOrder = true;
      for (const c of this.#cells) c.className = '';
    }
    this.#received++;
    const previous = this.#expected - 1;
    const inOrder = i === this.#expected;
    if (!inOrder) this.#inOrder = false;
    this.#expected = i + 1;
    const cell = this.#cells[i];
    if (cell !== undefined) cell.className = inOrder ? 'got' : 'late';
    this.#status.classList.toggle('error', !this.#inOrder);
    this.#status.textContent =
      `run #${run}: ${this.#received}/${of} received` +
      (this.#inOrder ? (this.#received === of ? ', in order ✓' : ', in order so far…') : `, OUT OF ORDER (got ${i} after ${previous})`);
  }

  get summary(): string {
    return this.#status.textContent ?? '';
  }
}
