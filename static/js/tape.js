// Trade tape: newest first, capped DOM rows, local + server-side filter, tiered highlights, sound.
import * as fmt from "./format.js";

const MAX_ROWS = 200;
const BUFFER = 1000; // recent trades kept to re-filter without waiting for new ones
const INPUT_DEBOUNCE_MS = 200;

export const EMPTY_FILTER = Object.freeze({ min_count: null, min_notional: null, side: null, search: null });

/** True when `t` passes `f` (the same rules the server applies). */
export function matches(f, t) {
  if (f.min_count !== null && t.count < f.min_count) return false;
  if (f.min_notional !== null && t.notional < f.min_notional) return false;
  if (f.side !== null && t.side !== f.side) return false;
  if (f.search !== null && !t.ticker.toUpperCase().startsWith(f.search.toUpperCase())) return false;
  return true;
}

function sameFilter(a, b) {
  return a.min_count === b.min_count && a.min_notional === b.min_notional && a.side === b.side && a.search === b.search;
}

export class Tape {
  constructor(root) {
    this.list = root.querySelector('[data-testid="tape"]');
    this.inputs = {
      size: root.querySelector('[data-testid="filter-min-size"]'),
      unit: root.querySelector('[data-testid="filter-min-unit"]'),
      side: root.querySelector('[data-testid="filter-side"]'),
      search: root.querySelector('[data-testid="filter-search"]'),
      sound: root.querySelector('[data-testid="tape-sound"]'),
    };
    this.note = root.querySelector("#tape-note");
    this.filter = EMPTY_FILTER;
    this.tiers = [];
    this.buffer = []; // newest first
    this.pending = []; // newest first, not yet in the DOM
    this.rebuild = true;
    this.dirty = true;
    this.onFilter = null; // (filter) => void, set by main
    this.audio = null;
    this.lastBeep = 0;
    let timer = 0;
    const changed = () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.readFilter(), INPUT_DEBOUNCE_MS);
    };
    this.inputs.size.addEventListener("input", changed);
    this.inputs.search.addEventListener("input", changed);
    this.inputs.unit.addEventListener("change", () => this.readFilter());
    this.inputs.side.addEventListener("change", () => this.readFilter());
    this.inputs.sound.addEventListener("change", () => {
      if (this.inputs.sound.checked && !this.audio) this.audio = new AudioContext();
    });
    // the filters apply as they are typed: Enter submits nothing (here, not in an inline
    // handler, which the Content-Security-Policy refuses)
    this.inputs.size.form?.addEventListener("submit", (ev) => ev.preventDefault());
  }

  readFilter() {
    const raw = this.inputs.size.value;
    const dollars = this.inputs.unit.value === "dollars";
    const min = dollars ? fmt.parseDollars(raw) : fmt.parseContracts(raw);
    this.inputs.size.setCustomValidity(raw.trim() !== "" && min === null ? "a non-negative number" : "");
    const search = this.inputs.search.value.trim();
    const side = this.inputs.side.value;
    const f = {
      min_count: !dollars && min ? min : null,
      min_notional: dollars && min ? min : null,
      side: side === "yes" || side === "no" ? side : null,
      search: search === "" ? null : search,
    };
    if (sameFilter(f, this.filter)) return;
    this.filter = Object.freeze(f);
    this.rebuild = true;
    this.dirty = true;
    this.onDirty?.();
    this.onFilter?.(this.filter);
  }

  setTiers(tiers) {
    this.tiers = Array.isArray(tiers) ? tiers : [];
  }

  tierOf(t) {
    if (Number.isInteger(t.tier)) return t.tier;
    let tier = 0;
    this.tiers.forEach((th, i) => {
      if (t.notional >= th) tier = i + 1;
    });
    return tier;
  }

  /** Replace everything with a snapshot's trades (newest first). */
  reset(newestFirst) {
    this.buffer = newestFirst.slice(0, BUFFER);
    this.pending = [];
    this.rebuild = true;
    this.dirty = true;
  }

  /** Add a batch of trades (oldest first). */
  add(oldestFirst) {
    for (const t of oldestFirst) {
      this.buffer.unshift(t);
      if (matches(this.filter, t)) this.pending.unshift(t);
    }
    if (this.buffer.length > BUFFER) this.buffer.length = BUFFER;
    if (this.pending.length > MAX_ROWS) this.pending.length = MAX_ROWS;
    this.dirty = true;
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    if (this.rebuild) {
      this.rebuild = false;
      this.pending = [];
      const rows = [];
      for (const t of this.buffer) {
        if (matches(this.filter, t)) rows.push(this.row(t));
        if (rows.length >= MAX_ROWS) break;
      }
      this.list.replaceChildren(...rows);
    } else if (this.pending.length) {
      const frag = document.createDocumentFragment();
      let loudest = 0;
      for (const t of this.pending) {
        const r = this.row(t);
        loudest = Math.max(loudest, Number(r.dataset.tier));
        frag.append(r);
      }
      this.pending = [];
      this.list.prepend(frag);
      let extra = this.list.childElementCount - MAX_ROWS;
      while (extra-- > 0) this.list.lastElementChild.remove();
      if (loudest > 0) this.beep(loudest);
    }
    const active = !sameFilter(this.filter, EMPTY_FILTER);
    this.note.textContent = active ? "filtered" : "";
  }

  row(t) {
    const tier = this.tierOf(t);
    const r = document.createElement("li");
    r.className = `tape-row side-${t.side}${tier ? ` tier-${tier}` : ""}`;
    r.dataset.testid = "tape-row";
    r.dataset.count = String(t.count);
    r.dataset.side = t.side;
    r.dataset.tier = String(tier);
    r.dataset.ticker = t.ticker;
    r.dataset.id = t.id;
    r.dataset.notional = String(t.notional);
    const cells = [
      ["t-time", fmt.clock(t.ts_ms)],
      ["t-side", t.side === "yes" ? "YES" : "NO"],
      ["t-title", t.title || t.ticker],
      ["t-size", fmt.count(t.count)],
      ["t-price", fmt.price(t.price)],
      ["t-notional", fmt.money(t.notional)],
    ];
    for (const [cls, text] of cells) {
      const s = document.createElement("span");
      s.className = cls;
      s.textContent = text;
      r.append(s);
    }
    r.children[2].title = t.ticker;
    return r;
  }

  beep(tier) {
    if (!this.inputs.sound.checked || !this.audio) return;
    const now = this.audio.currentTime;
    if (now - this.lastBeep < 0.15) return;
    this.lastBeep = now;
    const osc = this.audio.createOscillator();
    const gain = this.audio.createGain();
    osc.frequency.value = 440 * 2 ** ((tier - 1) * 0.5);
    gain.gain.setValueAtTime(0.08, now);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.18);
    osc.connect(gain).connect(this.audio.destination);
    osc.start(now);
    osc.stop(now + 0.2);
  }
}
