// Canvas charts: the analytics volume chart (YES/NO split bars, Hour/Day), small line charts, and the
// NBA win-probability chart (Kalshi, sportsbook consensus, model).
import * as fmt from "./format.js";

const YES = "#2fbf71";
const NO = "#e5484d";
const AXIS = "#8a93a6";
const GRID = "rgba(138,147,166,0.15)";

/** Size a canvas's backing store to its CSS box at the device pixel ratio; returns the 2D context. */
export function fitCanvas(canvas, size = null) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = size ? size.w : canvas.clientWidth;
  const cssH = size ? size.h : canvas.clientHeight;
  const w = Math.max(1, Math.round(cssW * dpr));
  const h = Math.max(1, Math.round(cssH * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w: cssW, h: cssH };
}

/** A line of integer prices (centicents) scaled to the canvas; colour by direction.
 * `opts.size` ({w, h} in CSS px) skips reading the canvas's layout size. */
export function drawLine(canvas, values, opts = {}) {
  const { ctx, w, h } = fitCanvas(canvas, opts.size);
  ctx.clearRect(0, 0, w, h);
  if (!values || values.length === 0) return;
  const pad = opts.pad ?? 2;
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (opts.fullRange) {
    lo = Math.min(lo, opts.fullRange[0]);
    hi = Math.max(hi, opts.fullRange[1]);
  }
  if (hi === lo) {
    hi += 50;
    lo -= 50;
  }
  const n = values.length;
  const x = (i) => pad + (n === 1 ? (w - 2 * pad) / 2 : (i * (w - 2 * pad)) / (n - 1));
  const y = (v) => h - pad - ((v - lo) * (h - 2 * pad)) / (hi - lo);
  if (opts.axis) {
    ctx.fillStyle = AXIS;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(fmt.price(hi), 4, 12);
    ctx.fillText(fmt.price(lo), 4, h - 4);
  }
  ctx.strokeStyle = values[n - 1] >= values[0] ? YES : NO;
  ctx.lineWidth = opts.width ?? 1.5;
  ctx.beginPath();
  ctx.moveTo(x(0), y(values[0]));
  for (let i = 1; i < n; i++) ctx.lineTo(x(i), y(values[i]));
  ctx.stroke();
}

export class AnalyticsChart {
  constructor(root) {
    this.canvas = root.querySelector('[data-testid="analytics-chart"]');
    this.summary = root.querySelector("#chart-summary");
    this.buttons = {
      hour: root.querySelector('[data-testid="chart-toggle-hour"]'),
      day: root.querySelector('[data-testid="chart-toggle-day"]'),
    };
    this.mode = "hour";
    this.views = { hour: null, day: null };
    this.dirty = true;
    for (const [mode, btn] of Object.entries(this.buttons)) {
      btn.addEventListener("click", () => this.setMode(mode));
    }
    new ResizeObserver(() => {
      this.dirty = true;
      this.onDirty?.();
    }).observe(this.canvas);
  }

  setMode(mode) {
    if (mode !== "hour" && mode !== "day") return;
    this.mode = mode;
    this.dirty = true;
    this.onDirty?.();
  }

  setViews(hour, day) {
    if (hour) this.views.hour = merged(this.views.hour, hour);
    if (day) this.views.day = merged(this.views.day, day);
    this.dirty = true;
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    for (const [mode, btn] of Object.entries(this.buttons)) {
      btn.setAttribute("aria-pressed", String(mode === this.mode));
    }
    const view = this.views[this.mode];
    this.renderSummary(view);
    this.draw(view);
  }

  renderSummary(v) {
    const cells = v
      ? [
          ["Volume", fmt.countShort(v.total_volume)],
          ["Notional", fmt.moneyShort(v.total_notional)],
          ["Trades", fmt.integer(v.total_trades)],
          [
            `Peak ${this.mode === "hour" ? "minute" : "hour"}`,
            v.peak_start_ms === null ? "–" : `${fmt.countShort(v.peak_volume)} @ ${fmt.hourMinute(v.peak_start_ms)}`,
          ],
          [`Avg / ${this.mode === "hour" ? "min" : "hour"}`, fmt.countShort(v.avg_volume_per_bucket)],
          ["YES share", fmt.percentBp(v.yes_share_bp)],
          ["Markets", fmt.integer(v.active_markets)],
        ]
      : [];
    const frag = document.createDocumentFragment();
    for (const [label, value] of cells) {
      const div = document.createElement("div");
      div.className = "fig";
      const l = document.createElement("span");
      l.className = "fig-label";
      l.textContent = label;
      const b = document.createElement("b");
      b.textContent = value;
      div.append(l, b);
      frag.append(div);
    }
    this.summary.replaceChildren(frag);
  }

