// The one place that turns integer units into text, and user text into integer units.
// Prices: centicents (1..9999 = $0.0001..$0.9999). Counts: hundredths of a contract.
// Money: micro-dollars. Only the final display step divides; parsing never goes through floats.

const INT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

function groupInt(n) {
  return INT.format(n);
}

/** Integer `value` in units of 10^-`scale`, shown with at most `maxFrac` decimals, trailing zeros trimmed. */
function fixed(value, scale, maxFrac) {
  const neg = value < 0;
  let v = Math.abs(Math.trunc(value));
  const unit = 10 ** scale;
  const drop = 10 ** (scale - maxFrac);
  v = Math.round(v / drop) * drop; // integer in, integer out
  const whole = Math.trunc(v / unit);
  let frac = String(v % unit).padStart(scale, "0").slice(0, maxFrac).replace(/0+$/, "");
  const text = groupInt(whole) + (frac ? "." + frac : "");
  return neg && v !== 0 ? "-" + text : text;
}

/** 5600 -> "56¢", 5650 -> "56.5¢", 5655 -> "56.55¢"; null -> "–". */
export function price(cc) {
  if (cc === null || cc === undefined) return "–";
  return fixed(cc, 2, 2) + "¢";
}

/** Hundredths of a contract: 1000 -> "10", 1250 -> "12.5". */
export function count(h) {
  if (h === null || h === undefined) return "–";
  return fixed(h, 2, 2);
}

/** Compact count for cards: 1234500 -> "12.3k". */
export function countShort(h) {
  if (h === null || h === undefined) return "–";
  return compact(h, 2, "");
}

/** Micro-dollars: 12345678 -> "$12.35", 1234000000 -> "$1,234". */
export function money(micros) {
  if (micros === null || micros === undefined) return "–";
  const abs = Math.abs(micros);
  const sign = micros < 0 ? "-" : "";
  if (abs >= 1_000_000_000) return sign + "$" + fixed(abs, 6, 0);
  return sign + "$" + fixedPadded(abs, 6, 2);
}

/** Micro-dollars, compact: 4600000 -> "$4.60", 1234000000 -> "$1.23k", 5600000000000 -> "$5.6M". */
export function moneyShort(micros) {
  if (micros === null || micros === undefined) return "–";
  const sign = micros < 0 ? "-" : "";
  return sign + "$" + compact(Math.abs(micros), 6, "", true);
}

function fixedPadded(value, scale, frac) {
  const unit = 10 ** scale;
  const drop = 10 ** (scale - frac);
  const v = Math.round(value / drop) * drop;
  return groupInt(Math.trunc(v / unit)) + "." + String(v % unit).padStart(scale, "0").slice(0, frac);
}

function compact(value, scale, suffix, cents = false) {
  const unit = 10 ** scale;
  const steps = [
    [1e9, "B"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [size, s] of steps) {
    const u = unit * size;
    if (value >= u) {
      // three significant digits from an integer ratio
      const digits = value >= u * 100 ? 0 : value >= u * 10 ? 1 : 2;
      return fixed(Math.round((value * 10 ** digits) / u), digits, digits) + s + suffix;
    }
  }
  if (cents) return (value >= unit * 100 ? fixed(value, scale, 0) : fixedPadded(value, scale, 2)) + suffix;
  return fixed(value, scale, value >= unit * 100 ? 0 : 2) + suffix;
}

/** Basis points: 5234 -> "52.3%". */
export function percentBp(bp) {
  if (bp === null || bp === undefined) return "–";
  return fixed(bp, 2, 1) + "%";
}

/** Integer epoch ms -> "HH:MM:SS" local time. */
export function clock(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function hourMinute(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** Milliseconds of lag -> "42 ms" / "1.2 s". */
export function lag(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${ms} ms`;
  return fixed(Math.round(ms / 100), 1, 1) + " s";
}

/** Trades per second as sent by the server (a display number, not money). */
export function rate(perSecond) {
  if (perSecond === null || perSecond === undefined) return "–";
  return perSecond >= 100 ? groupInt(Math.round(perSecond)) : (Math.round(perSecond * 10) / 10).toFixed(1);
}

/**
 * Exact decimal text -> integer in units of 10^-scale, or null when the text is empty or not a
 * non-negative decimal with at most `scale` places. "12.5" at scale 2 -> 1250.
 */
export function parseDecimal(text, scale) {
  const t = String(text ?? "").trim().replace(/[$,_\s]/g, "");
  if (t === "") return null;
  const m = /^(\d*)(?:\.(\d*))?$/.exec(t);
  if (!m || (m[1] === "" && !m[2])) return null;
  const frac = m[2] ?? "";
  if (frac.length > scale) return null;
  const whole = m[1] === "" ? 0 : Number.parseInt(m[1], 10);
  const part = frac === "" ? 0 : Number.parseInt(frac.padEnd(scale, "0"), 10);
  const value = whole * 10 ** scale + part;
  return Number.isSafeInteger(value) ? value : null;
}

/** "10" contracts -> 1000 hundredths. */
export const parseContracts = (text) => parseDecimal(text, 2);
/** "$2.50" -> 2500000 micro-dollars. */
export const parseDollars = (text) => parseDecimal(text, 6);

/** A plain integer with thousands separators (trade counts, market counts). */
export function integer(n) {
  if (n === null || n === undefined) return "–";
  return groupInt(n);
}

/** Probability in parts per million: 623456 -> "62.3%"; null -> "–". */
export function percentPpm(ppm) {
  if (ppm === null || ppm === undefined) return "–";
  return fixed(ppm, 4, 1) + "%";
}

/** Points in tenths: 55 -> "5.5", -30 -> "-3"; `signed` adds "+" to positive values. */
export function points(tenths, signed = false) {
  if (tenths === null || tenths === undefined) return "–";
  const text = fixed(tenths, 1, 1);
  return signed && tenths > 0 ? "+" + text : text;
}

/** American odds: 150 -> "+150", -180 -> "-180". */
export function american(odds) {
  if (odds === null || odds === undefined) return "–";
  return odds > 0 ? "+" + groupInt(odds) : groupInt(odds);
}
