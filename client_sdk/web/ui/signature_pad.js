// A signature pad: strokes as data first (each point [x, y, t], t in ms since the pad's first point),
// pixels second. Pointer events serve finger, pen and mouse alike; coalesced events keep fast strokes smooth.

/** @typedef {number[][]} Stroke  points [x, y, t] */

/** The pad's coordinate space: strokes are stored in it, whatever the canvas's size on screen. */
export const PAD_WIDTH = 600;
export const PAD_HEIGHT = 240;

export class SignaturePad {
  /** @param {HTMLCanvasElement} canvas @param {() => void} [onChange] */
  constructor(canvas, onChange = () => undefined) {
    this.canvas = canvas;
    this.onChange = onChange;
    /** @type {Stroke[]} */
    this.strokes = [];
    /** @type {Stroke | null} */
    this.current = null;
    /** @type {number | null} */
    this.origin = null;
    canvas.width = PAD_WIDTH;
    canvas.height = PAD_HEIGHT;
    canvas.style.touchAction = "none"; // the page must not scroll while the customer signs
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    this.draw();
  }

  get isEmpty() {
    return this.strokes.every((s) => s.length < 2);
  }

  clear() {
    this.strokes = [];
    this.current = null;
    this.origin = null;
    this.draw();
    this.onChange();
  }

  /** @param {PointerEvent} e */
  point(e) {
    const rect = this.canvas.getBoundingClientRect();
    const x = ((e.clientX - rect.left) / rect.width) * PAD_WIDTH;
    const y = ((e.clientY - rect.top) / rect.height) * PAD_HEIGHT;
    if (this.origin === null) this.origin = e.timeStamp;
    return [Math.round(Math.min(Math.max(x, 0), PAD_WIDTH)), Math.round(Math.min(Math.max(y, 0), PAD_HEIGHT)),
      Math.round(e.timeStamp - this.origin)];
  }

  /** @param {PointerEvent} e */
  down(e) {
    if (e.button !== 0 && e.pointerType === "mouse") return;
    e.preventDefault();
    this.canvas.setPointerCapture?.(e.pointerId);
    this.current = [this.point(e)];
    this.strokes.push(this.current);
    this.draw();
  }

  /** @param {PointerEvent} e */
  move(e) {
    if (!this.current) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) this.current.push(this.point(ev));
    this.draw();
  }

  /** @param {PointerEvent} e */
  up(e) {
    if (!this.current) return;
    if (e.type === "pointerup") this.current.push(this.point(e));
    this.current = null;
    this.draw();
    this.onChange();
  }

  draw() {
    drawStrokes(this.canvas, this.strokes);
  }
}

/**
 * Draw strokes given as points ([x, y, ...]) or as flat wire strokes ([x0, y0, x1, y1, ...]).
 * @param {HTMLCanvasElement} canvas @param {number[][] | number[][][]} strokes
 */
export function drawStrokes(canvas, strokes) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineWidth = 3;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#10233f";
  for (const stroke of strokes) {
    const points = Array.isArray(stroke[0])
      ? /** @type {number[][]} */ (stroke)
      : pairs(/** @type {number[]} */ (stroke));
    if (!points.length) continue;
    ctx.beginPath();
    ctx.moveTo(points[0][0], points[0][1]);
    for (const [x, y] of points.slice(1)) ctx.lineTo(x, y);
    if (points.length === 1) ctx.lineTo(points[0][0] + 0.5, points[0][1] + 0.5);
    ctx.stroke();
  }
}

/** @param {number[]} flat */
function pairs(flat) {
  const out = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}