  draw(view) {
    const { ctx, w, h } = fitCanvas(this.canvas);
    ctx.clearRect(0, 0, w, h);
    const buckets = view ? view.buckets : [];
    this.canvas.dataset.buckets = String(buckets.length);
    this.canvas.dataset.mode = this.mode;
    if (buckets.length === 0) return;
    this.canvas.dataset.firstStart = String(buckets[0].start_ms);
    this.canvas.dataset.lastStart = String(buckets[buckets.length - 1].start_ms);
    this.canvas.dataset.lastVolume = String(buckets[buckets.length - 1].volume);
    const left = 48;
    const bottom = 18;
    const top = 6;
    const plotW = w - left - 4;
    const plotH = h - bottom - top;
    let peak = 0;
    for (const b of buckets) peak = Math.max(peak, b.volume);
    const scale = peak > 0 ? plotH / peak : 0;
    // grid and y labels
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = AXIS;
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    for (let i = 0; i <= 2; i++) {
      const yy = top + (plotH * i) / 2;
      ctx.beginPath();
      ctx.moveTo(left, yy + 0.5);
      ctx.lineTo(w - 4, yy + 0.5);
      ctx.stroke();
      ctx.fillText(fmt.countShort(Math.round((peak * (2 - i)) / 2)), 2, yy + 4);
    }
    const slot = plotW / buckets.length;
    const barW = Math.max(1, slot - Math.min(3, slot * 0.2));
    buckets.forEach((b, i) => {
      const x = left + i * slot;
      const yesH = b.yes_volume * scale;
      const noH = b.no_volume * scale;
      ctx.fillStyle = YES;
      ctx.fillRect(x, top + plotH - yesH, barW, yesH);
      ctx.fillStyle = NO;
      ctx.fillRect(x, top + plotH - yesH - noH, barW, noH);
    });
    // x labels: first, middle, current
    ctx.fillStyle = AXIS;
    const marks = [0, Math.floor(buckets.length / 2), buckets.length - 1];
    for (const i of marks) {
      const label = fmt.hourMinute(buckets[i].start_ms);
      const tw = ctx.measureText(label).width;
      const x = Math.min(w - tw - 2, Math.max(left, left + i * slot + barW / 2 - tw / 2));
      ctx.fillText(label, x, h - 4);
    }
  }
}

const PPM = 1_000_000;
/** Win-probability history columns: [ts_ms, kalshi_ppm, consensus_ppm, fair_ppm]. */
export const SERIES = [
  { key: "kalshi", col: 1, label: "Kalshi", color: "#5b8cff" },
  { key: "consensus", col: 2, label: "Books", color: "#ffb224" },
  { key: "fair", col: 3, label: "Model", color: "#2fbf71" },
];

/** Three lines of probability (ppm) over time on a 0-100% axis; a null value breaks its line. */
export function drawProbability(canvas, history, size) {
  const { ctx, w, h } = fitCanvas(canvas, size);
  ctx.clearRect(0, 0, w, h);
  const left = 30;
  const right = 4;
  const top = 4;
  const bottom = 14;
  const plotW = Math.max(1, w - left - right);
  const plotH = Math.max(1, h - top - bottom);
  ctx.font = "10px system-ui, sans-serif";
  ctx.lineWidth = 1;
  for (const ppm of [0, PPM / 2, PPM]) {
    const y = Math.round(top + plotH - (ppm * plotH) / PPM) + 0.5;
    ctx.strokeStyle = GRID;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(w - right, y);
    ctx.stroke();
    ctx.fillStyle = AXIS;
    ctx.fillText(fmt.percentPpm(ppm), 0, Math.min(h - bottom, Math.max(10, y + 3)));
  }
  if (history.length === 0) return;
  const t0 = history[0][0];
  const t1 = history[history.length - 1][0];
  const span = t1 - t0;
  const x = (ts) => left + (span > 0 ? ((ts - t0) * plotW) / span : plotW);
  const y = (ppm) => top + plotH - (ppm * plotH) / PPM;
  ctx.fillStyle = AXIS;
  const label = span < 120_000 ? fmt.clock : fmt.hourMinute; // a short span needs seconds
  const first = label(t0);
  const last = label(t1);
  ctx.fillText(first, left, h - 2);
  if (span > 0) ctx.fillText(last, w - right - ctx.measureText(last).width, h - 2);
  ctx.lineWidth = 1.5;
  ctx.lineJoin = "round";
  for (const s of [...SERIES].reverse()) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    let run = 0; // points in the current unbroken stretch
    const lone = []; // stretches of one point get a dot: a line of one point draws nothing
    let prev = null;
    for (const p of history) {
      const v = p[s.col];
      if (v === null || v === undefined) {
        if (run === 1) lone.push(prev);
        run = 0;
        continue;
      }
      if (run > 0) ctx.lineTo(x(p[0]), y(v));
      else ctx.moveTo(x(p[0]), y(v));
      run += 1;
      prev = p;
    }
    if (run === 1) lone.push(prev);
    ctx.stroke();
    ctx.fillStyle = s.color;
    for (const p of lone) ctx.fillRect(x(p[0]) - 1.5, y(p[s.col]) - 1.5, 3, 3);
  }
}

// A `partial` view carries only the buckets that changed: merge them by start_ms into the view
// held, keeping its length (the oldest buckets leave as new ones arrive).
function merged(held, view) {
  if (!view.partial || !held) return view;
  const byStart = new Map(held.buckets.map((b) => [b.start_ms, b]));
  for (const b of view.buckets) byStart.set(b.start_ms, b);
  const buckets = [...byStart.values()].sort((a, b) => a.start_ms - b.start_ms);
  return { ...view, buckets: buckets.slice(Math.max(0, buckets.length - held.buckets.length)) };
}
